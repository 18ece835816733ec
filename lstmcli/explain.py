"""``explain``: which tokens made the model choose its label, by occlusion, in NumPy.

Each token is taken out in turn and the text labelled again: its score is how much the predicted
class's probability drops without it (negative: the token spoke against that class).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

from lstmcli.nn.inference import predict_proba
from lstmcli.predictor import SUB_BATCH, Predictor
from lstmcli.text.batching import cut, extents, length_batches
from lstmcli.text.vocab import OOV_ID, PAD_ID

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
    encoder = predictor.encoder
    token_lists = [encoder.tokens(text) for text in texts]
    kept_lists = [list(encoder.truncate(range(len(tokens)))) for tokens in token_lists]
    rows: list[list[int]] = []
    for tokens, kept in zip(token_lists, kept_lists, strict=True):
        rows.extend(occluded_rows(predictor.vocab.ids([tokens[i] for i in kept]), predictor.config.mask))
    probs = occluded_proba(predictor, encoder.pad(rows))
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
    out = np.zeros((len(ids), len(predictor.labels)), dtype=np.float32)
    for rows, width in length_batches(extents(ids, config.padding), SUB_BATCH):
        out[rows] = predict_proba(predictor.weights, config, cut(ids[rows], width, config.padding))
    return out


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
