"""``lstmcli export``: the trained network as a TensorFlow SavedModel or ONNX (the optional ``export`` extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from lstmcli.cli.app import command
from lstmcli.cli.options import Options, with_options

FormatOpt = Annotated[
    str, typer.Option("--format", "-f", help="savedmodel (TensorFlow Serving) or onnx.", show_default=False)
]


@command
@with_options("run_dir export_out replace_out")
def export(export_format: FormatOpt, *, opts: Options) -> None:
    """Export the trained network (token ids in, probabilities out) as a TensorFlow SavedModel or ONNX.

    The vocabulary, labels, preprocessing settings and a README on feeding it are written beside it,
    and the export's probabilities are checked against lstmcli's on the validation texts.

    Example: lstmcli export --format onnx --out ticket-model
    """
    from lstmcli.export import export_run
    from lstmcli.ui.display import show_export

    show_export(export_run(opts.run(), export_format, opts.export_out, opts.replace_out))
