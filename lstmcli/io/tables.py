"""Reading labelled tables (any format of :mod:`lstmcli.io.formats`): encoding, column choice, and rows that
cannot be used, whole or in chunks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lstmcli.errors import DataError
from lstmcli.io.encoding import BOMS, codec_name, sniff_encoding
from lstmcli.io.formats import format_of, is_binary, labelled_format_of, table_frames

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


def read_labelled(
    path: Path,
    text_column: str = "",
    label_column: str = "",
    encoding: str = "auto",
    header: bool = True,
    input_format: str = "auto",
) -> LabelledTexts:
    """Reads a table of texts and labels whole.

    Args:
        path: the file; a CSV's delimiter is sniffed among , ; | and tab.
        text_column: the text column, or "" to pick an obvious one.
        label_column: the label column, or "" to pick an obvious one.
        encoding: a Python codec name, or "auto".
        header: whether the first row names the columns; without, they are named 1, 2, ...
        input_format: a format of :data:`lstmcli.io.formats.FORMATS`, or ``auto`` (:func:`labelled_format_of`).

    Raises:
        DataError: unreadable file, unknown columns or no usable rows.
    """
    frame, encoding = read_table(path, encoding, header, input_format)
    text_col, label_col = pick_columns(frame, path, text_column, label_column, header=header)
    rows = _usable_rows(frame, text_col, label_col)
    return LabelledTexts(
        texts=rows.texts,
        labels=rows.labels,
        text_column=text_col,
        label_column=label_col,
        encoding=encoding,
        rows_read=rows.rows_read,
        dropped_empty_text=rows.empty_text,
        dropped_empty_label=rows.empty_label,
    )


def read_table(
    path: Path, encoding: str = "auto", header: bool = True, input_format: str = "auto"
) -> tuple[pd.DataFrame, str]:
    """Reads the whole file as strings (no NA guessing), returning the frame and the encoding used."""
    file = open_table(path, encoding, header, input_format)
    return _checked_frame(next(file.frames(None))[0], path), file.encoding


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a directory; expected a CSV file")


def _checked_frame(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    if not isinstance(frame.index, pd.RangeIndex):  # pandas makes extra leading fields of the first row an index
        raise DataError(
            f"{path} is not a well-formed CSV: Expected {len(frame.columns)} fields in line 2, saw "
            f"{frame.index.nlevels + len(frame.columns)}; check quoting and the delimiter"
        )
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


def pick_columns(
    frame: pd.DataFrame,
    path: Path,
    text_column: str = "",
    label_column: str = "",
    trained: bool = False,
    header: bool = True,
    given: tuple[str, str] = ("", ""),
) -> tuple[str, str]:
    """The text and label columns of a labelled table: the ones named, else obvious ones (case-insensitive).

    Args:
        frame: the table, or its first rows.
        path: the file, for the messages.
        text_column: the text column, or "" to pick an obvious one.
        label_column: the label column, or "" to pick an obvious one.
        trained: the names are those a run was trained on (evaluate): a file without them may still hold
            obvious ones, and the messages say how to rename the file's columns.
        header: whether the table has a header; without, columns are 1, 2, ... and, unless named, the text
            is the longest column and the label the one of the others with the fewest distinct values.
        given: with ``trained``, the text and label columns passed for this file (``--text-column``), if any.

    Raises:
        DataError: a column is missing, both roles fall on one column, or the columns look swapped; a first row
            that looks like data gets the hint to pass ``--no-header``.
    """
    if trained:
        return _trained_columns(frame, path, text_column, label_column, given)
    if len(frame.columns) == 1:
        raise DataError(
            f"{path} has a single column ('{frame.columns[0]}'); expected a text and a label column "
            "separated by commas, semicolons, | or tabs (a .tsv file must be tab-separated)"
        )
    if not header:
        text_column, label_column = _headerless_columns(frame, text_column, label_column)
    try:
        text_col = pick_column(frame, text_column, TEXT_COLUMNS, "text", path)
        label_col = pick_column(frame, label_column, LABEL_COLUMNS, "label", path)
    except DataError:
        if header and _header_looks_like_data(frame):
            first = ", ".join(repr(str(c)) for c in frame.columns[:3])
            raise DataError(
                f"the first row of {path} looks like data, not a header ({first}); pass --no-header "
                "(the columns are then 1, 2, ...)"
            ) from None
        raise
    if text_col == label_col:
        raise DataError(f"text and label columns are both '{text_col}' in {path}; pass different columns")
    _check_not_swapped(frame, path, text_col, label_col)
    return text_col, label_col


def _headerless_columns(frame: pd.DataFrame, text_column: str, label_column: str) -> tuple[str, str]:
    """Named columns as given; else the longest column holds the text, and the label is the remaining column with
    the fewest distinct values."""
    columns = [str(c) for c in frame.columns]
    text = text_column or longest_column(frame)
    label = label_column or min((c for c in columns if c != text), key=lambda c: frame[c].nunique())
    return text, label


def longest_column(frame: pd.DataFrame) -> str:
    """The column of a table without a header that holds the text: the longest in mean length."""
    return max((str(c) for c in frame.columns), key=lambda c: frame[c].str.len().mean())


def _header_looks_like_data(frame: pd.DataFrame) -> bool:
    """Whether the header reads as a row of data: a name of three words or more, or one repeated in its column."""
    names = [str(c) for c in frame.columns]
    return any(len(name.split()) >= 3 for name in names) or any((frame[name] == name).any() for name in names)


def _check_not_swapped(frame: pd.DataFrame, path: Path, text_col: str, label_col: str) -> None:
    """Raises DataError when the label column reads as the texts and the text column as their labels."""
    texts, labels = frame[text_col].str.strip(), frame[label_col].str.strip()
    filled = (texts != "") & (labels != "")
    texts, labels = texts[filled], labels[filled]
    if not 2 <= texts.nunique() <= max(2, len(texts) // 4) or labels.nunique() <= texts.nunique():
        return
    reads_as_text = labels.str.split().str.len().mean() >= 3  # sentences, not codes such as '0000'
    if reads_as_text and labels.str.len().mean() > 2 * texts.str.len().mean():
        raise DataError(
            f"in {path} the label column '{label_col}' holds {labels.nunique()} distinct long values and the "
            f"text column '{text_col}' only {texts.nunique()}: they look swapped. If so, pass "
            f"--text-column {label_col} --label-column {text_col}"
        )


def _trained_columns(
    frame: pd.DataFrame, path: Path, text_column: str, label_column: str, given: tuple[str, str] = ("", "")
) -> tuple[str, str]:
    columns = ", ".join(str(c) for c in frame.columns)
    text_fix = f"Rename its text column to '{text_column}', or pass --text-column"
    label_fix = "Evaluation needs labels; use 'lstmcli predict' for unlabelled text"
    if given[0]:
        text = pick_column(frame, given[0], TEXT_COLUMNS, "text", path)
    else:
        text = _trained_column(frame, path, text_column, TEXT_COLUMNS, "text", f"columns are: {columns}. {text_fix}")
    if given[1]:
        return text, pick_column(frame, given[1], LABEL_COLUMNS, "label", path)
    fix = f"columns are: {columns}. {label_fix}"
    return text, _trained_column(frame, path, label_column, LABEL_COLUMNS, "label", fix)


def _trained_column(
    frame: pd.DataFrame, path: Path, wanted: str, candidates: tuple[str, ...], role: str, fix: str
) -> str:
    if wanted in [str(c) for c in frame.columns]:
        return wanted
    try:
        return pick_column(frame, "", candidates, role, path)
    except DataError:
        raise DataError(f"{path} has no {role} column ('{wanted}' or another obvious name); {fix}") from None


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


# --- reading a CSV in chunks ---


@dataclass(frozen=True)
class TableFile:
    """A table file read in chunks, its format and encoding resolved from its first bytes."""

    path: Path
    format: str
    encoding: str
    size: int
    header: bool = True  # whether a CSV's first row names the columns; without, they are named 1, 2, ...

    def head(self, rows: int) -> pd.DataFrame:
        """The first ``rows`` rows, checked like a whole file (duplicate columns, no rows)."""
        return _checked_frame(next(self.frames(rows))[0], self.path)

    def frames(self, chunk_rows: int | None) -> Iterator[tuple[pd.DataFrame, float]]:
        """Yields ``(frame, fraction of the file read)`` for each chunk of ``chunk_rows`` rows (None: one frame of
        them all), cells as strings.

        Raises:
            DataError: the bytes do not decode or the table is malformed, in whichever chunk that shows.
        """
        with self.path.open("rb") as fh:
            head = fh.read(_SAMPLE_BYTES)
            frames = table_frames(
                head, fh, str(self.path), self.format, self.encoding, self.header, chunk_rows, "strict"
            )
            with contextlib.closing(frames):  # the reader goes before the file it reads, whatever stops it
                for frame in frames:
                    yield frame, min(1.0, fh.tell() / max(self.size, 1))


def open_table(path: Path, encoding: str = "auto", header: bool = True, input_format: str = "auto") -> TableFile:
    """Resolves how to read ``path`` from its first megabyte: its format (``auto``: by extension, else by its
    first line, else CSV) and its encoding (``auto``: detected).

    Raises:
        DataError: missing, empty or binary file, or an unknown encoding.
        ConfigError: ``input_format`` is not a table format.
    """
    _check_file(path)
    with path.open("rb") as fh:
        sample = fh.read(_SAMPLE_BYTES)
    if not sample.strip():
        raise DataError(f"{path} is empty; expected a CSV with a header row and one text per row")
    size, named = path.stat().st_size, format_of(path, input_format, default="")
    if is_binary(named):
        return TableFile(path, named, "binary", size, header)
    encoding = detect_encoding(path, sample) if encoding == "auto" else codec_name(encoding)
    first_line = sample.decode(encoding, errors="replace").split("\n", 1)[0]
    return TableFile(path, labelled_format_of(path, input_format, first_line), encoding, size, header)


@dataclass
class LabelledChunk:
    """One chunk's usable rows (texts and labels stripped), with what it read and dropped."""

    texts: list[str]
    labels: list[str]
    rows_read: int
    empty_text: int
    empty_label: int
    fraction: float = 1.0


