"""``evaluate``: loss, accuracy, macro-F1, the per-class report and the confusion matrix of a trained run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.decision import Decider, micro_f1
from lstmcli.errors import ConfigError, DataError
from lstmcli.io.formats import format_of
from lstmcli.io.labelsets import read_label_sets
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
    decision: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Scores the run's model on its validation part, or on ``data_file`` preprocessed with the run's settings.

    Rows whose label the model never saw are counted under ``unseen_labels`` and left out of the metrics.
    ``data_file`` is read ``chunk_rows`` rows at a time (:data:`lstmcli.dataset.shards.CHUNK_ROWS` by default), as are
    the validation shards of a streamed prepare: the confusion matrix and the loss add up chunk by chunk, so
    memory stays flat however large the input.

    ``data_file`` is a table of any format of :mod:`lstmcli.io.formats` (``input_format``: ``auto`` tells it);
    its columns are ``text_column`` and ``label_column`` if given, else the run's, else obvious names; ``header``
    None reads it as the run's training file was read. A multi-label run: :func:`score_label_sets`, its labels
    decided as ``decision`` (``top_k``, ``threshold``, ``min_labels``) says, else as trained.

    Returns:
        ``accuracy``, ``loss``, ``macro_f1``, ``per_class``, ``confusion_matrix``, ``labels``, ``n`` and more.

    Raises:
        DataError: ``data_file`` cannot be read or lacks the text or label column.
    """
    from lstmcli.dataset import shards as stream

    predictor = Predictor(run)
    labels = predictor.labels
    table = _Table((text_column, label_column), input_format, predictor.config.header if header is None else header)
    if predictor.config.multi_label or any(v is not None for v in (decision or {}).values()):
        return _evaluate_label_sets(run, predictor, decision or {}, data_file, (encoding, table))
    if data_file is None:
        metrics, _ = score_validation(run, predictor, chunk_rows=chunk_rows)
        return {"data": "validation part", "unseen_labels": {}, **metrics}
    tally = ScoreTally(len(labels))
    unseen: Counter[str] = Counter()
    index = {label: i for i, label in enumerate(labels)}
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
    return {"data": str(data_file), "unseen_labels": dict(sorted(unseen.items())), **tally.metrics(labels)}


@dataclass(frozen=True)
class Wrong:
    """A validation text the model gets wrong: its ``row`` in the validation part, the model's ``probabilities``
    ``(labels,)`` and the ``truth`` (a label index; a multi-label run's 0/1 row ``(labels,)``)."""

    row: int
    probabilities: np.ndarray
    truth: Any


