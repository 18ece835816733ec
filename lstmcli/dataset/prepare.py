"""``prepare``: read a labelled CSV, tokenize, build the vocabulary, split, pad, and save it all."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.errors import DataError
from lstmcli.io.tables import LabelledTexts, read_labelled
from lstmcli.rundir import PREPARE_REPORT, Prepared, RunDir, write_json
from lstmcli.text.tokens import choose_tokenizer, tokenize
from lstmcli.text.vocab import OOV_ID, Vocabulary, pad


@dataclass
class PrepareReport:
    """What prepare read, dropped, chose and built; printed by the CLI and saved as ``prepare.json``."""

    data_file: str
    encoding: str
    text_column: str
    label_column: str
    rows_read: int
    dropped: dict[str, int]
    class_counts: dict[str, int]
    train_rows: int
    val_rows: int
    tokenizer: str
    tokenizer_reason: str
    length_percentiles: dict[str, float]
    max_len: int
    max_len_auto: bool
    truncated_rows: int
    vocab_size: int
    val_oov_rate: float
    notes: list[str] = field(default_factory=list)
    mode: str = "in-memory"  # or "streaming": read in chunks into shards (lstmcli.dataset.shards)
    split: str = "stratified"  # scikit-learn's exact stratified split; "hashed": by a hash of each text

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def prepare(
    data_file: Path,
    run: RunDir,
    config: Config,
    streaming: bool | None = None,
    progress: Callable[[str, int, float], None] | None = None,
) -> tuple[Config, PrepareReport]:
    """Prepares ``data_file`` into ``run`` and returns the resolved config and a report.

    Args:
        streaming: read the file in chunks into shards (:func:`lstmcli.dataset.shards.prepare_streaming`) instead of
            all at once; None decides by the file's size.
        progress: told ``(phase, rows, fraction of the file)`` while streaming.

    Raises:
        DataError: the file cannot be read, or its rows cannot make a classifier.
    """
    from lstmcli.dataset import shards as stream

    if streaming or (streaming is None and stream.wants_streaming(data_file)):
        return stream.prepare_streaming(data_file, run, config, progress=progress)
    data = read_labelled(data_file, config.text_column, config.label_column, config.encoding)
    _check_classes(data, config.val_size, data_file)
    tokenizer, reason = _resolve_tokenizer(config, data.texts)
    config = config.replace(text_column=data.text_column, label_column=data.label_column, tokenizer=tokenizer)
    labels = sorted(set(data.labels))
    y = _index(data.labels, labels)
    train_idx, val_idx = _split(y, config)
    tokens = [tokenize(t, config) for t in data.texts]
    vocab = Vocabulary.build((tokens[i] for i in train_idx), config.vocab_size, config.min_count)
    lengths = np.array([len(t) for t in tokens])
    train_lengths = lengths[train_idx]
    auto = config.max_len == 0
    if auto:
        config = config.replace(max_len=max(1, int(np.ceil(np.percentile(train_lengths, config.max_len_percentile)))))
    ids = [vocab.ids(t) or [OOV_ID] for t in tokens]
    x = pad(ids, config.max_len, config.padding, config.truncating)
    prepared = Prepared(x[train_idx], y[train_idx], x[val_idx], y[val_idx])
    report = PrepareReport(
        data_file=str(data_file),
        encoding=data.encoding,
        text_column=data.text_column,
        label_column=data.label_column,
        rows_read=data.rows_read,
        dropped={"empty text": data.dropped_empty_text, "empty label": data.dropped_empty_label},
        class_counts=dict(sorted(Counter(data.labels).items())),
        train_rows=len(train_idx),
        val_rows=len(val_idx),
        tokenizer=tokenizer,
        tokenizer_reason=reason,
        length_percentiles={f"p{q}": float(np.percentile(train_lengths, q)) for q in (50, 90, 95, 99, 100)},
        max_len=config.max_len,
        max_len_auto=auto,
        truncated_rows=int((lengths > config.max_len).sum()),
        vocab_size=len(vocab),
        val_oov_rate=_oov_rate(ids, val_idx, lengths),
    )
    run.write_prepared(prepared, [data.texts[i] for i in val_idx])
    save_prepared(run, vocab, labels, config, report, data_file)
    return config, report


def save_prepared(
    run: RunDir, vocab: Vocabulary, labels: list[str], config: Config, report: PrepareReport, data_file: Path
) -> None:
    """Writes what every prepare leaves beside its data: vocabulary, labels, config, report and manifest."""
    run.write_vocab(vocab)
    run.write_labels(labels)
    run.write_config(config)
    write_json(run / PREPARE_REPORT, report.to_dict())
    run.write_manifest(data_file)


def _index(values: list[str], labels: list[str]) -> np.ndarray:
    lookup = {lab: i for i, lab in enumerate(labels)}
    return np.array([lookup[v] for v in values], dtype=np.int32)


def _check_classes(data: LabelledTexts, val_size: float, path: Path) -> None:
    if not data.texts:
        raise DataError(
            f"{path} has no row with both a text and a label (column '{data.text_column}', "
            f"'{data.label_column}'); check the column names"
        )
    counts = Counter(data.labels)
    if len(counts) < 2:
        only = next(iter(counts))
        raise DataError(
            f"{path} has one class only ('{only}' in column '{data.label_column}'); a classifier needs at least two"
        )
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


def _resolve_tokenizer(config: Config, texts: list[str]) -> tuple[str, str]:
    if config.tokenizer != "auto":
        return config.tokenizer, "chosen with --tokenizer"
    return choose_tokenizer(texts)


def _split(y: np.ndarray, config: Config) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(y))
    train_idx, val_idx = train_test_split(indices, test_size=config.val_size, random_state=config.seed, stratify=y)
    return np.asarray(train_idx), np.asarray(val_idx)


def _oov_rate(ids: list[list[int]], val_idx: np.ndarray, lengths: np.ndarray) -> float:
    total = int(lengths[val_idx].sum())
    oov = sum(seq.count(OOV_ID) for i in val_idx for seq in [ids[i]] if lengths[i])
    return oov / total if total else 0.0