def _usable_rows(frame: pd.DataFrame, text_col: str, label_col: str, fraction: float = 1.0) -> LabelledChunk:
    """The stripped texts and labels of ``frame``, rows with an empty one dropped and counted."""
    texts, labels = (
        frame[c].str.strip() if c in frame.columns else pd.Series("", frame.index) for c in (text_col, label_col)
    )
    empty_text, empty_label = texts == "", labels == ""
    keep = ~(empty_text | empty_label)
    return LabelledChunk(
        texts[keep].tolist(),
        labels[keep].tolist(),
        len(frame),
        int(empty_text.sum()),
        int((empty_label & ~empty_text).sum()),
        fraction,
    )


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column, or empty strings where a chunk lacks it (JSON Lines records need not all hold every key)."""
    return frame[name] if name in frame.columns else pd.Series("", index=frame.index, dtype=str)


@dataclass(frozen=True)
class LabelledTable:
    """A labelled table read in chunks, its text and label columns chosen from its head."""

    file: TableFile
    text_column: str
    label_column: str
    head_texts: list[str]

    def chunks(self, chunk_rows: int) -> Iterator[LabelledChunk]:
        """Yields each chunk's stripped texts and labels, rows with an empty one dropped and counted."""
        for frame, fraction in self.file.frames(chunk_rows):
            yield _usable_rows(frame, self.text_column, self.label_column, fraction)


def open_labelled(
    path: Path,
    text_column: str = "",
    label_column: str = "",
    encoding: str = "auto",
    head_rows: int = 20_000,
    trained: bool = False,
    header: bool = True,
    given: tuple[str, str] = ("", ""),
    input_format: str = "auto",
) -> LabelledTable:
    """Opens a labelled table for chunked reading (see :func:`open_table`), choosing columns from its first
    ``head_rows`` rows as :func:`pick_columns` does (with ``trained``); their non-empty texts are kept for the
    tokenizer's choice.

    Raises:
        DataError: unreadable file, unknown columns, or no rows.
    """
    file = open_table(path, encoding, header, input_format)
    head = file.head(head_rows)
    text_col, label_col = pick_columns(head, path, text_column, label_column, trained, header, given)
    texts = head[text_col].str.strip()
    return LabelledTable(file, text_col, label_col, texts[texts != ""].tolist())