class WorstRows:
    """The ``n`` wrong rows of the highest badness seen so far, block by block: memory holds ``n`` rows, however
    many pass. Ties keep the earlier row."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.kept: list[tuple[float, Wrong]] = []

    def add(self, start: int, badness: np.ndarray, probs: np.ndarray, truth: np.ndarray) -> None:
        """Offers a block whose first row is ``start``: ``badness`` ``(rows,)``, NaN for a row that is right."""
        if not self.n:
            return
        wrong = np.flatnonzero(~np.isnan(badness))
        top = wrong[np.argsort(-badness[wrong], kind="stable")][: self.n]
        self.kept += [(float(badness[i]), Wrong(start + int(i), probs[i].copy(), truth[i].copy())) for i in top]
        self.kept = sorted(self.kept, key=lambda kept: (-kept[0], kept[1].row))[: self.n]

    @property
    def rows(self) -> list[Wrong]:
        """The rows kept, the worst first."""
        return [wrong for _, wrong in self.kept]


def score_validation(
    run: RunDir, predictor: Predictor, decider: Decider | None = None, n_wrong: int = 0, chunk_rows: int | None = None
) -> tuple[dict[str, Any], list[Wrong]]:
    """The metrics of the run's validation part and its ``n_wrong`` worst rows, in one pass.

    A streamed prepare's shards are read ``chunk_rows`` rows at a time (:data:`lstmcli.dataset.shards.CHUNK_ROWS`
    by default): the metrics add up block by block and only the worst rows are kept, so memory stays flat however
    many rows there are. Single-label, the worst are the misclassified rows whose predicted class had the highest
    probability; multi-label (prepared in memory, decided by ``decider``, else as trained), the rows whose
    probabilities are furthest from their labels among those with a wrong label set.

    Returns:
        The metrics (as :func:`score` or :func:`score_label_sets`) and the worst rows, the worst first.
    """
    from lstmcli.dataset import shards as stream

    worst = WorstRows(n_wrong)
    if predictor.config.multi_label:
        decider = decider or predictor.decider
        prepared = run.read_prepared()
        probs, y = predictor.proba_ids(prepared.val_x), prepared.val_y
        distance = np.abs(y - probs).sum(axis=1)
        worst.add(0, np.where((decider.chosen(probs) != y.astype(bool)).any(axis=1), distance, np.nan), probs, y)
        return score_label_sets(probs, y, decider), worst.rows
    tally = ScoreTally(len(predictor.labels))
    if run.is_sharded():
        blocks = stream.iter_val_blocks(run, chunk_rows or stream.CHUNK_ROWS)
    else:
        prepared = run.read_prepared()
        blocks = iter([(prepared.val_x, prepared.val_y)])
    start = 0
    for ids, y in blocks:
        probs = predictor.proba_ids(ids)
        tally.add(probs, y)
        predicted = probs.argmax(axis=1)
        worst.add(start, np.where(predicted != y, probs[np.arange(len(y)), predicted], np.nan), probs, y)
        start += len(y)
    return tally.metrics(predictor.labels), worst.rows


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


def _evaluate_label_sets(
    run: RunDir, predictor: Predictor, decision: dict[str, Any], data_file: Path | None, how: tuple[str, _Table]
) -> dict[str, Any]:
    """A multi-label run's metrics on its validation part or on ``data_file`` (read whole, as prepare read it).

    Raises:
        ConfigError: ``decision`` holds options, but the run is single-label.
    """
    if not predictor.config.multi_label:
        raise ConfigError(
            "--threshold, --top-k and --min-labels of evaluate are for a multi-label run; this one is not"
        )
    decider = predictor.decider.with_options(**decision)
    if data_file is None:
        metrics, _ = score_validation(run, predictor, decider)
        return {"data": "validation part", "unseen_labels": {}, **metrics}
    texts, y, unseen = _label_set_rows(data_file, predictor.config, predictor.labels, how)
    metrics = score_label_sets(predictor.proba(texts), y, decider)
    return {"data": str(data_file), "unseen_labels": unseen, **metrics}


def _label_set_rows(
    path: Path, config: Config, labels: list[str], how: tuple[str, _Table]
) -> tuple[list[str], np.ndarray, dict[str, int]]:
    """The texts of a multi-label table, their 0/1 labels ``(n, labels)``, and the labels the run never saw."""
    encoding, table = how
    if format_of(path, table.input_format) == "jsonl":
        raise DataError(f"a multi-label run is evaluated on a CSV or TSV; {path} is JSON Lines")
    text_column = table.given[0] or config.text_column
    label_column = table.given[1] or config.label_column
    data = read_label_sets(
        path,
        text_column,
        label_column,
        config.label_column_names,
        config.label_separator,
        config.encoding if encoding == "auto" else encoding,
        table.header,
    )
    known = set(labels)
    unseen = Counter(name for names in data.label_sets for name in names if name not in known)
    index = {name: i for i, name in enumerate(labels)}
    y = np.zeros((len(data.texts), len(labels)), dtype=np.uint8)
    for row, names in enumerate(data.label_sets):
        y[row, [index[name] for name in names if name in index]] = 1
    return data.texts, y, dict(sorted(unseen.items()))


def score_label_sets(probs: np.ndarray, y: np.ndarray, decider: Decider) -> dict[str, Any]:
    """A multi-label run's metrics: probabilities ``(n, labels)`` decided by ``decider`` against 0/1 labels.

    As scikit-learn defines them (a test holds them to it): micro-, macro- and samples-F1, the Jaccard index
    (a text with no gold and no predicted label counts 1, as it does for samples-F1), subset accuracy, Hamming
    loss, and per-label precision, recall, F1 (0 where undefined) and support; the loss is the mean binary
    cross-entropy.
    """
    truth, predicted = np.asarray(y).astype(bool), decider.chosen(probs)
    tp = (truth & predicted).sum(axis=0).astype(np.float64)
    called, support = predicted.sum(axis=0).astype(np.float64), truth.sum(axis=0)
    f1 = _ratio(2 * tp, called + support)
    both = (truth & predicted).sum(axis=1).astype(np.float64)
    either = (truth | predicted).sum(axis=1)
    sizes = truth.sum(axis=1) + predicted.sum(axis=1)
    p = np.clip(probs.astype(np.float64), EPSILON, 1.0 - EPSILON)
    return {
        "multi_label": True,
        "n": len(truth),
        "micro_f1": micro_f1(predicted, truth),
        "macro_f1": float(f1.mean()),
        "samples_f1": float(np.where(sizes > 0, 2 * both / np.maximum(sizes, 1), 1.0).mean()),
        "jaccard": float(np.where(either > 0, both / np.maximum(either, 1), 1.0).mean()),
        "subset_accuracy": float((truth == predicted).all(axis=1).mean()),
        "hamming_loss": float((truth != predicted).mean()),
        "loss": float(-(truth * np.log(p) + ~truth * np.log(1 - p)).mean()),
        "labels": decider.labels,
        "per_label": {
            label: {"precision": float(pr), "recall": float(r), "f1": float(f), "support": int(n)}
            for label, pr, r, f, n in zip(decider.labels, _ratio(tp, called), _ratio(tp, support), f1, support)
        },
        "thresholds": dict(zip(decider.labels, decider.cutoffs.tolist())),
        "labels_per_text": {"gold": float(truth.sum(axis=1).mean()), "predicted": float(predicted.sum(axis=1).mean())},
    }


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
