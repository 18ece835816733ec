"""Reading labelled CSV/TSV files: encoding, delimiter, column choice, and rows that cannot be used."""

from __future__ import annotations

import codecs
import contextlib
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lstmcli.errors import DataError
from lstmcli.io.encoding import BOMS, sniff_encoding

TEXT_COLUMNS = (
    "text",
    "sentence",
    "review",
    "content",
    "body",
    "message",
    "tweet",
    "comment",
    "document",
    "description",
    "title",
    "headline",
    "utterance",
    "query",
    "question",
)
LABEL_COLUMNS = ("label", "labels", "category", "class", "sentiment", "target", "topic", "intent", "tag", "y")
_BOMS_WITH_NULS = tuple(bom for bom, name in BOMS if name != "utf-8-sig")  # UTF-16 and UTF-32 text has NUL bytes
_SAMPLE_BYTES = 1 << 20


@dataclass(frozen=True)
class LabelledTexts:
    """Texts and labels read from one file, with what was chosen and dropped on the way."""

    texts: list[str]
    labels: list[str]
    text_column: str
    label_column: str
    encoding: str
    rows_read: int
    dropped_empty_text: int
    dropped_empty_label: int


def detect_encoding(path: Path, sample: bytes | None = None) -> str:
    """Names the encoding of a file: its BOM, else UTF-8 if it decodes, else the legacy encoding that reads best.

    See :func:`lstmcli.io.encoding.sniff_encoding`: short files in GBK, Big5 or cp1252 are told apart too.

    Raises:
        DataError: the bytes look binary or match no known encoding.
    """
    if sample is None:
        with path.open("rb") as fh:
            sample = fh.read(_SAMPLE_BYTES)
    complete = len(sample) < _SAMPLE_BYTES
    if b"\x00" in sample and not sample.startswith(_BOMS_WITH_NULS):
        raise DataError(f"{path} looks like a binary file (it contains NUL bytes); expected a text CSV")
    name = sniff_encoding(sample, complete)
    if name is None:
        raise DataError(f"cannot tell the text encoding of {path}; pass --encoding, e.g. --encoding latin-1")
    return name


def read_labelled(path: Path, text_column: str = "", label_column: str = "", encoding: str = "auto") -> LabelledTexts:
    """Reads a CSV or TSV of texts and labels.

    Args:
        path: the file; ``.tsv``/``.tab`` files are tab-separated, others sniffed among , ; | and tab.
        text_column: the text column, or "" to pick an obvious one.
        label_column: the label column, or "" to pick an obvious one.
        encoding: a Python codec name, or "auto".

    Raises:
        DataError: unreadable file, unknown columns or no usable rows.
    """
    frame, encoding = read_table(path, encoding)
    if len(frame.columns) == 1:
        raise DataError(
            f"{path} has a single column ('{frame.columns[0]}'); expected a text and a label column "
            "separated by commas, semicolons, | or tabs (a .tsv file must be tab-separated)"
        )
    text_col = pick_column(frame, text_column, TEXT_COLUMNS, "text", path)
    label_col = pick_column(frame, label_column, LABEL_COLUMNS, "label", path)
    if text_col == label_col:
        raise DataError(f"text and label columns are both '{text_col}' in {path}; pass different columns")
    texts = frame[text_col].str.strip()
    labels = frame[label_col].str.strip()
    empty_text, empty_label = texts == "", labels == ""
    keep = ~(empty_text | empty_label)
    return LabelledTexts(
        texts=texts[keep].tolist(),
        labels=labels[keep].tolist(),
        text_column=text_col,
        label_column=label_col,
        encoding=encoding,
        rows_read=len(frame),
        dropped_empty_text=int(empty_text.sum()),
        dropped_empty_label=int((empty_label & ~empty_text).sum()),
    )


def read_table(path: Path, encoding: str = "auto") -> tuple[pd.DataFrame, str]:
    """Reads the whole file as strings (no NA guessing), returning the frame and the encoding used."""
    encoding, sep = sniff_csv(path, encoding)
    with csv_errors(path, encoding):
        frame = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding, engine="c", skip_blank_lines=True
        )
    return _checked_frame(frame, path), encoding


def sniff_csv(path: Path, encoding: str = "auto") -> tuple[str, str]:
    """Tells a CSV's encoding (``auto``: detected) and delimiter from its first megabyte.

    Raises:
        DataError: missing, empty or binary file, or an unknown encoding.
    """
    _check_file(path)
    with path.open("rb") as fh:
        sample = fh.read(_SAMPLE_BYTES)
    if not sample.strip():
        raise DataError(f"{path} is empty; expected a CSV with a header row and one text per row")
    if encoding == "auto":
        encoding = detect_encoding(path, sample)
    else:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise DataError(
                f"unknown encoding '{encoding}'; use a Python codec name such as utf-8, latin-1, gb18030"
            ) from None
    return encoding, _delimiter(path, sample, encoding)


@contextlib.contextmanager
def csv_errors(path: Path, encoding: str) -> Iterator[None]:
    """Turns pandas' and the csv module's parse errors into one-line DataErrors naming the fix."""
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


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a directory; expected a CSV file")


def _delimiter(path: Path, sample: bytes, encoding: str) -> str:
    if path.suffix.lower() in (".tsv", ".tab"):
        return "\t"
    head = sample.decode(encoding, errors="replace")
    first_line = head.split("\n", 1)[0]
    counts = {sep: first_line.count(sep) for sep in (",", "\t", ";", "|")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


def _checked_frame(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    columns = [str(c) for c in frame.columns]
    dupes = sorted({c.rpartition(".")[0] for c in columns if _is_mangled(c, columns)})
    if dupes:
        raise DataError(f"{path} has duplicate column names ({', '.join(dupes)}); rename them so each is unique")
    if frame.empty:
        raise DataError(f"{path} has a header but no rows; expected one text per row")
    return frame


def _is_mangled(column: str, columns: list[str]) -> bool:
    """pandas renames a repeated header 'a' to 'a.1'; such names reveal duplicates."""
    base, _, suffix = column.rpartition(".")
    return bool(base) and suffix.isdigit() and base in columns


def pick_column(frame: pd.DataFrame, wanted: str, candidates: tuple[str, ...], role: str, path: Path) -> str:
    """Returns the column named ``wanted``, else the first obvious candidate (case-insensitive)."""
    columns = [str(c) for c in frame.columns]
    if wanted:
        if wanted in columns:
            return wanted
        raise DataError(
            f"column '{wanted}' not found in {path}; columns are: {', '.join(columns)}. "
            f"Pass --{role}-column with one of them"
        )
    lowered = {c.strip().lower(): c for c in columns}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    raise DataError(
        f"cannot tell which column holds the {role} in {path}; columns are: {', '.join(columns)}. "
        f"Pass --{role}-column NAME"
    )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
