"""The table formats lstmcli reads, in one registry: CSV, TSV, JSON Lines and fastText's ``__label__`` lines.

prepare and train (the training data), evaluate (labelled data to score) and predict (texts to label) all tell a
file's format here (:func:`format_of`, :func:`labelled_format_of`) and read its rows through
:func:`table_frames`, a chunk of rows at a time, every cell a string. A new format is a reader and one entry
in :data:`FORMATS`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lstmcli.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 2048  # table rows read at a time, unless the caller says otherwise
FASTTEXT_LABEL = "__label__"  # fastText's label prefix: "__label__sports some text"


@dataclass(frozen=True)
class Source:
    """One table being read: its stream from the first byte, its first bytes, and how to decode it.

    Attributes:
        stream: the bytes from the start (the first ones put back where they had been read already).
        sample: the first bytes, for what a format tells from them (a CSV's delimiter).
        name: the file, for the messages.
        codec: a Python codec name.
        header: whether a CSV or TSV's first row names its columns; without, they are named 1, 2, ...
        errors: ``strict`` refuses bytes that do not decode; ``replace`` makes them U+FFFD.
    """

    stream: BinaryIO
    sample: bytes
    name: str
    codec: str
    header: bool = True
    errors: str = "strict"


Reader = Callable[[Source, "int | None"], Iterator["pd.DataFrame"]]


@dataclass(frozen=True)
class TableFormat:
    """A format: its name (``--input-format``), the extensions that tell it, and its reader.

    ``reader(source, chunk_rows)`` yields the table ``chunk_rows`` rows at a time (None: all at once), at least
    one frame. ``sniff``, if any, tells the format from a file's first line whatever its extension. A ``binary``
    format (Parquet, say) is neither refused for its NUL bytes nor decoded: its reader gets the bytes.
    """

    name: str
    suffixes: tuple[str, ...]
    reader: Reader
    sniff: Callable[[str], bool] | None = None
    binary: bool = False


def read_csv(source: Any, sep: str, encoding: str, header: bool = True, **options: Any) -> Any:
    """pandas' C reader with every cell a string (no NA guessing); ``options`` such as ``chunksize`` pass on."""
    import pandas as pd

    return pd.read_csv(
        source,
        sep=sep,
        dtype=str,
        keep_default_na=False,
        encoding=encoding,
        engine="c",
        skip_blank_lines=True,
        header=0 if header else None,
        **options,
    )


def named(frame: pd.DataFrame, header: bool) -> pd.DataFrame:
    """A table read without a header gets its columns named 1, 2, ... (``--text-column 2``, as ``cut -f2``)."""
    if not header:
        frame.columns = [str(i + 1) for i in range(len(frame.columns))]
    return frame


def delimiter_of(head: str) -> str:
    """The delimiter of a CSV starting with ``head``: the most frequent of , tab ; | in its first line."""
    first_line = head.split("\n", 1)[0]
    counts = {sep: first_line.count(sep) for sep in (",", "\t", ";", "|")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


@contextlib.contextmanager
def read_errors(path: Path | str, encoding: str) -> Iterator[None]:
    """Turns decoding and parse errors into one-line DataErrors naming the fix."""
    import pandas as pd

    try:
        yield
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not valid {encoding} (byte {exc.start}); pass --encoding with the file's encoding"
        ) from None
    except pd.errors.ParserError as exc:
        raise DataError(
            f"{path} is not a well-formed CSV: {_first_line(exc)}; check quoting and the delimiter"
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty; expected a CSV with a header row and one text per row") from None
    except csv.Error as exc:
        raise DataError(f"{path} is not a well-formed CSV: {exc}") from None


def lines(stream: BinaryIO, codec: str, errors: str = "replace", head: bytes = b"") -> Iterator[str]:
    """The decoded lines of ``head`` and the rest of ``stream``, without their line ends."""
    decoder = codecs.getincrementaldecoder(codec)(errors=errors)
    pending = ""
    chunk = head or stream.read(1 << 16)
    while chunk:
        pending += decoder.decode(chunk)
        parts = pending.split("\n")
        pending = parts.pop()
        for line in parts:
            yield line.rstrip("\r")
        chunk = stream.read(1 << 16)
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending.rstrip("\r")


def _delimited(tab: bool) -> Reader:
    def read(source: Source, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
        sep = "\t" if tab else delimiter_of(source.sample.decode(source.codec, errors="replace"))
        options = {"encoding_errors": source.errors}
        with read_errors(source.name, source.codec):
            if chunk_rows is None:
                yield named(read_csv(source.stream, sep, source.codec, source.header, **options), source.header)
                return
            with read_csv(source.stream, sep, source.codec, source.header, chunksize=chunk_rows, **options) as chunks:
                for frame in chunks:
                    yield named(frame, source.header)

    return read


def _records(
    source: Source, chunk_rows: int | None, parse: Callable[[str, int], dict[str, str] | None], columns: list[str]
) -> Iterator[pd.DataFrame]:
    """The frames of a format with one record a line: ``parse(line, number)`` gives a row, or None to skip it."""
    import pandas as pd

    def frame(rows: list[dict[str, str]]) -> pd.DataFrame:
        return pd.DataFrame.from_records(rows, columns=columns or None).fillna("")

    rows: list[dict[str, str]] = []
    yielded = False
    with read_errors(source.name, source.codec):
        for number, line in enumerate(lines(source.stream, source.codec, source.errors), start=1):
            row = parse(line, number)
            if row is not None:
                rows.append(row)
            if chunk_rows and len(rows) == chunk_rows:
                yield frame(rows)
                rows, yielded = [], True
    if rows or not yielded:
        yield frame(rows)


def _jsonl(source: Source, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    def parse(line: str, number: int) -> dict[str, str]:
        try:
            record = json.loads(line) if line.strip() else {}
        except json.JSONDecodeError as exc:
            raise DataError(
                f"line {number} of {source.name} is not valid JSON ({exc.msg}); expected one object per line"
            ) from None
        if not isinstance(record, dict):
            raise DataError(f"line {number} of {source.name} is not a JSON object; expected one object per line")
        return {str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in record.items()}

    return _records(source, chunk_rows, parse, [])


_FASTTEXT_LABEL = re.compile(rf"(?<!\S){FASTTEXT_LABEL}(\S*)")


def _fasttext(source: Source, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    """fastText's training lines: ``__label__sports some text``; a line without a label has an empty one."""

    def parse(line: str, number: int) -> dict[str, str] | None:
        if not line.strip():
            return None
        labels = _FASTTEXT_LABEL.findall(line)
        if len(labels) > 1:
            raise DataError(
                f"line {number} of {source.name} has {len(labels)} labels ({', '.join(labels[:5])}); lstmcli "
                f"learns one label per text: keep one {FASTTEXT_LABEL} per line"
            )
        return {"text": _FASTTEXT_LABEL.sub("", line, count=1).strip(), "label": labels[0] if labels else ""}

    return _records(source, chunk_rows, parse, ["text", "label"])


def _parquet(source: Source, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    """A Parquet file's rows, a record batch of at most ``chunk_rows`` at a time, every cell a string; needs pyarrow."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("reading Parquet needs pyarrow, which is not installed; pip install pyarrow") from None
    try:
        table = pq.ParquetFile(source.stream)
        batches = table.iter_batches(batch_size=chunk_rows or max(table.metadata.num_rows, 1))
        yielded = False
        for batch in batches:
            yield _strings(batch.to_pandas())
            yielded = True
        if not yielded:
            yield _strings(table.schema_arrow.empty_table().to_pandas())
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"{source.name} is not a readable Parquet file ({_first_line(exc)})") from None


def _strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as a string, as the text formats read them: missing values empty, others as ``str`` shows them."""
    return frame.apply(lambda column: column.map(lambda v: "" if v is None or v != v else str(v))).astype(str)


FORMATS: dict[str, TableFormat] = {
    f.name: f
    for f in (
        TableFormat("csv", (".csv",), _delimited(tab=False)),
        TableFormat("tsv", (".tsv", ".tab"), _delimited(tab=True)),
        TableFormat("jsonl", (".jsonl", ".ndjson"), _jsonl),
        TableFormat("fasttext", (), _fasttext, sniff=lambda first_line: first_line.startswith(FASTTEXT_LABEL)),
        TableFormat("parquet", (".parquet", ".pq"), _parquet, binary=True),
    )
}
_BY_SUFFIX = {suffix: f.name for f in FORMATS.values() for suffix in f.suffixes}


def formats_help() -> str:
    """``--input-format``'s help: the formats, and how ``auto`` tells them."""
    told = ", ".join(f"{'/'.join(f.suffixes)} {f.name}" for f in FORMATS.values() if f.suffixes)
    return (
        f"auto: by extension ({told}); else, for labelled data, fastText's {FASTTEXT_LABEL} lines told by their "
        f"first line, or CSV; for predict, text. Or text (one text per line), {', '.join(FORMATS)}."
    )


def format_of(path: Path, given: str = "auto", default: str = "text") -> str:
    """The format of ``path``: the one given, else told by its extension, else ``default`` (stdin too)."""
    if given != "auto":
        return given
    return _BY_SUFFIX.get(path.suffix.lower(), default) if str(path) != "-" else default


def is_binary(name: str) -> bool:
    """Whether ``name`` is a table format whose files are bytes, not text."""
    return name in FORMATS and FORMATS[name].binary


def labelled_format_of(path: Path, given: str, first_line: str) -> str:
    """The table format of labelled data: the one given, else by extension, else by its first line, else CSV.

    Raises:
        ConfigError: ``given`` is not a table format.
    """
    name = format_of(path, given, default="")
    if name and name not in FORMATS:
        known = ", ".join(FORMATS)
        if name == "text":
            raise ConfigError(f"--input-format text has no labels; labelled data is one of: {known}")
        raise ConfigError(f"unknown input format '{name}'; formats are: {known}")
    sniffed = (f.name for f in FORMATS.values() if f.sniff and f.sniff(first_line.lstrip("\ufeff")))
    return name or next(sniffed, "csv")


def table_frames(
    head: bytes,
    stream: BinaryIO,
    name: str,
    fmt: str,
    codec: str,
    header: bool = True,
    chunk_rows: int | None = CHUNK_ROWS,
    errors: str = "replace",
) -> Generator[pd.DataFrame, None, None]:
    """Yields the table ``fmt`` of ``stream`` ``chunk_rows`` rows at a time (None: whole), every cell a string.

    ``head`` is what was already read of ``stream``; it is put back in front.

    Raises:
        DataError: the table is malformed, or (``errors="strict"``) its bytes do not decode.
    """
    whole = _rewound(head, stream)
    yield from FORMATS[fmt].reader(Source(whole, head, name, codec, header, errors), chunk_rows)


def _rewound(head: bytes, stream: BinaryIO) -> BinaryIO:
    """``stream`` from where ``head`` began: sought back where it can be (no copy on the way), else wrapped."""
    if not head:
        return stream
    with contextlib.suppress(OSError, ValueError):
        if stream.seekable():
            stream.seek(stream.tell() - len(head))
            return stream
    return io.BufferedReader(_Rewound(head, stream))  # type: ignore[return-value]


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


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
