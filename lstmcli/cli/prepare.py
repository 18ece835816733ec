"""``lstmcli prepare``: clean, tokenize and split a labelled CSV into the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lstmcli.cli.app import command
from lstmcli.cli.options import Options, with_options, with_settings

DataArg = Annotated[Path, typer.Argument(help="Labelled table (see --input-format).", show_default=False)]


@command
@with_settings("prepare")
@with_options("run_dir preset overwrite streaming input_format report_json")
def prepare(data: DataArg, *, opts: Options, settings: dict[str, Any]) -> None:
    """Clean, tokenize and pad a labelled CSV into the run directory.

    Builds the vocabulary and the stratified train/validation split that train uses.

    Example: lstmcli prepare examples/tickets.csv --max-len 60
    """
    from lstmcli import workflow
    from lstmcli.ui.console import print_json
    from lstmcli.ui.display import show_prepare
    from lstmcli.ui.progress import rows_progress

    with rows_progress() as rows:
        _, report = workflow.prepare(
            data, opts.run_dir, progress=rows, **opts.picked("preset overwrite streaming input_format"), **settings
        )
    show_prepare(report)
    if opts.report_json:
        print_json(report.to_dict())
