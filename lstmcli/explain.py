"""``explain``: which tokens made the model choose its label, by occlusion, in NumPy.

Each token is taken out in turn and the text labelled again: its score is how much the predicted
class's probability drops without it (negative: the token spoke against that class).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, TextIO

import numpy as np
from rich.console import Console
from rich.style import Style
from rich.text import Text

from lstmcli.nn.inference import predict_proba
from lstmcli.predictor import SUB_BATCH, Predictor
from lstmcli.text.tokens import tokenize
from lstmcli.text.vocab import OOV_ID, PAD_ID, pad

CHUNK = 64  # texts whose occluded copies run through the network together


@dataclass(frozen=True)
class Explanation:
    """One text's label and its tokens' scores.

    ``scores[i]`` belongs to ``tokens[i]`` (the tokens the model reads, after cleaning); it is None for a
    token cut off by the run's ``max_len``, which the model never saw. ``label`` is None for a blank text.
    """

    text: str
    label: str | None
    probability: float | None
    tokens: list[str]
    scores: list[float | None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "label": self.label,
            "probability": self.probability,
            "tokens": [
                {"token": tok, "score": None if s is None else round(s, 6)}
                for tok, s in zip(self.tokens, self.scores, strict=True)
            ],
        }


def explain_texts(predictor: Predictor, texts: Iterable[str]) -> Iterator[Explanation]:
    """Explains each text's prediction, in input order, ``CHUNK`` texts at a time."""
    iterator = iter(texts)
    while chunk := list(islice(iterator, CHUNK)):
        yield from _explain_chunk(predictor, chunk)


def _explain_chunk(predictor: Predictor, texts: list[str]) -> list[Explanation]:
    config = predictor.config
    token_lists = [tokenize(text, config) for text in texts]
    kept_lists = [_kept(len(tokens), config.max_len, config.truncating) for tokens in token_lists]
    rows: list[list[int]] = []
    for tokens, kept in zip(token_lists, kept_lists, strict=True):
        rows.extend(occluded_rows(predictor.vocab.ids([tokens[i] for i in kept]), config.mask))
    probs = occluded_proba(predictor, pad(rows, config.max_len, config.padding, config.truncating))
    out, start = [], 0
    for text, tokens, kept in zip(texts, token_lists, kept_lists, strict=True):
        block = probs[start : start + len(kept) + 1]
        start += len(kept) + 1
        out.append(_explanation(text, tokens, kept, block, predictor.labels))
    return out


def occluded_rows(ids: list[int], mask: bool) -> list[list[int]]:
    """The text's ids, then one copy per token with that token occluded.

    With masking, the token becomes the padding id, which the network skips wherever it stands (and no
    bigram spans it): the text without that token. Without masking, the model reads padding as a signal
    (it only ever saw it at one end), so the token becomes the OOV id. A copy left with no token at all gets
    the OOV id, as prediction does for an empty text.
    """
    rows = [ids or [OOV_ID]]
    for i in range(len(ids)):
        occluded = ids[:i] + [PAD_ID if mask else OOV_ID] + ids[i + 1 :]
        rows.append(occluded if any(occluded) else [OOV_ID])
    return rows


def occluded_proba(predictor: Predictor, ids: np.ndarray) -> np.ndarray:
    """Probabilities ``(n, n_classes)`` for padded ids ``(n, max_len)`` that may hold padding between tokens.

    Like :meth:`Predictor.proba_ids`, rows run in groups of similar extent, each cut to its widest row; the
    extent runs from the first to the last token, since a row's token count no longer tells where it starts.
    """
    config = predictor.config
    if not config.mask:
        return predictor.proba_ids(ids)
    filled = ids != PAD_ID
    if config.padding == "pre":
        extents = np.where(filled.any(axis=1), ids.shape[1] - filled.argmax(axis=1), 0)
    else:
        extents = np.where(filled.any(axis=1), ids.shape[1] - filled[:, ::-1].argmax(axis=1), 0)
    order = np.argsort(extents, kind="stable")
    out = np.zeros((len(ids), len(predictor.labels)), dtype=np.float32)
    for start in range(0, len(ids), SUB_BATCH):
        rows = order[start : start + SUB_BATCH]
        widest = max(int(extents[rows].max()), 1)
        batch = ids[rows, -widest:] if config.padding == "pre" else ids[rows, :widest]
        out[rows] = predict_proba(predictor.weights, config, batch)
    return out


def _kept(n_tokens: int, max_len: int, truncating: str) -> list[int]:
    """Indices of the tokens that survive truncation to ``max_len``."""
    indices = list(range(n_tokens))
    return indices[-max_len:] if truncating == "pre" else indices[:max_len]


def _explanation(text: str, tokens: list[str], kept: list[int], probs: np.ndarray, labels: list[str]) -> Explanation:
    """Scores from ``probs`` ``(1 + len(kept), n_classes)``: the full text's row, then one row per occlusion."""
    if not text.strip():  # like predict: a blank line keeps its place with an empty result
        return Explanation(text, None, None, [], [])
    predicted = int(probs[0].argmax())
    base = float(probs[0, predicted])
    scores: list[float | None] = [None] * len(tokens)
    for row, index in enumerate(kept, start=1):
        scores[index] = base - float(probs[row, predicted])
    return Explanation(text, labels[predicted], base, tokens, scores)


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
    try:
        for explanation in explanations:
            if console is None:
                out.write(json.dumps(explanation.to_dict(), ensure_ascii=False) + "\n")
            else:
                console.print(render_explanation(explanation))
            written += 1
        out.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return written
