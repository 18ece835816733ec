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


@command
def explain(
    texts: TextsArg = None, run_dir: RunDirOpt = None, as_json: JsonLinesOpt = False, encoding: InputEncodingOpt = None
) -> None:
    """Show which tokens decided each text's label: green for the label, red against it.

    A token's score is how much the label's probability drops when the token is left out.

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
    write_explanations(track(explain_texts(predictor, lines), "Explaining", len(texts) if texts else None), as_json)
