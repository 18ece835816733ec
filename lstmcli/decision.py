"""From probabilities to a text's labels, and the row that says so: what ``predict``, ``serve`` and ``evaluate`` share.

A single-label run names the most probable class (or, with a threshold, abstains or picks the positive class). A
multi-label run names every label whose sigmoid reaches its threshold, chosen on validation when the run was
trained (:func:`choose_thresholds`): one for all labels, or one per label where that beat the global one on held-out
validation rows. ``--threshold`` replaces them, ``--top-k`` keeps the most probable labels only, ``--min-labels``
names the most probable ones when fewer pass.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from lstmcli.errors import ConfigError

GRID = np.round(np.arange(0.02, 0.981, 0.01), 2)  # the thresholds tried on validation
MIN_POSITIVES = 5  # a label needs this many validation texts to get a threshold of its own
MIN_GAIN = 0.005  # micro-F1 a per-label threshold must add on held-out validation rows, both halves agreeing
DEFAULT_THRESHOLD = 0.5  # a multi-label run trained without thresholds.json


def decide(
    probabilities: np.ndarray, labels: list[str], top_k: int, threshold: float | None
) -> list[tuple[str, float]]:
    """The ``top_k`` labels of one text with their probabilities, the decision first (a single-label run).

    Without a threshold the decision is the most probable label. With two labels, ``threshold`` is the decision
    threshold on the second (the positive class: labels are sorted, so ``1``, ``positive``, ``spam``): it is
    chosen when its probability is at least ``threshold``, else the first. With more labels, a text whose most
    probable label is below ``threshold`` is not labelled: its label is "" (its probability stays).
    """
    order = [int(i) for i in np.argsort(-probabilities, kind="stable")]
    if threshold is not None and len(labels) == 2:
        order = [1, 0] if probabilities[1] >= threshold else [0, 1]
    ranked = [(labels[i], float(probabilities[i])) for i in order[:top_k]]
    if threshold is not None and len(labels) > 2 and ranked[0][1] < threshold:
        ranked[0] = ("", ranked[0][1])
    return ranked


def prediction_row(
    probabilities: np.ndarray | None, labels: list[str], top_k: int, threshold: float | None = None
) -> dict[str, Any]:
    """One text's result as a JSON-ready dict (a single-label run): what ``predict --format jsonl`` writes and
    ``serve`` answers.

    Args:
        probabilities: float array ``(n_classes,)``, or None for an empty text.
        labels: class names, index ``i`` naming ``probabilities[i]``.
        top_k: labels listed under ``top_k`` (most probable first) when above 1.
        threshold: see :func:`decide`.

    Returns:
        ``label``, ``probability``, ``probabilities`` (every class) and, for ``top_k`` above 1, ``top_k``; a text
        left unlabelled below the threshold has ``label`` None and ``"abstained": True``; an empty text the same
        keys as None and ``"empty": True``.
    """
    if probabilities is None:
        return {"label": None, "probability": None, "probabilities": None, "empty": True}
    ranked = decide(probabilities, labels, top_k, threshold)
    row: dict[str, Any] = {
        "label": ranked[0][0] or None,
        "probability": ranked[0][1],
        "probabilities": {lab: float(p) for lab, p in zip(labels, probabilities)},
    }
    if not ranked[0][0]:
        row["abstained"] = True
    if len(ranked) > 1:
        row["top_k"] = [{"label": lab or None, "probability": p} for lab, p in ranked]
    return row


def row_json(row: dict[str, Any]) -> str:
    """A row's JSON text, as each ``jsonl`` line holds it (labels in any script kept as they are)."""
    return json.dumps(row, ensure_ascii=False)


