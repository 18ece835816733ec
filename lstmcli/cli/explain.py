"""``lstmcli explain``: which tokens decided each text's label."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Optional

import typer

from lstmcli.cli.app import command, stdin_or_fail
from lstmcli.cli.options import InputEncodingOpt, RunDirOpt

TextsArg = Annotated[
    Optional[list[str]],
    typer.Argument(help="Texts to explain [default: one text per line from stdin].", show_default=False),
]
JsonLinesOpt = Annotated[
    bool, typer.Option("--json", help="One JSON object per text on stdout: label, probability, tokens with scores.")
]


MethodOpt = Annotated[
    str,
    typer.Option(
        "--method",
        help="shapley: each token's average share of the label's probability over random orders of putting the "
        "tokens back (tokens that say the same share the credit); occlusion: the drop when it alone is left out.",
    ),
]


@command
def explain(
    texts: TextsArg = None,
    run_dir: RunDirOpt = None,
    as_json: JsonLinesOpt = False,
    encoding: InputEncodingOpt = None,
    method: MethodOpt = "shapley",
) -> None:
    """Show which tokens decided each text's label: green for the label, red against it.

    A token's score is its share of the label's probability: see --method.

    Example: lstmcli explain "I was charged twice for my subscription"
    """
    from lstmcli.explain import explain_texts
    from lstmcli.io.inputs import InputCounter, read_inputs
    from lstmcli.predictor import Predictor
    from lstmcli.rundir import RunDir
    from lstmcli.ui.explain import write_explanations
    from lstmcli.ui.progress import track
    from lstmcli.workflow import run_dir_of

    lines: Iterable[str] = texts or []
    if not texts:
        stdin = read_inputs([stdin_or_fail("lstmcli explain")], False, encoding or "auto", InputCounter())
        lines = (line for _, line in stdin)
    predictor = Predictor(RunDir(run_dir_of(run_dir)))
    explained = explain_texts(predictor, lines, method)
    write_explanations(track(explained, "Explaining", len(texts) if texts else None), as_json)
