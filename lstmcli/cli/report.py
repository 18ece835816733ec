"""``lstmcli report``: one self-contained HTML page about a trained run."""

from __future__ import annotations

import typer

from lstmcli.cli.app import command
from lstmcli.cli.options import Options, with_options
from lstmcli.errors import ConfigError


@command
@with_options("run_dir report_out wrong")
def report(*, opts: Options) -> None:
    """Write one self-contained HTML page about a trained run: data, config, curves, metrics and errors.

    Figures are embedded in the page, which loads nothing: it opens offline and can be mailed as one file.

    Example: lstmcli report --out report.html
    """
    from lstmcli.info import run_report
    from lstmcli.ui.report import check_out, write_report

    if opts.wrong < 0:
        raise ConfigError(f"--wrong must be 0 or more; received {opts.wrong}")
    run = opts.run()
    out = opts.report_out or run.report_path()
    check_out(out)
    typer.echo(f"Wrote {write_report(run_report(run, opts.wrong), out)}", err=True)
