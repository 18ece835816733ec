"""``lstmcli prepare``: clean, tokenize and split a labelled CSV into the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lstmcli.cli.app import command
from lstmcli.cli.options import OverwriteOpt, PresetOpt, ReportJsonOpt, RunDirOpt, StreamingOpt, with_settings


@command
@with_settings("prepare")
def prepare(
    data: Annotated[Path, typer.Argument(help="Labelled CSV or TSV file.", show_default=False)],
    run_dir: RunDirOpt = None,
    preset: PresetOpt = None,
    overwrite: OverwriteOpt = False,
    streaming: StreamingOpt = None,
    as_json: ReportJsonOpt = False,
    *,
    settings: dict[str, Any],
) -> None:
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
            data, run_dir, preset=preset, overwrite=overwrite, streaming=streaming, progress=rows, **settings
        )
    show_prepare(report)
    if as_json:
        print_json(report.to_dict())
