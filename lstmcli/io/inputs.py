"""Texts to label: lines of text files, or rows of tables (:mod:`lstmcli.io.formats`), from files, directories and
stdin.

Everything streams: text is decoded incrementally and tables are read a chunk of rows at a time, so memory stays
flat on any input size. Invalid bytes become U+FFFD and are counted for one warning.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from lstmcli.errors import ConfigError, DataError
from lstmcli.io.encoding import codec_name, looks_binary, sniff_encoding
from lstmcli.io.formats import FORMATS, format_of, is_binary, lines, table_frames

if TYPE_CHECKING:
    import pandas as pd

_HEAD_BYTES = 1 << 16  # the start of an input read to tell its encoding
INPUT_FORMATS = ("auto", "text", *FORMATS)


class InputCounter:
    """Counts the invalid bytes replaced while decoding input, for one warning at the end."""

    def __init__(self) -> None:
        self.replaced = 0


@dataclass(frozen=True)
class InputSpec:
    """How to read the inputs.

    Attributes:
        input_format: ``auto`` (by the file's extension, else text), ``text`` (one text per line), or a table
            format of :data:`lstmcli.io.formats.FORMATS`.
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
        if self.per_file and self.input_format in FORMATS:
            raise ConfigError("--per-file reads each text file as one text; it does not apply to tables")


@dataclass(frozen=True)
class InputRow:
    """One text to label: where it came from, the text, and the values of ``keep_columns`` in its row."""

    source: str
    text: str
    kept: tuple[str, ...] = ()


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
            fmt = format_of(path, spec.input_format)
            if looks_binary(head) and not is_binary(fmt):
                name = "stdin" if source == "-" else source
                raise DataError(f"{name} looks like a binary file (it contains NUL bytes); expected text")
            if fmt == "text":
                if spec.keep_columns:
                    raise ConfigError(f"--keep-columns needs a table: {', '.join(FORMATS)} (see --input-format)")
                yield from _text_rows(head, stream, source, spec, counter)
            else:
                codec = _input_encoding(head, spec.encoding)
                frames = table_frames(head, stream, source, fmt, codec, spec.header)
                with contextlib.closing(frames):  # the reader goes before the file it reads, whatever stops it
                    yield from _table_rows(frames, source, spec, counter)


@contextlib.contextmanager
def _opened(path: Path, stdin: BinaryIO | None) -> Iterator[BinaryIO]:
    if str(path) == "-":
        own = None if stdin is not None else _own_stdin()
        if own is None:
            yield stdin or sys.stdin.buffer
            return
        with own:
            yield own
        return
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        yield fh


def _own_stdin() -> BinaryIO | None:
    """A reader of standard input of its own, on a copy of its descriptor: prediction reads on a thread, and a
    thread left waiting for input (Ctrl-C, or the output closed) then holds no lock of ``sys.stdin``, which the
    interpreter takes as it exits (it aborts otherwise). None where stdin has no descriptor (a replaced stdin)."""
    try:
        return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    except (AttributeError, OSError, ValueError):
        return None


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
    for line in lines(stream, codec, head=head):
        counter.replaced += line.count("\ufffd")
        yield InputRow(source, line)


def _input_encoding(head: bytes, encoding: str) -> str:
    """The given encoding, else the one sniffed from the first bytes; undecidable input is read as UTF-8.

    UTF-8 with a few damaged bytes stays UTF-8: the bad bytes are replaced and counted for the warning.
    """
    if encoding != "auto":
        return codec_name(encoding)
    return sniff_encoding(head, complete=len(head) < _HEAD_BYTES) or "utf-8"


# --- tables ---


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
    from lstmcli.io.tables import TEXT_COLUMNS, longest_column, pick_column

    columns = [str(c) for c in frame.columns]
    if spec.text_column:
        return pick_column(frame, spec.text_column, TEXT_COLUMNS, "text", Path(source))
    if spec.header and spec.trained_column in columns:
        return spec.trained_column
    if len(columns) == 1:
        return columns[0]
    if not spec.header:
        return longest_column(frame)
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
