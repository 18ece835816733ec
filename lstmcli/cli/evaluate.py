"""``lstmcli evaluate``: loss, accuracy, macro-F1, per-class scores and the confusion matrix of a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lstmcli.cli.app import command
from lstmcli.cli.options import (
    HeaderOpt,
    InputEncodingOpt,
    InputFormatOpt,
    JsonOpt,
    LabelColumnOpt,
    RunDirOpt,
    TextColumnOpt,
)

DataOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--data",
        "-d",
        help="Labelled CSV, TSV or JSON Lines file to score [default: the run's validation part].",
        show_default=False,
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
    text_column: TextColumnOpt = "",
    label_column: LabelColumnOpt = "",
    input_format: InputFormatOpt = "auto",
    header: HeaderOpt = None,
) -> None:
    """Report loss, accuracy, macro-F1, per-class scores and the confusion matrix.

    Scores the run's validation part, or another table preprocessed with the run's saved settings.

    Example: lstmcli evaluate --data test.csv --json
    """
    from lstmcli import workflow
    from lstmcli.ui.console import print_json
    from lstmcli.ui.display import show_metrics, show_plots

    table = {"text_column": text_column, "label_column": label_column, "input_format": input_format, "header": header}
    metrics = workflow.evaluate(run_dir, data, encoding or "auto", **table)
    if as_json:
        print_json(metrics)
    else:
        show_metrics(metrics)
    if plots:
        show_plots(workflow.run_dir_of(run_dir), metrics)
