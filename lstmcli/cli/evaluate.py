"""``lstmcli evaluate``: loss, accuracy, macro-F1, per-class scores and the confusion matrix of a trained run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from lstmcli.cli.app import command
from lstmcli.cli.options import InputEncodingOpt, JsonOpt, RunDirOpt

DataOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--data", "-d", help="Labelled CSV to score [default: the run's validation part].", show_default=False
    ),
]
PlotsOpt = Annotated[
    bool,
    typer.Option("--plots", help="Also write confusion_matrix.png and training_curves.png into the run directory."),
]


@command
def evaluate(
    run_dir: RunDirOpt = None,
    data: DataOpt = None,
    encoding: InputEncodingOpt = None,
    as_json: JsonOpt = False,
    plots: PlotsOpt = False,
) -> None:
    """Report loss, accuracy, macro-F1, per-class scores and the confusion matrix.

    Scores the run's validation part, or another CSV preprocessed with the run's saved settings.

    Example: lstmcli evaluate --data test.csv --json
    """
    from lstmcli import workflow
    from lstmcli.ui.display import show_metrics, show_plots

    metrics = workflow.evaluate(run_dir, data, encoding or "auto")
    if as_json:
        typer.echo(json.dumps(metrics, ensure_ascii=False))
    else:
        show_metrics(metrics)
    if plots:
        show_plots(workflow.run_dir_of(run_dir), metrics)
