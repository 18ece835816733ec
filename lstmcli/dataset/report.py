"""What both ways of preparing share: the report and its measures, the choices of tokenizer and ``max_len``, and
the files written beside the prepared data."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.errors import DataError
from lstmcli.rundir import RunDir
from lstmcli.text.tokens import choose_tokenizer
from lstmcli.text.vocab import OOV_ID, Vocabulary

Progress = Callable[[str, int, float], None]
"""Called as ``progress(phase, done, fraction)`` during prepare: rows while a file streams, epochs while word
vectors learn from unlabeled text (phase ``pretraining``)."""


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
    embeddings: dict[str, Any] | None = None  # the start vectors: their sources, coverage, words added
    # --multi-label: labels per text, texts without a label, and the labels too rare to learn (class_counts holds
    # each label's texts)
    multi_label: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if data["multi_label"] is None:  # a single-label report reads as before
            del data["multi_label"]
        return data


def read_summary(data_file: Path, data: Any, dropped: dict[str, int], class_counts: dict[str, int]) -> dict[str, Any]:
    """What reading a labelled file found, for the report: ``data`` is what its reader returned (the file's
    encoding, columns and rows read)."""
    return {
        "data_file": str(data_file),
        "encoding": data.encoding,
        "text_column": data.text_column,
        "label_column": data.label_column,
        "rows_read": data.rows_read,
        "dropped": dropped,
        "class_counts": class_counts,
    }


@dataclass(frozen=True)
class Built:
    """What prepare chose and built from the rows it read: the same for both ways of preparing."""

    tokenizer: tuple[str, str]  # the tokenizer and why it was chosen
    train_lengths: np.ndarray  # tokens per training text (a sample of the texts when streaming)
    measured: EncodedTally
    vocab_size: int
    max_len_auto: bool
    embeddings: dict[str, Any] | None  # --embeddings' coverage report, or None


def make_prepare_report(read: Mapping[str, Any], built: Built, config: Config, **how: Any) -> PrepareReport:
    """The report from what reading the file found (``data_file`` to ``val_rows``), what prepare built, and how
    it ran (``notes``, ``mode``, ``split`` where not the in-memory defaults)."""
    return PrepareReport(
        **read,
        tokenizer=built.tokenizer[0],
        tokenizer_reason=built.tokenizer[1],
        length_percentiles=length_percentiles(built.train_lengths),
        max_len=config.max_len,
        max_len_auto=built.max_len_auto,
        truncated_rows=built.measured.truncated,
        vocab_size=built.vocab_size,
        val_oov_rate=built.measured.val_oov_rate,
        embeddings=built.embeddings,
        **how,
    )


@dataclass
class EncodedTally:
    """What encoding the rows measured for the report, added chunk by chunk."""

    truncated: int = 0  # rows longer than max_len
    val_oov: int = 0  # unknown ids among the validation rows' tokens
    val_tokens: int = 0

    def add(self, ids: np.ndarray, lengths: np.ndarray, val: np.ndarray, max_len: int) -> None:
        """Counts rows given as untruncated ids ``(sum(lengths),)``, ids per row ``(n,)``, validation mask ``(n,)``."""
        self.truncated += int((lengths > max_len).sum())
        val_ids = ids[np.repeat(val, lengths)]
        self.val_oov += int((val_ids == OOV_ID).sum())
        self.val_tokens += len(val_ids)

    @property
    def val_oov_rate(self) -> float:
        return self.val_oov / self.val_tokens if self.val_tokens else 0.0


def check_classes(class_counts: Mapping[str, int], path: Path, text_column: str, label_column: str) -> None:
    """Raises DataError unless the usable rows hold at least two classes, whichever way prepare reads them."""
    if not class_counts:
        raise DataError(
            f"{path} has no row with both a text and a label (column '{text_column}', "
            f"'{label_column}'); check the column names"
        )
    if len(class_counts) < 2:
        only = next(iter(class_counts))
        raise DataError(
            f"{path} has one class only ('{only}' in column '{label_column}'); a classifier needs at least two"
        )


def resolve_tokenizer(config: Config, texts: list[str]) -> tuple[str, str]:
    """The tokenizer to use and why: the one asked for, else the one the texts' scripts call for."""
    if config.tokenizer != "auto":
        return config.tokenizer, "chosen with --tokenizer"
    return choose_tokenizer(texts)


def resolve_max_len(config: Config, train_lengths: np.ndarray) -> tuple[Config, bool]:
    """The config with ``max_len=auto`` (0) set from the training lengths' percentile, and whether it was auto."""
    if config.max_len:
        return config, False
    return config.replace(max_len=max(1, int(np.ceil(np.percentile(train_lengths, config.max_len_percentile))))), True


def length_percentiles(train_lengths: np.ndarray) -> dict[str, float]:
    return {f"p{q}": float(np.percentile(train_lengths, q)) for q in (50, 90, 95, 99, 100)}


def save_prepared(
    run: RunDir, vocab: Vocabulary, labels: list[str], config: Config, report: PrepareReport, data_file: Path
) -> None:
    """Writes what every prepare leaves beside its data: vocabulary, labels, config, report and manifest."""
    run.write_vocab(vocab)
    run.write_labels(labels)
    run.write_config(config)
    run.write_prepare_report(report.to_dict())
    run.write_manifest(data_file)
