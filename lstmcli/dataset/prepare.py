"""``prepare``: read a labelled table, tokenize, build the vocabulary, split, pad, and save it all."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.dataset import shards
from lstmcli.dataset.embeddings import check_sources
from lstmcli.dataset.encode import encode_split
from lstmcli.dataset.multilabel import prepare_multi_label
from lstmcli.dataset.report import (
    PrepareReport,
    Progress,
    check_classes,
    make_prepare_report,
    read_summary,
    save_prepared,
)
from lstmcli.dataset.split import single_label_split
from lstmcli.errors import DataError
from lstmcli.io.labelsets import looks_multi_label
from lstmcli.io.tables import LabelledTexts, read_labelled
from lstmcli.rundir import Prepared, RunDir

__all__ = ["PrepareReport", "prepare"]


def prepare(
    data_file: Path,
    run: RunDir,
    config: Config,
    streaming: bool | None = None,
    progress: Progress | None = None,
    input_format: str = "auto",
) -> tuple[Config, PrepareReport]:
    """Prepares ``data_file`` into ``run`` and returns the resolved config and a report.

    Args:
        data_file: a labelled table, of a format of :mod:`lstmcli.io.formats`.
        streaming: read the file in chunks into shards (:func:`lstmcli.dataset.shards.prepare_streaming`) instead of
            all at once; None decides by the file's size.
        progress: told ``(phase, rows, fraction of the file)`` while streaming, and of the passes over
            ``--unlabeled`` texts.
        input_format: the table's format, or ``auto`` (by extension, else its first line, else CSV).

    Raises:
        DataError: the file cannot be read, or its rows cannot make a classifier.
        ConfigError: the vectors' sources contradict each other (checked before anything is read).
    """
    check_sources(config)
    if config.multi_label:
        if streaming:
            raise DataError("--multi-label reads the file in memory; leave out --streaming")
        return prepare_multi_label(data_file, run, config, progress)
    if streaming or (streaming is None and shards.wants_streaming(data_file)):
        return shards.prepare_streaming(data_file, run, config, progress=progress, input_format=input_format)
    return prepare_in_memory(data_file, run, config, input_format, progress)


def prepare_in_memory(
    data_file: Path, run: RunDir, config: Config, input_format: str = "auto", progress: Progress | None = None
) -> tuple[Config, PrepareReport]:
    """Prepares ``data_file`` read whole, split as scikit-learn's stratified split does, into the run's arrays.

    Raises:
        DataError: the file cannot be read, or its rows cannot make a classifier.
    """
    data = read_labelled(
        data_file, config.text_column, config.label_column, config.encoding, config.header, input_format
    )
    _check_classes(data, config.val_size, data_file)
    config = config.replace(text_column=data.text_column, label_column=data.label_column)
    labels = sorted(set(data.labels))
    y = _index(data.labels, labels)
    train_idx, val_idx = single_label_split(y, config.val_size, config.seed)
    config, x, vocab, built = encode_split(data.texts, train_idx, val_idx, run, config, progress)
    report = make_prepare_report(_read(data_file, data, len(train_idx)), built, config)
    if looks_multi_label(data.labels, config.label_separator):
        report.notes.append(
            f"the label column '{data.label_column}' holds labels joined by '{config.label_separator}' in many rows: "
            "if a text may have several labels, pass --multi-label"
        )
    run.write_prepared(Prepared(x[train_idx], y[train_idx], x[val_idx], y[val_idx]), [data.texts[i] for i in val_idx])
    save_prepared(run, vocab, labels, config, report, data_file)
    return config, report


def _read(data_file: Path, data: LabelledTexts, train_rows: int) -> dict[str, Any]:
    """What reading the file found, for the report."""
    dropped = {"empty text": data.dropped_empty_text, "empty label": data.dropped_empty_label}
    return {
        **read_summary(data_file, data, dropped, dict(sorted(Counter(data.labels).items()))),
        "train_rows": train_rows,
        "val_rows": len(data.labels) - train_rows,
    }


def _index(values: list[str], labels: list[str]) -> np.ndarray:
    lookup = {lab: i for i, lab in enumerate(labels)}
    return np.array([lookup[v] for v in values], dtype=np.int32)


def _check_classes(data: LabelledTexts, val_size: float, path: Path) -> None:
    counts = Counter(data.labels)
    check_classes(counts, path, data.text_column, data.label_column)
    small = sorted(label for label, n in counts.items() if n < 2)
    if small:
        shown = ", ".join(f"'{s}'" for s in small[:5])
        raise DataError(
            f"class {shown} has a single row in {path}; a stratified split needs at least 2 rows per "
            "class: add rows or remove the class"
        )
    n_val = int(np.ceil(val_size * len(data.labels)))
    if n_val < len(counts) or len(data.labels) - n_val < len(counts):
        raise DataError(
            f"{len(data.labels)} rows with --val-size {val_size} leave fewer rows than the "
            f"{len(counts)} classes on one side of the split; add rows or change --val-size"
        )
