"""``lstmcli report``: one self-contained HTML page about a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lstmcli.cli.app import command
from lstmcli.cli.options import RunDirOpt
from lstmcli.errors import ConfigError

OutOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--out", "-o", help="HTML file to write [default: report.html in the run directory].", show_default=False
    ),
]
WrongOpt = Annotated[int, typer.Option("--wrong", help="Most confidently wrong validation texts to list.")]


@command
def report(run_dir: RunDirOpt = None, out: OutOpt = None, wrong: WrongOpt = 10) -> None:
    """Write one self-contained HTML page about a trained run: data, config, curves, metrics and errors.

    Figures are embedded in the page, which loads nothing: it opens offline and can be mailed as one file.

    Example: lstmcli report --out report.html
    """
    from lstmcli.rundir import RunDir
    from lstmcli.ui.report import write_report
    from lstmcli.workflow import run_dir_of

    if wrong < 0:
        raise ConfigError(f"--wrong must be 0 or more; received {wrong}")
    path = write_report(RunDir(run_dir_of(run_dir)), out, wrong)
    typer.echo(f"Wrote {path}", err=True)
