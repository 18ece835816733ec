"""``explain``: which tokens made the model choose its label, on the published model.

Two methods, both taking tokens out of the text and labelling it again (negative scores: the token spoke
against the predicted class):

- ``shapley`` (the default): a token's score is its average contribution to the predicted class's
  probability over random orders in which the text's tokens are put back, one at a time (a sampled
  Shapley value). The scores add up to the probability with every token minus that with none. Tokens
  that say the same thing share the credit, where leaving one out alone would show almost nothing: in
  "a gorgeous, witty, seductive movie" each of the three adjectives is enough without the others.
- ``occlusion``: how much the probability drops when the token alone is left out (one pass per token).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

from lstmcli.errors import ConfigError
from lstmcli.predictor import Predictor
from lstmcli.text.vocab import OOV_ID, PAD_ID

CHUNK = 64  # texts whose occluded copies run through the network together
METHODS = ("shapley", "occlusion")
ROWS = 512  # rows per text for its Shapley values: as many orders as fit, 8 at least and 32 at most


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


def explain_texts(
    predictor: Predictor, texts: Iterable[str], method: str = "shapley", label: str | None = None
) -> Iterator[Explanation]:
    """Explains each text's prediction, in input order, ``CHUNK`` texts at a time.

    Args:
        label: the label to explain; None: the predicted one (a multi-label run: each predicted label, one
            explanation each, or the most probable where none is predicted).

    Raises:
        ConfigError: ``method`` is not one of :data:`METHODS`, or ``label`` is not one of the run's.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method '{method}'; methods are: {', '.join(METHODS)}")
    if label is not None and label not in predictor.labels:
        raise ConfigError(
            f"--label '{label}' is not a label of this run; its labels are: {', '.join(predictor.labels)}"
        )
    iterator = iter(texts)
    while chunk := list(islice(iterator, CHUNK)):
        yield from _explain_chunk(predictor, chunk, method, label)


def _targets(predictor: Predictor, probabilities: np.ndarray, label: str | None) -> list[int]:
    """The outputs to explain for one text's probabilities ``(labels,)``."""
    if label is not None:
        return [predictor.labels.index(label)]
    if predictor.decider.multi_label:
        chosen = [predictor.labels.index(name) for name, _ in predictor.decider.ranked(probabilities)]
        return chosen or [int(probabilities.argmax())]
    return [int(probabilities.argmax())]


def _explain_chunk(predictor: Predictor, texts: list[str], method: str, label: str | None) -> list[Explanation]:
    encoder = predictor.encoder
    token_lists = [encoder.tokens(text) for text in texts]
    kept_lists = [list(encoder.truncate(range(len(tokens)))) for tokens in token_lists]
    plans = [
        _Plan.of(predictor.vocab.ids([tokens[i] for i in kept]), predictor.config.mask, method)
        for tokens, kept in zip(token_lists, kept_lists, strict=True)
    ]
    # Every row of the chunk in one call: length groups on the predictor's threads and engine. A masked row may
    # hold padding between its tokens; Predictor.proba_ids cuts its group to the widest extent.
    probs = predictor.proba_ids(encoder.pad([row for plan in plans for row in plan.rows]))
    out, start = [], 0
    for text, tokens, kept, plan in zip(texts, token_lists, kept_lists, plans, strict=True):
        block = probs[start : start + len(plan.rows)]
        start += len(plan.rows)
        for target in _targets(predictor, block[0], label) if text.strip() else [0]:
            out.append(_explanation(text, tokens, kept, block, plan, (predictor.labels, target)))
    return out


@dataclass(frozen=True)
class _Plan:
    """The rows one text needs (its own ids first) and how their probabilities become token scores."""

    rows: list[list[int]]
    orders: np.ndarray | None  # shapley: ``(n_orders, n_tokens)``, the orders its prefix rows follow

    @classmethod
    def of(cls, ids: list[int], mask: bool, method: str) -> _Plan:
        if method == "occlusion":
            return cls(occluded_rows(ids, mask), None)
        orders = sampled_orders(ids)
        return cls([ids or [OOV_ID], *(row for order in orders for row in prefix_rows(ids, order, mask))], orders)

    def scores(self, p: np.ndarray) -> np.ndarray:
        """Per-token scores from ``p`` ``(len(rows),)``, the predicted class's probability of each row."""
        if self.orders is None:
            return p[0] - p[1:]
        n = self.orders.shape[1]
        total = np.zeros(n)
        for m, order in enumerate(self.orders):
            path = np.append(p[1 + m * n : 1 + (m + 1) * n], p[0])  # with 0, 1, ..., n of the order's tokens
            total[order] += np.diff(path)
        return total / len(self.orders)


def sampled_orders(ids: list[int]) -> np.ndarray:
    """Orders of the tokens ``(orders, len(ids))``, as many as :data:`ROWS` allows (8 to 32, an even number): half
    random, half those reversed (which cancels much of the sampling error); seeded by the ids, so that a text
    always gets the same scores."""
    pairs = max(4, min(16, ROWS // (2 * max(len(ids), 1))))
    rng = np.random.default_rng(zlib.crc32(np.asarray(ids, dtype=np.int64).tobytes()))
    half = [rng.permutation(len(ids)) for _ in range(pairs)]
    return np.array([*half, *(order[::-1] for order in half)], dtype=np.int64).reshape(2 * pairs, len(ids))


def prefix_rows(ids: list[int], order: np.ndarray, mask: bool) -> list[list[int]]:
    """The text with its first 0, 1, ..., n-1 tokens of ``order`` kept in place and the others taken out (as
    :func:`occluded_rows` takes one out)."""
    gone = PAD_ID if mask else OOV_ID
    rows, row = [], [gone] * len(ids)
    for index in order:
        rows.append(row.copy() if any(row) else [OOV_ID])
        row[index] = ids[index]
    return rows


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


def _explanation(
    text: str, tokens: list[str], kept: list[int], probs: np.ndarray, plan: _Plan, target: tuple[list[str], int]
) -> Explanation:
    """Scores of output ``target`` (the labels and an index) from ``probs`` ``(len(plan.rows), n_classes)``, whose
    first row is the whole text's."""
    if not text.strip():  # like predict: a blank line keeps its place with an empty result
        return Explanation(text, None, None, [], [])
    labels, predicted = target
    scores: list[float | None] = [None] * len(tokens)
    for index, score in zip(kept, plan.scores(probs[:, predicted].astype(np.float64)), strict=True):
        scores[index] = float(score)
    return Explanation(text, labels[predicted], float(probs[0, predicted]), tokens, scores)