@dataclass(frozen=True)
class Decider:
    """How one run turns probabilities into labels, with the options a command was given.

    Attributes:
        labels: the run's labels, index ``i`` naming output ``i``.
        multi_label: a sigmoid per label (any number of labels a text), else a softmax (one label).
        thresholds: a multi-label run's trained thresholds ``(labels,)``.
        top_k: single-label: labels listed (default 1); multi-label: the most labels a text gets (default all).
        threshold: overrides the trained thresholds (multi-label), or see :func:`decide`.
        min_labels: multi-label: the fewest labels a text gets, the most probable ones filling up.
    """

    labels: list[str]
    multi_label: bool = False
    thresholds: np.ndarray | None = None
    top_k: int | None = None
    threshold: float | None = None
    min_labels: int = 0

    def with_options(
        self, top_k: int | None = None, threshold: float | None = None, min_labels: int | None = None
    ) -> Decider:
        """This decider with the options given (None: as before), checked.

        Raises:
            ConfigError: a value out of range, or ``min_labels`` for a single-label run.
        """
        changed: dict[str, Any] = {"top_k": top_k, "threshold": threshold, "min_labels": min_labels}
        decider = dataclasses.replace(self, **{k: v for k, v in changed.items() if v is not None})
        decider.check()
        return decider

    def check(self) -> None:
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"--top-k must be at least 1; received {self.top_k}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"--threshold must be a probability between 0 and 1; received {self.threshold}")
        if self.min_labels < 0:
            raise ConfigError(f"--min-labels must be 0 or more; received {self.min_labels}")
        if self.min_labels and not self.multi_label:
            raise ConfigError("--min-labels is for a multi-label run; this run gives each text one label")

    @property
    def cutoffs(self) -> np.ndarray:
        """The threshold each label's probability must reach ``(labels,)``: ``--threshold``, else the trained ones."""
        if self.threshold is not None:
            return np.full(len(self.labels), self.threshold, dtype=np.float64)
        if self.thresholds is not None:
            return np.asarray(self.thresholds, dtype=np.float64)
        return np.full(len(self.labels), DEFAULT_THRESHOLD)

    @property
    def k(self) -> int:
        """Single-label: the labels listed, at most every label."""
        return min(self.top_k or 1, len(self.labels))

    def chosen(self, probabilities: np.ndarray) -> np.ndarray:
        """Multi-label decisions for probabilities ``(n, labels)``: a bool matrix of the same shape."""
        probabilities = np.asarray(probabilities)
        picked = probabilities >= self.cutoffs
        order = np.argsort(-probabilities, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(probabilities.shape[1])[None, :], axis=1)
        if self.top_k is not None:
            picked &= rank < self.top_k
        if self.min_labels:
            picked |= rank < min(self.min_labels, self.top_k or self.min_labels)
        return picked

    def ranked(self, probabilities: np.ndarray) -> list[tuple[str, float]]:
        """One text's labels with their probabilities, the decision first (single-label: see :func:`decide`);
        a multi-label run's chosen labels by descending probability."""
        if not self.multi_label:
            return decide(probabilities, self.labels, self.k, self.threshold)
        picked = self.chosen(probabilities[None, :])[0]
        order = [int(i) for i in np.argsort(-probabilities, kind="stable") if picked[i]]
        return [(self.labels[i], float(probabilities[i])) for i in order]

    def rows_json(self, probabilities: np.ndarray) -> list[str]:
        """``row_json(self.row(p))`` for each row of ``probabilities`` ``(n, labels)``, the same text.

        A single-label run's rows that name the most probable label (no ``top_k``, no threshold), the answers
        ``serve`` gives by default, are written in one pass over the rows rather than through a dict and
        ``json.dumps`` each: the same keys in the same order, each float as ``json.dumps`` writes it (its
        ``repr``).
        """
        plain = not self.multi_label and self.k == 1 and self.threshold is None and all(self.labels)
        if not plain or not np.isfinite(probabilities).all():  # NaN and infinity: as json.dumps spells them
            return [row_json(self.row(p)) for p in probabilities]
        keys = [json.dumps(label, ensure_ascii=False) for label in self.labels]
        rows = []
        for best, values in zip(probabilities.argmax(axis=1).tolist(), probabilities.tolist()):
            every = ", ".join([f"{key}: {value!r}" for key, value in zip(keys, values)])
            rows.append(f'{{"label": {keys[best]}, "probability": {values[best]!r}, "probabilities": {{{every}}}}}')
        return rows

    def row(self, probabilities: np.ndarray | None) -> dict[str, Any]:
        """One text's result as a JSON-ready dict: ``predict --format jsonl``'s line and ``serve``'s answer.

        A multi-label row has ``labels`` (the chosen ones, most probable first, possibly none) and
        ``probabilities`` (every label's own, each in [0, 1], not normalised to sum to 1); an empty text has both
        None and ``"empty": True``. A single-label row is :func:`prediction_row`'s.
        """
        if not self.multi_label:
            return prediction_row(probabilities, self.labels, self.k, self.threshold)
        if probabilities is None:
            return {"labels": None, "probabilities": None, "empty": True}
        return {
            "labels": [label for label, _ in self.ranked(probabilities)],
            "probabilities": {lab: float(p) for lab, p in zip(self.labels, probabilities)},
        }


