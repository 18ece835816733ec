"""``evaluate``: loss, accuracy, macro-F1, the per-class report and the confusion matrix of a trained run."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.errors import DataError
from lstmcli.io.tables import open_labelled
from lstmcli.predictor import Predictor
from lstmcli.rundir import RunDir

EPSILON = 1e-7  # Keras clips probabilities the same way in its cross-entropy


def evaluate(
    run: RunDir,
    data_file: Path | None = None,
    encoding: str = "auto",
    chunk_rows: int | None = None,
    text_column: str = "",
    label_column: str = "",
    input_format: str = "auto",
    header: bool | None = None,
) -> dict[str, Any]:
    """Scores the run's model on its validation part, or on ``data_file`` preprocessed with the run's settings.

    Rows whose label the model never saw are counted under ``unseen_labels`` and left out of the metrics.
    ``data_file`` is read ``chunk_rows`` rows at a time (:data:`lstmcli.dataset.shards.CHUNK_ROWS` by default), as are
    the validation shards of a streamed prepare: the confusion matrix and the loss add up chunk by chunk, so
    memory stays flat however large the input.

    ``data_file`` is a table of any format of :mod:`lstmcli.io.formats` (``input_format``: ``auto`` tells it);
    its columns are ``text_column`` and ``label_column`` if given, else the run's, else obvious names; ``header``
    None reads it as the run's training file was read.

    Returns:
        ``accuracy``, ``loss``, ``macro_f1``, ``per_class``, ``confusion_matrix``, ``labels``, ``n`` and more.

    Raises:
        DataError: ``data_file`` cannot be read or lacks the text or label column.
    """
    from lstmcli.dataset import shards as stream

    predictor = Predictor(run)
    labels = predictor.labels
    if data_file is None and not run.is_sharded():
        prepared = run.read_prepared()
        metrics = score(predictor.proba_ids(prepared.val_x), prepared.val_y, labels)
        return {"data": "validation part", "unseen_labels": {}, **metrics}
    tally = ScoreTally(len(labels))
    unseen: Counter[str] = Counter()
    if data_file is None:
        for ids, y in stream.iter_val_blocks(run, chunk_rows or stream.CHUNK_ROWS):
            tally.add(predictor.proba_ids(ids), y)
    else:
        index = {label: i for i, label in enumerate(labels)}
        table = _Table((text_column, label_column), input_format, getattr(predictor.config, "header", True))
        if header is not None:
            table = dataclasses.replace(table, header=header)
        for texts, raw_labels in _eval_chunks(data_file, predictor, encoding, chunk_rows or stream.CHUNK_ROWS, table):
            known = [i for i, lab in enumerate(raw_labels) if lab in index]
            unseen.update(lab for lab in raw_labels if lab not in index)
            if known:
                y = np.array([index[raw_labels[i]] for i in known], dtype=np.int32)
                tally.add(predictor.proba([texts[i] for i in known]), y)
        if not tally.n:
            raise DataError(
                f"no row of {data_file} has a label the model knows ({', '.join(labels)}); "
                f"found: {', '.join(sorted(unseen)[:10])}"
            )
    source = "validation part" if data_file is None else str(data_file)
    return {"data": source, "unseen_labels": dict(sorted(unseen.items())), **tally.metrics(labels)}


class ScoreTally:
    """The confusion matrix and the summed loss of predictions added chunk by chunk, and the metrics from them.

    The one metrics implementation: :func:`score` is a tally of one chunk, and a test holds it to
    scikit-learn's accuracy, macro-F1, per-class precision, recall and F1, and confusion matrix.
    """

    def __init__(self, n_classes: int) -> None:
        self.matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
        self.loss_sum = 0.0
        self.n = 0

    def add(self, probs: np.ndarray, y: np.ndarray) -> None:
        """Counts probabilities ``(n, n_classes)`` against label indices ``(n,)``."""
        predicted = probs.argmax(axis=1)
        np.add.at(self.matrix, (y, predicted), 1)
        picked = np.clip(probs[np.arange(len(y)), y].astype(np.float64), EPSILON, 1.0 - EPSILON)
        self.loss_sum += float(-np.log(picked).sum())  # float64: millions of float32 terms would drift
        self.n += len(y)

    def metrics(self, labels: list[str]) -> dict[str, Any]:
        """What :func:`score` reports, from the counts (precision, recall and F1 as scikit-learn defines them)."""
        true_pos = np.diag(self.matrix).astype(np.float64)
        support, predicted = self.matrix.sum(axis=1), self.matrix.sum(axis=0)
        precision = _ratio(true_pos, predicted)
        recall = _ratio(true_pos, support)
        f1 = _ratio(2 * true_pos, support + predicted)
        return {
            "n": self.n,
            "accuracy": float(true_pos.sum() / self.n),
            "loss": self.loss_sum / self.n,
            "macro_f1": float(f1.mean()),
            "labels": labels,
            "per_class": {
                label: {
                    "precision": float(precision[i]),
                    "recall": float(recall[i]),
                    "f1": float(f1[i]),
                    "support": int(support[i]),
                }
                for i, label in enumerate(labels)
            },
            "confusion_matrix": self.matrix.tolist(),
        }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, 0 where the denominator is 0 (scikit-learn's ``zero_division=0``)."""
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def score(probs: np.ndarray, y: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Metrics of probabilities ``(n, n_classes)`` against label indices ``(n,)``: one chunk's tally."""
    tally = ScoreTally(len(labels))
    tally.add(probs, y)
    return tally.metrics(labels)


@dataclass(frozen=True)
class _Table:
    """How evaluate reads ``--data``: the columns given for it, its format, and whether it has a header."""

    given: tuple[str, str]
    input_format: str
    header: bool


def _eval_chunks(
    path: Path, predictor: Predictor, encoding: str, chunk_rows: int, table: _Table
) -> Iterator[tuple[list[str], list[str]]]:
    """Yields the texts and labels of ``path``, ``chunk_rows`` rows at a time, rows with an empty one left out."""
    config = predictor.config
    encoding = encoding if encoding != "auto" else config.encoding
    columns, head_rows = (config.text_column, config.label_column), 1000  # JSON Lines records may lack a key
    source = open_labelled(path, *columns, encoding, head_rows, True, table.header, table.given, table.input_format)
    for chunk in source.chunks(chunk_rows):
        yield chunk.texts, chunk.labels
