"""``lstmcli train``: fit the classifier on a CSV (prepared first) or on the run directory's prepared data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from lstmcli.cli.app import command, interrupted_status, quiet_tensorflow
from lstmcli.cli.options import Options, with_options, with_settings

DataArg = Annotated[
    Optional[Path],
    typer.Argument(
        help="Labelled table (see --input-format): prepared first. Without it, train the prepared run.",
        show_default=False,
    ),
]


@command
@with_settings("prepare", "train")
@with_options("run_dir preset resume overwrite verbose strategy streaming input_format report_json")
def train(data: DataArg = None, *, opts: Options, settings: dict[str, Any]) -> None:
    """Build and fit the LSTM classifier, saving the best model to the run directory.

    With a CSV it runs prepare first (same options); Ctrl-C or SIGTERM stops after saving the best model so far.

    Example: lstmcli train examples/tickets.csv --epochs 10
    """
    from lstmcli import workflow
    from lstmcli.nn.distribute import writes_run_dir
    from lstmcli.ui.console import print_json
    from lstmcli.ui.display import RichProgress, TerminalHooks, show_train, train_summary

    quiet_tensorflow(opts.verbose)
    progress, hooks = RichProgress(), TerminalHooks()
    run = opts.picked("preset resume overwrite streaming strategy input_format")
    try:
        result = workflow.train(data, opts.run_dir, progress=progress, hooks=hooks, **run, **settings)
    finally:
        progress.stop()
    path = str(workflow.run_dir_of(opts.run_dir))
    show_train(result, path, chief=writes_run_dir(opts.strategy))
    if opts.report_json:
        print_json(train_summary(result, path, hooks.report))
    if result.interrupted:
        raise typer.Exit(interrupted_status())  # 130 or 143, as an interrupted command
