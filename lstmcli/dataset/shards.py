"""Corpora larger than memory: prepare a table chunk by chunk into shards on disk, and read them back in pieces.

Prepare passes over the data twice. Pass one reads the CSV in chunks (pandas ``chunksize``), tokenizes each
text once, counts tokens and classes, puts each row on its side of the split by a hash of its text, samples
training lengths, and spills the chunk's token ids to disk. Pass two maps the spilled ids to the final
vocabulary, pads them and writes ``.npy`` shards listed in a small JSON index. Memory follows the chunk size
and the number of distinct tokens (capped), never the number of rows.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.dataset.embeddings import attach_vectors
from lstmcli.dataset.report import (
    Built,
    EncodedTally,
    PrepareReport,
    Progress,
    check_classes,
    make_prepare_report,
    resolve_max_len,
    resolve_tokenizer,
    save_prepared,
)
from lstmcli.errors import DataError
from lstmcli.io.tables import LabelledChunk, LabelledTable, open_labelled
from lstmcli.rundir import SHARD_PARTS, SPILL_DIR, RunDir  # noqa: F401 (SPILL_DIR: tests look it up here)
from lstmcli.text.encoder import Encoder
from lstmcli.text.tokens import tokenize
from lstmcli.text.vocab import OOV_ID, Vocabulary

CHUNK_ROWS = 32_768  # rows read, tokenized and written at a time
STREAMING_BYTES = 64 << 20  # CSV files larger than this are prepared by streaming unless told otherwise
TOKENIZER_SAMPLE = 20_000  # rows at the head of the file that tokenizer=auto looks at
RESERVOIR_ROWS = 100_000  # training lengths sampled for max_len=auto and the length percentiles
MAX_TOKEN_TYPES = 2_000_000  # distinct tokens counted; tokens first seen after that become unknown


def _silent(phase: str, rows: int, fraction: float) -> None:
    pass


def wants_streaming(path: Path) -> bool:
    """Whether a CSV is large enough to prepare by streaming (above :data:`STREAMING_BYTES`)."""
    return path.is_file() and path.stat().st_size > STREAMING_BYTES


# --- the split and the length sample, decided by a hash of each text ---


def text_hashes(texts: list[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent uint64 per text from a BLAKE2b keyed by ``seed``: the split key and the sample key.

    The same text gets the same keys in any chunk, on any machine, in any process (unlike ``hash()``).
    """
    key = seed.to_bytes(8, "little", signed=True)
    digests = b"".join(
        hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=16, key=key).digest() for t in texts
    )
    both = np.frombuffer(digests, dtype="<u8").reshape(-1, 2)
    return both[:, 0], both[:, 1]


def validation_mask(texts: list[str], seed: int, val_size: float) -> np.ndarray:
    """Which texts belong to the validation part in streaming mode: a share of ``val_size`` in expectation.

    The hash ignores the label, so every class gives about ``val_size`` of its rows (stratified in expectation);
    identical texts always land on the same side.
    """
    return _uniform(text_hashes(texts, seed)[0]) < val_size


