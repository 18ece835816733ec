"""``lstmcli info``: what one run directory holds."""

from __future__ import annotations

import json

import typer

from lstmcli.cli.app import command
from lstmcli.cli.options import Options, with_options


@command
@with_options("run_dir as_json")
def info(*, opts: Options) -> None:
    """Summarize a run directory: data, config, best epoch, metrics, and its files with their sizes.

    Reads only the run's small JSON files, so it answers at once.

    Example: lstmcli info --json
    """
    from lstmcli.info import run_info
    from lstmcli.ui.display import show_info

    summary = run_info(opts.run())
    if opts.as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        show_info(summary)
