"""``prepare --multi-label``: texts with any number of labels into a 0/1 matrix, split by iterative stratification.

The validation split keeps each label's share on both sides as far as the label sets allow (Sechidis et al.
2011, as PyPI's ``iterative-stratification`` implements it): a random split of a skewed corpus such as Reuters
leaves rare labels out of validation, where their thresholds are chosen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.dataset.encode import encode_split
from lstmcli.dataset.report import PrepareReport, Progress, make_prepare_report, read_summary, save_prepared
from lstmcli.errors import DataError
from lstmcli.io.labelsets import LabelSets, read_label_sets
from lstmcli.rundir import Prepared, RunDir

RARE_ROWS = 5  # a label with fewer training texts than this is reported as too rare to learn


def prepare_multi_label(
    data_file: Path, run: RunDir, config: Config, progress: Progress | None = None
) -> tuple[Config, PrepareReport]:
    """Prepares a multi-label ``data_file`` into ``run``: ids as for one label, labels as a matrix ``(n, labels)``.

    Raises:
        DataError: the file cannot be read, or its rows cannot make a classifier.
    """
    data = read_label_sets(
        data_file,
        config.text_column,
        config.label_column,
        config.label_column_names,
        config.label_separator,
        config.encoding,
        config.header,
    )
    _check(data, config.val_size, data_file)
    config = config.replace(
        text_column=data.text_column, label_column="" if config.label_columns else data.label_column
    )
    y = label_matrix(data.label_sets, data.labels)
    train_idx, val_idx = stratified_split(y, config.val_size, config.seed)
    config, x, vocab, built = encode_split(data.texts, train_idx, val_idx, run, config, progress)
    report = make_prepare_report(_read(data_file, data, y, train_idx), built, config)
    report.multi_label, report.split = summary(y, data.labels, train_idx), "iterative stratification"
    val_texts = [data.texts[i] for i in val_idx]
    run.write_prepared(Prepared(x[train_idx], y[train_idx], x[val_idx], y[val_idx]), val_texts)
    save_prepared(run, vocab, data.labels, config, report, data_file)
    return config, report


def label_matrix(label_sets: list[tuple[str, ...]], labels: list[str]) -> np.ndarray:
    """The label sets as a 0/1 matrix ``(n, len(labels))`` uint8; names not in ``labels`` are left out."""
    index = {name: i for i, name in enumerate(labels)}
    y = np.zeros((len(label_sets), len(labels)), dtype=np.uint8)
    for row, names in enumerate(label_sets):
        y[row, [index[name] for name in names if name in index]] = 1
    return y


def stratified_split(y: np.ndarray, val_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation row indices (each sorted), every label's share about the same on both sides.

    Args:
        y: the 0/1 label matrix ``(n, labels)``; rows without a label are spread evenly too.
    """
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=val_size, random_state=seed)
    train_idx, val_idx = next(splitter.split(np.zeros((len(y), 1)), y))
    return np.sort(train_idx), np.sort(val_idx)


def summary(y: np.ndarray, labels: list[str], train_idx: np.ndarray) -> dict[str, Any]:
    """What the report says of the label sets: labels per text, texts without any, labels too rare to learn."""
    train_counts = y[train_idx].sum(axis=0)
    return {
        "cardinality": round(float(y.sum(axis=1).mean()), 4),
        "max_labels": int(y.sum(axis=1).max()),
        "empty_label_sets": int((y.sum(axis=1) == 0).sum()),
        "too_rare": [name for name, n in zip(labels, train_counts) if n < RARE_ROWS],
        "rare_rows": RARE_ROWS,
    }


def _read(data_file: Path, data: LabelSets, y: np.ndarray, train_idx: np.ndarray) -> dict[str, Any]:
    """What reading the file found, for the report (``class_counts``: texts per label)."""
    counts = {name: int(n) for name, n in zip(data.labels, y.sum(axis=0))}
    return {
        **read_summary(data_file, data, {"empty text": data.dropped_empty_text}, counts),
        "train_rows": len(train_idx),
        "val_rows": len(y) - len(train_idx),
    }


def _check(data: LabelSets, val_size: float, path: Path) -> None:
    if len(data.labels) < 2:
        found = f"only '{data.labels[0]}'" if data.labels else "none"
        raise DataError(
            f"{path} names {found} in column '{data.label_column}'; a multi-label run needs at least two labels "
            "(check --label-separator)"
        )
    n_val = int(np.ceil(val_size * len(data.texts)))
    if n_val < 1 or len(data.texts) - n_val < 1:
        raise DataError(
            f"{len(data.texts)} rows with --val-size {val_size} leave no row on one side of the split; add rows"
        )
