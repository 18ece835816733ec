"""``evaluate``: loss, accuracy, macro-F1, the per-class report and the confusion matrix of a trained run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.data import LABEL_COLUMNS, TEXT_COLUMNS, pick_column, read_table
from lstmcli.errors import DataError
from lstmcli.predict import Predictor
from lstmcli.rundir import RunDir

EPSILON = 1e-7  # Keras clips probabilities the same way in its cross-entropy


def evaluate(run: RunDir, data_file: Path | None = None, encoding: str = "auto") -> dict[str, Any]:
    """Scores the run's model on its validation part, or on ``data_file`` preprocessed with the run's settings.

    Rows whose label the model never saw are counted under ``unseen_labels`` and left out of the metrics.

    Returns:
        ``accuracy``, ``loss``, ``macro_f1``, ``per_class``, ``confusion_matrix``, ``labels``, ``n`` and more.

    Raises:
        DataError: ``data_file`` cannot be read or lacks the text or label column.
    """
    predictor = Predictor(run)
    labels = predictor.labels
    if data_file is None:
        prepared = run.read_prepared()
        probs, y = predictor.proba_ids(prepared.val_x), prepared.val_y
        unseen: Counter[str] = Counter()
        source = "validation part"
    else:
        texts, raw_labels = _read_eval_data(data_file, predictor, encoding)
        index = {label: i for i, label in enumerate(labels)}
        known = [i for i, lab in enumerate(raw_labels) if lab in index]
        unseen = Counter(lab for lab in raw_labels if lab not in index)
        if not known:
            raise DataError(f"no row of {data_file} has a label the model knows ({', '.join(labels)}); "
                            f"found: {', '.join(sorted(unseen)[:10])}")
        probs = predictor.proba([texts[i] for i in known])
        y = np.array([index[raw_labels[i]] for i in known], dtype=np.int32)
        source = str(data_file)
    return {"data": source, "unseen_labels": dict(sorted(unseen.items())), **score(probs, y, labels)}


def score(probs: np.ndarray, y: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Metrics of probabilities ``(n, n_classes)`` against label indices ``(n,)``."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    predicted = probs.argmax(axis=1)
    classes = list(range(len(labels)))
    picked = np.clip(probs[np.arange(len(y)), y], EPSILON, 1.0 - EPSILON)
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=classes, zero_division=0)
    return {
        "n": int(len(y)),
        "accuracy": float((predicted == y).mean()),
        "loss": float(-np.log(picked).mean()),
        "macro_f1": float(f1_score(y, predicted, labels=classes, average="macro", zero_division=0)),
        "labels": labels,
        "per_class": {
            label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                    "support": int(support[i])}
            for i, label in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(y, predicted, labels=classes).tolist(),
    }


def _read_eval_data(path: Path, predictor: Predictor, encoding: str) -> tuple[list[str], list[str]]:
    frame, _ = read_table(path, encoding if encoding != "auto" else predictor.config.encoding)
    config = predictor.config
    columns = [str(c) for c in frame.columns]
    text_col = config.text_column if config.text_column in columns else pick_column(frame, "", TEXT_COLUMNS, "text", path)
    if config.label_column in columns:
        label_col = config.label_column
    else:
        try:
            label_col = pick_column(frame, "", LABEL_COLUMNS, "label", path)
        except DataError:
            raise DataError(f"{path} has no label column ('{config.label_column}' or another obvious name); "
                            f"columns are: {', '.join(columns)}. Evaluation needs labels; use 'lstmcli predict' "
                            "for unlabelled text") from None
    texts = frame[text_col].str.strip()
    labels = frame[label_col].str.strip()
    keep = (texts != "") & (labels != "")
    return texts[keep].tolist(), labels[keep].tolist()