def _uniform(keys: np.ndarray) -> np.ndarray:
    return (keys >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class _LengthSample:
    """The training lengths of the rows with the smallest sample keys: a fixed-size sample that any chunking
    of the same file gives alike."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.keys = np.zeros(0, np.uint64)
        self.lengths = np.zeros(0, np.int64)

    def add(self, keys: np.ndarray, lengths: np.ndarray) -> None:
        self.keys = np.concatenate([self.keys, keys])
        self.lengths = np.concatenate([self.lengths, lengths])
        if len(self.keys) > self.size:
            keep = np.argpartition(self.keys, self.size - 1)[: self.size]
            self.keys, self.lengths = self.keys[keep], self.lengths[keep]


# --- pass one: count and spill ---


@dataclass
class _Tally:
    """What pass one learns: token and class counts, the row counts, and the length sample."""

    token_ids: dict[str, int] = field(default_factory=dict)  # token -> spill id; 0 = not counted (cap reached)
    token_counts: np.ndarray = field(default_factory=lambda: np.zeros(1 << 16, np.int64))  # training occurrences
    label_ids: dict[str, int] = field(default_factory=dict)  # label -> spill id, in order of appearance
    class_counts: Counter[str] = field(default_factory=Counter)
    val_class_counts: Counter[str] = field(default_factory=Counter)
    lengths: _LengthSample = field(default_factory=lambda: _LengthSample(RESERVOIR_ROWS))
    rows_read: int = 0
    empty_text: int = 0
    empty_label: int = 0
    train_rows: int = 0
    val_rows: int = 0
    chunks: int = 0
    capped: bool = False

    def ids_of(self, tokens: list[list[str]]) -> np.ndarray:
        """Spill ids of every token, row after row; new tokens get new ids until :data:`MAX_TOKEN_TYPES`."""
        table = self.token_ids

        def new_id(token: str) -> int:
            if len(table) >= MAX_TOKEN_TYPES:
                self.capped = True
                return 0
            table[token] = len(table) + 1
            return len(table)

        known = table.get  # the common case stays in C: one dict look-up per token
        flat = [known(token) or new_id(token) for token in itertools.chain.from_iterable(tokens)]
        return np.array(flat, dtype=np.int32)

    def count(self, ids: np.ndarray) -> None:
        """Adds training occurrences of spill ids (as returned by :meth:`ids_of`)."""
        if len(self.token_ids) >= len(self.token_counts):
            grown = np.zeros(max(2 * len(self.token_counts), len(self.token_ids) + 1), np.int64)
            grown[: len(self.token_counts)] = self.token_counts
            self.token_counts = grown
        self.token_counts += np.bincount(ids, minlength=len(self.token_counts))


def _count_pass(
    source: LabelledTable, config: Config, spill: Path, val_texts: Any, chunk_rows: int, progress: Progress
) -> _Tally:
    """Pass one: tokenizes each chunk once, counts, and spills its token ids to ``spill``."""
    tally = _Tally()
    spill.mkdir(parents=True, exist_ok=True)
    rows = 0
    for chunk in source.chunks(chunk_rows):
        _spill_chunk(tally, chunk, config, spill / f"{tally.chunks:05d}.npz", val_texts)
        tally.chunks += 1
        rows += chunk.rows_read
        progress("reading", rows, chunk.fraction)
    return tally


def _spill_chunk(tally: _Tally, chunk: LabelledChunk, config: Config, path: Path, val_texts: Any) -> None:
    tally.rows_read += chunk.rows_read
    tally.empty_text += chunk.empty_text
    tally.empty_label += chunk.empty_label
    split_keys, sample_keys = text_hashes(chunk.texts, config.seed)
    val = _uniform(split_keys) < config.val_size
    tokens = [tokenize(t, config) for t in chunk.texts]
    lengths = np.array([len(t) for t in tokens], dtype=np.int32)
    ids = tally.ids_of(tokens)
    tally.count(ids[~np.repeat(val, lengths)])
    tally.lengths.add(sample_keys[~val], lengths[~val])
    tally.class_counts.update(chunk.labels)
    labels = np.array([tally.label_ids.setdefault(lab, len(tally.label_ids)) for lab in chunk.labels], dtype=np.int32)
    tally.val_rows += int(val.sum())
    tally.train_rows += int((~val).sum())
    for i in np.flatnonzero(val):
        val_texts.add(chunk.texts[i])
        tally.val_class_counts[chunk.labels[i]] += 1
    with path.open("wb") as fh:
        np.savez(fh, ids=ids, lengths=lengths, labels=labels, val=val)


def _check_tally(tally: _Tally, source: LabelledTable, config: Config) -> None:
    """Raises DataError when the rows cannot make a classifier, as the in-memory path does."""
    check_classes(tally.class_counts, source.file.path, source.text_column, source.label_column)
    if not tally.val_rows or not tally.train_rows:
        side = "validation" if not tally.val_rows else "training"
        raise DataError(
            f"{tally.train_rows + tally.val_rows} rows with --val-size {config.val_size} leave no "
            f"{side} row; add rows or change --val-size"
        )


def _vocabulary(
    run: RunDir, tally: _Tally, config: Config, progress: Progress
) -> tuple[Vocabulary, Config, dict[str, object] | None]:
    """The vocabulary :meth:`Vocabulary.build` makes from the same training rows, with the vectors' words.

    ``--unlabeled`` vectors learn from the unlabeled texts alone here: the training texts were not kept.
    """
    counts = {tok: int(tally.token_counts[i]) for tok, i in tally.token_ids.items()}
    vocab = Vocabulary.from_counts(counts.items(), config.vocab_size, config.min_count)
    return attach_vectors(run, vocab, counts, config, progress=progress)


# --- pass two: encode and write shards ---


@dataclass
class _Written:
    """What pass two wrote and measured."""

    parts: dict[str, dict[str, Any]]
    measured: EncodedTally = field(default_factory=EncodedTally)


def _encode_pass(
    run: RunDir, spill: Path, tally: _Tally, vocab: Vocabulary, labels: list[str], config: Config, progress: Progress
) -> _Written:
    """Pass two: maps each spilled chunk to vocabulary ids, pads it, and writes its train and val shards."""
    lookup = np.full(len(tally.token_ids) + 1, OOV_ID, dtype=np.int32)  # spill id -> vocabulary id
    for i, token in enumerate(vocab.tokens[2:], start=2):
        if token in tally.token_ids:  # a word only the pretrained vectors have (--embeddings) is in no row
            lookup[tally.token_ids[token]] = i
    label_of = np.array([labels.index(lab) for lab in tally.label_ids], dtype=np.int32)
    encoder = Encoder(config, vocab)
    written = _Written(
        {
            part: {"rows": 0, "length_counts": np.zeros(config.max_len + 1, np.int64), "shards": []}
            for part in SHARD_PARTS
        }
    )
    rows = 0
    for number in range(tally.chunks):
        path = spill / f"{number:05d}.npz"
        with np.load(path, allow_pickle=False) as chunk:
            _write_chunk(run, number, {k: chunk[k] for k in chunk.files}, lookup, label_of, encoder, written)
            rows += len(chunk["labels"])
        path.unlink()
        progress("writing", rows, (number + 1) / tally.chunks)
    shutil.rmtree(spill, ignore_errors=True)
    return written


def _write_chunk(
    run: RunDir,
    number: int,
    chunk: dict[str, np.ndarray],
    lookup: np.ndarray,
    label_of: np.ndarray,
    encoder: Encoder,
    written: _Written,
) -> None:
    config = encoder.config
    ids, lengths, val = lookup[chunk["ids"]], chunk["lengths"], chunk["val"]
    x = encoder.pad_flat(ids, lengths)
    y = label_of[chunk["labels"]]
    written.measured.add(ids, lengths, val, config.max_len)
    used = np.maximum(np.minimum(lengths, config.max_len), 1)  # what training's bucketing counts per row
    for part, rows in (("train", ~val), ("val", val)):
        if rows.any():
            entry = written.parts[part]
            entry["shards"].append(run.write_shard(part, number, x[rows], y[rows]))
            entry["rows"] += int(rows.sum())
            entry["length_counts"] += np.bincount(used[rows], minlength=config.max_len + 1)


def prepare_streaming(
    data_file: Path,
    run: RunDir,
    config: Config,
    chunk_rows: int | None = None,
    progress: Progress | None = None,
    input_format: str = "auto",
) -> tuple[Config, PrepareReport]:
    """Prepares ``data_file`` into ``run`` chunk by chunk: shards on disk, memory bounded by the chunk size.

    Tokenization is :func:`lstmcli.text.tokenize` with the resolved config, as in memory. The split differs:
    a hash of each text and ``config.seed`` decides its side (see :func:`validation_mask`), and ``max_len=auto``
    comes from a sample of :data:`RESERVOIR_ROWS` training lengths.

    Args:
        chunk_rows: rows per chunk, :data:`CHUNK_ROWS` by default.
        progress: told the phase, the rows done and the share of the file read, after every chunk.
        input_format: the table's format (:mod:`lstmcli.io.formats`); ``auto`` tells it.

    Raises:
        DataError: the file cannot be read, or its rows cannot make a classifier.
    """
    chunk_rows, progress = chunk_rows or CHUNK_ROWS, progress or _silent
    source = open_labelled(
        data_file,
        config.text_column,
        config.label_column,
        config.encoding,
        TOKENIZER_SAMPLE,
        header=config.header,
        input_format=input_format,
    )
    tokenizer, reason = resolve_tokenizer(config, source.head_texts)
    config = config.replace(text_column=source.text_column, label_column=source.label_column, tokenizer=tokenizer)
    spill = run.spill_dir()
    val_texts = run.open_val_texts()
    try:
        tally = _count_pass(source, config, spill, val_texts, chunk_rows, progress)
        _check_tally(tally, source, config)
        val_texts.close()
    except BaseException:
        val_texts.discard()
        shutil.rmtree(spill, ignore_errors=True)
        raise
    vocab, config, vectors = _vocabulary(run, tally, config, progress)
    labels = sorted(tally.class_counts)
    config, auto = resolve_max_len(config, tally.lengths.lengths)
    written = _encode_pass(run, spill, tally, vocab, labels, config, progress)
    built = Built((tokenizer, reason), tally.lengths.lengths, written.measured, len(vocab), auto, vectors)
    report = make_prepare_report(_read(data_file, source, tally), built, config, **_how(tally, chunk_rows))
    run.write_shard_index(
        config.max_len,
        {part: {**entry, "length_counts": entry["length_counts"].tolist()} for part, entry in written.parts.items()},
    )
    save_prepared(run, vocab, labels, config, report, data_file)
    return config, report


def _read(data_file: Path, source: LabelledTable, tally: _Tally) -> dict[str, Any]:
    """What reading the file found, for the report."""
    return {
        "data_file": str(data_file),
        "encoding": source.file.encoding,
        "text_column": source.text_column,
        "label_column": source.label_column,
        "rows_read": tally.rows_read,
        "dropped": {"empty text": tally.empty_text, "empty label": tally.empty_label},
        "class_counts": dict(sorted(tally.class_counts.items())),
        "train_rows": tally.train_rows,
        "val_rows": tally.val_rows,
    }


def _how(tally: _Tally, chunk_rows: int) -> dict[str, Any]:
    """How a streamed prepare ran: its notes, mode and split, for the report."""
    chunks = f"{tally.chunks} chunk{'s' if tally.chunks != 1 else ''}"
    notes = [
        f"read in {chunks} of up to {chunk_rows} rows into shards; validation rows chosen by a hash of each "
        "text and --seed (stratified in expectation; identical texts share a side)"
    ]
    if tally.train_rows > RESERVOIR_ROWS:
        notes.append(f"length percentiles and max_len=auto come from a sample of {RESERVOIR_ROWS} training texts")
    if tally.capped:
        notes.append(f"over {MAX_TOKEN_TYPES} distinct tokens: tokens first seen after that count as unknown")
    one_sided = sorted(lab for lab, n in tally.class_counts.items() if tally.val_class_counts[lab] in (0, n))
    if one_sided:
        notes.append(f"class {', '.join(repr(c) for c in one_sided[:5])} has rows on one side of the split only")
    return {"notes": notes, "mode": "streaming", "split": "hashed"}


# --- reading shards back ---


def iter_val_blocks(run: RunDir, rows: int = CHUNK_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The validation ids and labels of a sharded run, ``rows`` at a time."""
    for x, y in run.shard_arrays("val"):
        for start in range(0, len(y), rows):
            yield np.asarray(x[start : start + rows]), np.asarray(y[start : start + rows])
