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
    from lstmcli.ui.report import write_report

    if opts.wrong < 0:
        raise ConfigError(f"--wrong must be 0 or more; received {opts.wrong}")
    path = write_report(opts.run(), opts.report_out, opts.wrong)
    typer.echo(f"Wrote {path}", err=True)
