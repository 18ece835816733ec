"""``lstmcli train``: fit the classifier on a CSV (prepared first) or on the run directory's prepared data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from lstmcli.cli.app import command, interrupted_status, quiet_tensorflow
from lstmcli.cli.options import (
    OverwriteOpt,
    PresetOpt,
    ReportJsonOpt,
    RunDirOpt,
    StrategyOpt,
    StreamingOpt,
    VerboseOpt,
    with_settings,
)

DataArg = Annotated[
    Optional[Path],
    typer.Argument(help="Labelled CSV: prepare it first. Without it, train on the prepared run.", show_default=False),
]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue an interrupted training from its last epoch.")]


@command
@with_settings("prepare", "train")
def train(
    data: DataArg = None,
    run_dir: RunDirOpt = None,
    preset: PresetOpt = None,
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
    verbose: VerboseOpt = False,
    strategy: StrategyOpt = "auto",
    streaming: StreamingOpt = None,
    as_json: ReportJsonOpt = False,
    *,
    settings: dict[str, Any],
) -> None:
    """Build and fit the LSTM classifier, saving the best model to the run directory.

    With a CSV it runs prepare first (same options); Ctrl-C or SIGTERM stops after saving the best model so far.

    Example: lstmcli train examples/tickets.csv --epochs 10
    """
    from lstmcli import workflow
    from lstmcli.nn.distribute import writes_run_dir
    from lstmcli.ui.console import print_json
    from lstmcli.ui.display import RichProgress, TerminalHooks, show_train, train_summary

    quiet_tensorflow(verbose)
    progress, hooks = RichProgress(), TerminalHooks()
    try:
        result = workflow.train(
            data,
            run_dir,
            preset=preset,
            resume=resume,
            overwrite=overwrite,
            streaming=streaming,
            strategy=strategy,
            progress=progress,
            hooks=hooks,
            **settings,
        )
    finally:
        progress.stop()
    path = str(workflow.run_dir_of(run_dir))
    show_train(result, path, chief=writes_run_dir(strategy))
    if as_json:
        print_json(train_summary(result, path, hooks.report))
    if result.interrupted:
        raise typer.Exit(interrupted_status())  # 130 or 143, as an interrupted command
