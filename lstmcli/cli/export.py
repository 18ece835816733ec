"""``lstmcli export``: the trained network as a TensorFlow SavedModel or ONNX (the optional ``export`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lstmcli.cli.app import command
from lstmcli.cli.options import RunDirOpt

FormatOpt = Annotated[
    str, typer.Option("--format", "-f", help="savedmodel (TensorFlow Serving) or onnx.", show_default=False)
]
OutOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--out", "-o", help="Directory to write [default: export/FORMAT in the run directory].", show_default=False
    ),
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace what --out already holds.")]


@command
def export(
    export_format: FormatOpt, run_dir: RunDirOpt = None, out: OutOpt = None, overwrite: OverwriteOpt = False
) -> None:
    """Export the trained network (token ids in, probabilities out) as a TensorFlow SavedModel or ONNX.

    The vocabulary, labels, preprocessing settings and a README on feeding it are written beside it,
    and the export's probabilities are checked against lstmcli's on the validation texts.

    Example: lstmcli export --format onnx --out ticket-model
    """
    from lstmcli.export import export_run
    from lstmcli.rundir import RunDir
    from lstmcli.ui.display import show_export
    from lstmcli.workflow import run_dir_of

    show_export(export_run(RunDir(run_dir_of(run_dir)), export_format, out, overwrite))