@dataclass(frozen=True)
class Thresholds:
    """A multi-label run's decision thresholds, chosen on validation; saved as ``thresholds.json``."""

    kind: str  # "global": one for every label; "per_label": some labels have their own
    global_threshold: float
    per_label: list[float]  # the threshold of each label, in the run's label order
    scores: dict[str, float]  # validation micro-F1 of each kind, and the held-out gain of per-label ones

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "global": self.global_threshold, "per_label": self.per_label, **self.scores}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        scores = {k: float(v) for k, v in data.items() if k not in ("kind", "global", "per_label")}
        return cls(str(data["kind"]), float(data["global"]), [float(v) for v in data["per_label"]], scores)


def choose_thresholds(probabilities: np.ndarray, y: np.ndarray, seed: int = 0) -> Thresholds:
    """The thresholds with the best micro-F1 on validation probabilities and 0/1 labels, both ``(n, labels)``.

    One global threshold, unless per-label ones (each label with :data:`MIN_POSITIVES` validation texts tuned in
    turn, the others held) beat it by more than noise: fitted on one half of the rows and scored on the other,
    both ways round, they must win on both halves and by :data:`MIN_GAIN` on average.
    """
    p, y = np.asarray(probabilities, dtype=np.float64), np.asarray(y).astype(bool)
    best = _best_global(p, y)
    halves = np.array_split(np.random.default_rng(seed).permutation(len(y)), 2)
    gains = []
    for fit, held in (halves, halves[::-1]):
        t_global = _best_global(p[fit], y[fit])
        t_label = _per_label(p[fit], y[fit], t_global)
        gains.append(micro_f1(p[held] >= t_label, y[held]) - micro_f1(p[held] >= t_global, y[held]))
    per_label = _per_label(p, y, best)
    scores = {
        "validation_micro_f1_global": round(micro_f1(p >= best, y), 4),
        "validation_micro_f1_per_label": round(micro_f1(p >= per_label, y), 4),
        "held_out_gain": round(float(np.mean(gains)), 4),
    }
    if min(gains) > 0 and np.mean(gains) >= MIN_GAIN:
        return Thresholds("per_label", best, [float(t) for t in per_label], scores)
    return Thresholds("global", best, [best] * y.shape[1], scores)


def micro_f1(predicted: np.ndarray, y: np.ndarray) -> float:
    """Micro-averaged F1 of bool decisions against bool labels, both ``(n, labels)``; 0 with nothing to find."""
    tp = float((predicted & y).sum())
    denominator = float(predicted.sum() + y.sum())
    return 2 * tp / denominator if denominator else 0.0


def _best_global(p: np.ndarray, y: np.ndarray) -> float:
    """The grid threshold with the best micro-F1 (the lowest of equal ones)."""
    positives = y.sum()
    f1 = [micro_f1_counts(float((p >= t)[y].sum()), float((p >= t).sum()), positives) for t in GRID]
    return float(GRID[int(np.argmax(f1))])


def micro_f1_counts(true_positives: float, predicted: float, positives: float) -> float:
    return 2 * true_positives / (predicted + positives) if predicted + positives else 0.0


def _per_label(p: np.ndarray, y: np.ndarray, start: float) -> np.ndarray:
    """Each label's threshold tuned for micro-F1 in turn, the others held (one pass, from ``start`` for all)."""
    thresholds = np.full(p.shape[1], start)
    picked = p >= start
    tp, predicted, positives = float((picked & y).sum()), float(picked.sum()), float(y.sum())
    for label in np.flatnonzero(y.sum(axis=0) >= MIN_POSITIVES):
        column, truth = p[:, label], y[:, label]
        own_tp, own_predicted = float((picked[:, label] & truth).sum()), float(picked[:, label].sum())
        hits = np.array([(column >= t)[truth].sum() for t in GRID], dtype=np.float64)
        calls = np.array([(column >= t).sum() for t in GRID], dtype=np.float64)
        f1 = [micro_f1_counts(tp - own_tp + h, predicted - own_predicted + c, positives) for h, c in zip(hits, calls)]
        best = int(np.argmax(f1))
        if f1[best] > micro_f1_counts(tp, predicted, positives):
            thresholds[label] = GRID[best]
            tp, predicted = tp - own_tp + hits[best], predicted - own_predicted + calls[best]
            picked[:, label] = column >= GRID[best]
    return thresholds
