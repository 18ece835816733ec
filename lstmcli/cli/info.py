"""``lstmcli info``: what one run directory holds."""

from __future__ import annotations

import json

import typer

from lstmcli.cli.app import command
from lstmcli.cli.options import JsonOpt, RunDirOpt


@command
def info(run_dir: RunDirOpt = None, as_json: JsonOpt = False) -> None:
    """Summarize a run directory: data, config, best epoch, metrics, and its files with their sizes.

    Reads only the run's small JSON files, so it answers at once.

    Example: lstmcli info --json
    """
    from lstmcli.info import run_info
    from lstmcli.rundir import RunDir
    from lstmcli.ui.display import show_info
    from lstmcli.workflow import run_dir_of

    summary = run_info(RunDir(run_dir_of(run_dir)))
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        show_info(summary)
