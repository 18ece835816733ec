"""``lstmcli explain``: which tokens decided each text's label."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Optional

import typer

from lstmcli.cli.app import command, stdin_or_fail
from lstmcli.cli.options import Options, with_options

TextsArg = Annotated[
    Optional[list[str]],
    typer.Argument(help="Texts to explain [default: one text per line from stdin].", show_default=False),
]


@command
@with_options("run_dir json_lines encoding method explain_label")
def explain(texts: TextsArg = None, *, opts: Options) -> None:
    """Show which tokens decided each text's label: green for the label, red against it (multi-label: each label).

    A token's score is its share of the label's probability: see --method.

    Example: lstmcli explain "I was charged twice for my subscription"
    """
    from lstmcli.explain import explain_texts
    from lstmcli.io.inputs import InputCounter, read_inputs
    from lstmcli.predictor import Predictor
    from lstmcli.ui.explain import write_explanations
    from lstmcli.ui.progress import track

    lines: Iterable[str] = texts or []
    if not texts:
        stdin = read_inputs([stdin_or_fail("lstmcli explain")], False, opts.encoding or "auto", InputCounter())
        lines = (line for _, line in stdin)
    explained = explain_texts(Predictor(opts.run()), lines, opts.method, opts.explain_label)
    write_explanations(track(explained, "Explaining", len(texts) if texts else None), opts.json_lines)
