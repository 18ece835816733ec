"""``predict``: label texts with a trained run, in NumPy, streaming in batches.

Nothing here imports TensorFlow: :mod:`lstmcli.inference` runs the network from the exported weights.
"""

from __future__ import annotations

import codecs
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from lstmcli.config import Config
from lstmcli.encoding import sniff_encoding
from lstmcli.errors import DataError
from lstmcli.inference import predict_proba
from lstmcli.rundir import RunDir
from lstmcli.text import OOV_ID, Vocabulary, check_tokenizer, pad, tokenize

BATCH = 2048  # texts read, labelled and written at a time: memory stays flat on any input size
SUB_BATCH = 256  # texts of similar length run through the network together
_HEAD_BYTES = 1 << 16  # the start of an input read to tell its encoding


class Predictor:
    """A trained run, loaded once: texts in, class probabilities out."""

    def __init__(self, run: RunDir) -> None:
        run.check("trained")
        self.config: Config = run.read_config()
        check_tokenizer(self.config.tokenizer)
        self.vocab: Vocabulary = run.read_vocab()
        self.labels: list[str] = run.read_labels()
        self.weights = run.read_weights()
        if self.weights["output_bias"].shape[0] != len(self.labels):
            raise DataError(f"{run.path}: the model has {self.weights['output_bias'].shape[0]} outputs but "
                            f"{len(self.labels)} labels; train the run again")

    def encode(self, texts: list[str]) -> np.ndarray:
        """Padded ids ``(n, max_len)`` built exactly as prepare built the training data."""
        ids = [self.vocab.ids(tokenize(t, self.config)) or [OOV_ID] for t in texts]
        return pad(ids, self.config.max_len, self.config.padding, self.config.truncating)

    def proba_ids(self, ids: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, n_classes)`` for padded ids ``(n, max_len)``.

        With masking, rows are run in groups of similar length, each cut to its longest row: the
        result is the same as on the full padding, only faster.
        """
        if not self.config.mask:
            return np.concatenate([predict_proba(self.weights, self.config, ids[i : i + SUB_BATCH])
                                   for i in range(0, len(ids), SUB_BATCH)] or [np.zeros((0, len(self.labels)), np.float32)])
        lengths = np.count_nonzero(ids, axis=1)
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        front = self.config.padding == "pre"
        for start in range(0, len(ids), SUB_BATCH):
            rows = order[start : start + SUB_BATCH]
            longest = max(int(lengths[rows].max()), 1)
            batch = ids[rows, -longest:] if front else ids[rows, :longest]
            out[rows] = predict_proba(self.weights, self.config, batch)
        return out

    def proba(self, texts: list[str]) -> np.ndarray:
        return self.proba_ids(self.encode(texts))


@dataclass(frozen=True)
class Prediction:
    """One input text's result; ``text`` is None for an empty line (which still gets an output line)."""

    source: str
    text: str | None
    probabilities: np.ndarray | None


def predict_texts(predictor: Predictor, texts: Iterable[tuple[str, str]]) -> Iterator[Prediction]:
    """Labels ``(source, text)`` pairs in input order, ``BATCH`` at a time."""
    batch: list[tuple[str, str]] = []
    for item in texts:
        batch.append(item)
        if len(batch) == BATCH:
            yield from _label_batch(predictor, batch)
            batch = []
    if batch:
        yield from _label_batch(predictor, batch)


def _label_batch(predictor: Predictor, batch: list[tuple[str, str]]) -> Iterator[Prediction]:
    filled = [i for i, (_, text) in enumerate(batch) if text.strip()]
    probs = predictor.proba([batch[i][1] for i in filled]) if filled else np.zeros((0, 0))
    by_row = dict(zip(filled, probs))
    for i, (source, text) in enumerate(batch):
        yield Prediction(source, text if i in by_row else None, by_row.get(i))


class InputCounter:
    """Counts the invalid bytes replaced while decoding input, for one warning at the end."""

    def __init__(self) -> None:
        self.replaced = 0


def read_inputs(inputs: list[Path], per_file: bool, encoding: str, counter: InputCounter,
                stdin: BinaryIO | None = None) -> Iterator[tuple[str, str]]:
    """Yields ``(source, text)``: one per line, or one per file with ``per_file``; ``-`` is stdin.

    Directories stand for the files in them (sorted, not recursive). Invalid bytes become U+FFFD.
    """
    for path in _expand(inputs):
        if str(path) == "-":
            stream = stdin or sys.stdin.buffer
            yield from _read_stream(stream, "-", per_file, encoding, counter)
            continue
        try:
            with path.open("rb") as fh:
                yield from _read_stream(fh, str(path), per_file, encoding, counter)
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror}") from None


def _expand(inputs: list[Path]) -> Iterator[Path]:
    for path in inputs:
        if str(path) == "-":
            yield path
        elif path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif not path.exists():
            raise DataError(f"input file not found: {path}")
        else:
            yield path


def _read_stream(stream: BinaryIO, source: str, per_file: bool, encoding: str,
                 counter: InputCounter) -> Iterator[tuple[str, str]]:
    head = stream.read(_HEAD_BYTES)
    codec = _input_encoding(head, encoding)
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    if per_file:
        text = decoder.decode(head + stream.read(), final=True)
        counter.replaced += text.count("\ufffd")
        yield source, " ".join(text.split())
        return
    pending = ""
    chunk = head
    while chunk:
        pending += decoder.decode(chunk)
        lines = pending.split("\n")
        pending = lines.pop()
        for line in lines:
            counter.replaced += line.count("\ufffd")
            yield source, line.rstrip("\r")
        chunk = stream.read(1 << 16)
    pending += decoder.decode(b"", final=True)
    if pending:
        counter.replaced += pending.count("\ufffd")
        yield source, pending.rstrip("\r")


def _input_encoding(head: bytes, encoding: str) -> str:
    """The given encoding, else the one sniffed from the first bytes; undecidable input is read as UTF-8.

    UTF-8 with a few damaged bytes stays UTF-8: the bad bytes are replaced and counted for the warning.
    """
    if encoding != "auto":
        return encoding
    return sniff_encoding(head, complete=len(head) < _HEAD_BYTES) or "utf-8"
