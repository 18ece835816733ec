"""``explain``'s output: coloured tokens for a person, or one JSON object per text for a pipe."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TextIO

from rich.console import Console
from rich.style import Style
from rich.text import Text

from lstmcli.explain import Explanation
from lstmcli.ui.console import quiet_on_closed_pipe


def render_explanation(explanation: Explanation, top: int = 3) -> Text:
    """The text's tokens on red (against the label) or green (for it) backgrounds, strongest darkest.

    A last line names the ``top`` most decisive tokens with their scores, for pipes without colour.
    """
    if explanation.label is None:
        return Text("(empty text)", style="dim")
    out = Text()
    out.append(explanation.label, style="bold")
    out.append(f" {explanation.probability:.1%}\n")
    known = [abs(s) for s in explanation.scores if s is not None]
    # Scaled to the strongest token, but never below 0.1: a text whose tokens barely matter stays pale.
    scale = max(max(known, default=0.0), 0.1)
    for i, (token, score) in enumerate(zip(explanation.tokens, explanation.scores, strict=True)):
        if i:
            out.append(" ")
        out.append(token, style=_style(score, scale))
    scored = [(s, t) for t, s in zip(explanation.tokens, explanation.scores, strict=True) if s is not None]
    ranked = sorted(scored, key=lambda item: -abs(item[0]))[:top]
    out.append("\n  most decisive: " + ", ".join(f"{token} {score:+.3f}" for score, token in ranked), style="dim")
    return out


def _style(score: float | None, scale: float) -> Style:
    if score is None:
        return Style(dim=True, strike=True)
    strength = min(abs(score) / scale, 1.0)
    if strength < 0.05:
        return Style()
    level = int(60 + 140 * strength)  # 60 (faint) .. 200 (strong)
    colour = f"rgb(0,{level},0)" if score > 0 else f"rgb({level},0,0)"
    return Style(bgcolor=colour, color="white", bold=strength > 0.5)


def write_explanations(explanations: Iterable[Explanation], as_json: bool, out: TextIO | None = None) -> int:
    """Writes each explanation as it comes: a JSON line, or coloured tokens for a person.

    Rich drops the colours when ``out`` is not a terminal. A reader that stops early ends the output quietly.

    Returns:
        How many explanations were written.
    """
    out = out or sys.stdout
    console = None if as_json else Console(file=out, highlight=False, soft_wrap=False)
    written = 0
    with quiet_on_closed_pipe(out):
        for explanation in explanations:
            if console is None:
                out.write(json.dumps(explanation.to_dict(), ensure_ascii=False) + "\n")
            else:
                console.print(render_explanation(explanation))
            written += 1
        out.flush()
    return written
