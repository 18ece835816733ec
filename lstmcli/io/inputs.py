"""Texts to label: lines of text files, or rows of CSV, TSV and JSON Lines tables, from files, directories and stdin.

Everything streams: text is decoded incrementally and tables are read ``CHUNK_ROWS`` rows at a time, so memory
stays flat on any input size. Invalid bytes become U+FFFD and are counted for one warning.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from lstmcli.errors import ConfigError, DataError
from lstmcli.io.encoding import codec_name, looks_binary, sniff_encoding

if TYPE_CHECKING:
    import pandas as pd

_HEAD_BYTES = 1 << 16  # the start of an input read to tell its encoding
CHUNK_ROWS = 2048  # table rows read at a time
INPUT_FORMATS = ("auto", "text", "csv", "tsv", "jsonl")
_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class InputCounter:
    """Counts the invalid bytes replaced while decoding input, for one warning at the end."""

    def __init__(self) -> None:
        self.replaced = 0


@dataclass(frozen=True)
class InputSpec:
    """How to read the inputs.

    Attributes:
        input_format: ``auto`` (by the file's extension: .csv, .tsv/.tab, .jsonl/.ndjson, else text), ``text``
            (one text per line), ``csv``, ``tsv`` or ``jsonl``.
        encoding: a Python codec name, or ``auto``.
        per_file: each text file is one text.
        text_column: a table's text column; "" picks the trained one, else an obvious one (as prepare does).
        keep_columns: table columns carried through to the output beside each prediction.
        header: whether a CSV or TSV's first row names its columns; without, they are named 1, 2, ...
        trained_column: the text column the run was trained on, preferred where a table has it.
    """

    input_format: str = "auto"
    encoding: str = "auto"
    per_file: bool = False
    text_column: str = ""
    keep_columns: tuple[str, ...] = ()
    header: bool = True
    trained_column: str = ""

    def check(self) -> None:
        """Raises ConfigError for options that contradict each other."""
        if self.input_format not in INPUT_FORMATS:
            raise ConfigError(f"unknown input format '{self.input_format}'; formats are: {', '.join(INPUT_FORMATS)}")
        if self.per_file and self.input_format in ("csv", "tsv", "jsonl"):
            raise ConfigError("--per-file reads each text file as one text; it does not apply to tables")


@dataclass(frozen=True)
class InputRow:
    """One text to label: where it came from, the text, and the values of ``keep_columns`` in its row."""

    source: str
    text: str
    kept: tuple[str, ...] = ()


def format_of(path: Path, given: str) -> str:
    """The format of ``path``: the one given, else told by its extension (stdin and others: text)."""
    if given != "auto":
        return given
    return _BY_SUFFIX.get(path.suffix.lower(), "text") if str(path) != "-" else "text"


def names_files(inputs: list[Path], per_file: bool) -> bool:
    """Whether the output should say which file each text came from: several files, a directory, --per-file."""
    return per_file or len(inputs) > 1 or any(str(p) != "-" and p.is_dir() for p in inputs)


def read_inputs(
    inputs: list[Path], per_file: bool, encoding: str, counter: InputCounter, stdin: BinaryIO | None = None
) -> Iterator[tuple[str, str]]:
    """Yields ``(source, text)``: one per line, or one per file with ``per_file``; ``-`` is stdin."""
    for row in read_rows(inputs, InputSpec(encoding=encoding, per_file=per_file), counter, stdin):
        yield row.source, row.text


def read_rows(
    inputs: list[Path], spec: InputSpec, counter: InputCounter, stdin: BinaryIO | None = None
) -> Iterator[InputRow]:
    """Yields an :class:`InputRow` per line of a text input, or per row of a table.

    Directories stand for the files in them (sorted, not recursive); ``-`` is stdin.

    Raises:
        DataError: a file is missing, unreadable, binary, or a table is malformed or lacks a column.
    """
    for path in _expand(inputs):
        with _opened(path, stdin) as stream:
            source = str(path)
            head = stream.read(_HEAD_BYTES)
            if looks_binary(head):
                name = "stdin" if source == "-" else source
                raise DataError(f"{name} looks like a binary file (it contains NUL bytes); expected text")
            fmt = format_of(path, spec.input_format)
            if fmt == "text":
                if spec.keep_columns:
                    raise ConfigError("--keep-columns needs a table: a .csv, .tsv or .jsonl file, or --input-format")
                yield from _text_rows(head, stream, source, spec, counter)
            else:
                frames = table_frames(head, stream, source, fmt, spec.encoding, spec.header)
                yield from _table_rows(frames, source, spec, counter)


@contextlib.contextmanager
def _opened(path: Path, stdin: BinaryIO | None) -> Iterator[BinaryIO]:
    if str(path) == "-":
        yield stdin or sys.stdin.buffer
        return
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        yield fh


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


def _text_rows(
    head: bytes, stream: BinaryIO, source: str, spec: InputSpec, counter: InputCounter
) -> Iterator[InputRow]:
    codec = _input_encoding(head, spec.encoding)
    if spec.per_file:
        text = codecs.decode(head + stream.read(), codec, errors="replace")
        counter.replaced += text.count("\ufffd")
        yield InputRow(source, " ".join(text.split()))
        return
    for line in _lines(head, stream, codec):
        counter.replaced += line.count("\ufffd")
        yield InputRow(source, line)


def _lines(head: bytes, stream: BinaryIO, codec: str) -> Iterator[str]:
    """The decoded lines of ``head`` and the rest of ``stream``, without their line ends."""
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    pending = ""
    chunk = head
    while chunk:
        pending += decoder.decode(chunk)
        lines = pending.split("\n")
        pending = lines.pop()
        for line in lines:
            yield line.rstrip("\r")
        chunk = stream.read(1 << 16)
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending.rstrip("\r")


def _input_encoding(head: bytes, encoding: str) -> str:
    """The given encoding, else the one sniffed from the first bytes; undecidable input is read as UTF-8.

    UTF-8 with a few damaged bytes stays UTF-8: the bad bytes are replaced and counted for the warning.
    """
    if encoding != "auto":
        return codec_name(encoding)
    return sniff_encoding(head, complete=len(head) < _HEAD_BYTES) or "utf-8"


# --- tables ---


def table_frames(
    head: bytes,
    stream: BinaryIO,
    source: str,
    fmt: str,
    encoding: str,
    header: bool,
    chunk_rows: int = CHUNK_ROWS,
    errors: str = "replace",
) -> Iterator[pd.DataFrame]:
    """Yields a CSV, TSV or JSON Lines table ``chunk_rows`` rows at a time, every cell a string.

    ``head`` is what was already read of ``stream``. Without ``header`` a CSV's columns are named 1, 2, ...
    ``errors="strict"`` refuses bytes that do not decode, instead of replacing them with U+FFFD.

    Raises:
        DataError: the table is malformed.
    """
    from lstmcli.io.tables import csv_errors, delimiter_of, named, read_csv

    codec = _input_encoding(head, encoding)
    if fmt == "jsonl":
        yield from _jsonl_frames(head, stream, source, codec, chunk_rows)
        return
    sep = "\t" if fmt == "tsv" else delimiter_of(head.decode(codec, errors="replace"))
    raw = io.BufferedReader(_Rewound(head, stream))
    with csv_errors(Path(source), codec):
        with read_csv(raw, sep, codec, header, encoding_errors=errors, chunksize=chunk_rows) as reader:
            for frame in reader:
                yield named(frame, header)


def read_table_frames(
    path: Path, fmt: str, encoding: str, header: bool, chunk_rows: int = CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """A table file's frames (see :func:`table_frames`), its bytes decoded strictly.

    Raises:
        DataError: the file is missing, empty, binary, does not decode or is malformed.
    """
    if not path.is_file():
        raise DataError(f"{path} is a directory; expected a file" if path.is_dir() else f"file not found: {path}")
    with _opened(path, None) as stream:
        head = stream.read(_HEAD_BYTES)
        if looks_binary(head):
            raise DataError(f"{path} looks like a binary file (it contains NUL bytes); expected text")
        if not head.strip():
            raise DataError(f"{path} is empty; expected one row per text")
        yield from table_frames(head, stream, str(path), fmt, encoding, header, chunk_rows, errors="strict")


def _jsonl_frames(head: bytes, stream: BinaryIO, source: str, codec: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pandas as pd

    rows: list[dict[str, str]] = []
    for number, line in enumerate(_lines(head, stream, codec), start=1):
        try:
            record = json.loads(line) if line.strip() else {}
        except json.JSONDecodeError as exc:
            raise DataError(
                f"line {number} of {source} is not valid JSON ({exc.msg}); expected one object per line"
            ) from None
        if not isinstance(record, dict):
            raise DataError(f"line {number} of {source} is not a JSON object; expected one object per line")
        rows.append({str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in record.items()})
        if len(rows) == chunk_rows:
            yield pd.DataFrame.from_records(rows).fillna("")
            rows = []
    if rows:
        yield pd.DataFrame.from_records(rows).fillna("")


class _Rewound(io.RawIOBase):
    """``stream`` with the ``head`` already read from it put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head = head
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.head[: len(buffer)] if self.head else self.stream.read(len(buffer))
        self.head = self.head[len(data) :] if self.head else b""
        buffer[: len(data)] = data
        return len(data)


def _table_rows(
    frames: Iterator[pd.DataFrame], source: str, spec: InputSpec, counter: InputCounter
) -> Iterator[InputRow]:
    columns: list[str] = []
    for frame in frames:
        if not columns:
            columns = [text_column_of(frame, source, spec), *keep_columns_of(frame, source, spec.keep_columns)]
        values = [frame[c].tolist() if c in frame.columns else [""] * len(frame) for c in columns]
        for text, *kept in zip(*values):
            counter.replaced += text.count("\ufffd")
            yield InputRow(source, text, tuple(kept))


def text_column_of(frame: pd.DataFrame, source: str, spec: InputSpec) -> str:
    """The table's text column: the one named, else the run's, else an obvious name, else its only column.

    A table without a header has no names: its longest column (in mean length) holds the text.

    Raises:
        DataError: no column fits; the message lists the columns.
    """
    from lstmcli.io.tables import TEXT_COLUMNS, pick_column

    columns = [str(c) for c in frame.columns]
    if spec.text_column:
        return pick_column(frame, spec.text_column, TEXT_COLUMNS, "text", Path(source))
    if spec.header and spec.trained_column in columns:
        return spec.trained_column
    if len(columns) == 1:
        return columns[0]
    if not spec.header:
        return max(columns, key=lambda c: frame[c].str.len().mean())
    return pick_column(frame, "", TEXT_COLUMNS, "text", Path(source))


def keep_columns_of(frame: pd.DataFrame, source: str, keep: tuple[str, ...]) -> list[str]:
    """``keep``, each checked to be a column of the table.

    Raises:
        DataError: a column is missing; the message lists the table's columns.
    """
    columns = [str(c) for c in frame.columns]
    missing = [c for c in keep if c not in columns]
    if missing:
        raise DataError(
            f"--keep-columns: no column {', '.join(repr(c) for c in missing)} in {source}; "
            f"columns are: {', '.join(columns)}"
        )
    return list(keep)
