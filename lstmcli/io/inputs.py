"""Texts to label: lines of files, directories and stdin, decoded incrementally, invalid bytes counted."""

from __future__ import annotations

import codecs
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lstmcli.errors import DataError
from lstmcli.io.encoding import sniff_encoding

_HEAD_BYTES = 1 << 16  # the start of an input read to tell its encoding


class InputCounter:
    """Counts the invalid bytes replaced while decoding input, for one warning at the end."""

    def __init__(self) -> None:
        self.replaced = 0


def read_inputs(
    inputs: list[Path], per_file: bool, encoding: str, counter: InputCounter, stdin: BinaryIO | None = None
) -> Iterator[tuple[str, str]]:
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


def _read_stream(
    stream: BinaryIO, source: str, per_file: bool, encoding: str, counter: InputCounter
) -> Iterator[tuple[str, str]]:
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
        try:
            return codecs.lookup(encoding).name
        except LookupError:
            raise DataError(
                f"unknown encoding '{encoding}'; use a Python codec name such as utf-8, latin-1, gb18030"
            ) from None
    return sniff_encoding(head, complete=len(head) < _HEAD_BYTES) or "utf-8"
