"""Reading multi-label tables: each text's labels joined in one column (``joy|love``), or one 0/1 column per label.

A text with no label at all (an empty cell, or 0 in every label column) is kept: "none of these" is an answer a
multi-label classifier must be able to give.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lstmcli.errors import DataError
from lstmcli.io.tables import TEXT_COLUMNS, pick_column, pick_columns, read_table

if TYPE_CHECKING:
    import pandas as pd

TRUE, FALSE = frozenset({"1", "1.0", "true", "yes"}), frozenset({"0", "0.0", "false", "no", ""})
HINT_SHARE = 0.05  # a single-label column whose cells hold the separator this often looks multi-label


@dataclass(frozen=True)
class LabelSets:
    """Texts and their label sets read from one file, with what was chosen and dropped on the way."""

    texts: list[str]
    label_sets: list[tuple[str, ...]]  # each text's labels, trimmed, in the order the cell gave them
    labels: list[str]  # every label name, sorted; from --label-columns, in the columns' order
    text_column: str
    label_column: str  # the label column, or the label columns joined by commas
    encoding: str
    rows_read: int
    dropped_empty_text: int

    @property
    def empty_sets(self) -> int:
        """Texts without any label."""
        return sum(1 for labels in self.label_sets if not labels)


def split_labels(cell: str, separator: str = "|") -> tuple[str, ...]:
    """A cell's labels: split at ``separator``, whitespace trimmed, empty names and repeats left out."""
    names = (name.strip() for name in cell.split(separator))
    return tuple(dict.fromkeys(name for name in names if name))


def read_label_sets(
    path: Path,
    text_column: str = "",
    label_column: str = "",
    label_columns: tuple[str, ...] = (),
    separator: str = "|",
    encoding: str = "auto",
    header: bool = True,
) -> LabelSets:
    """Reads a CSV or TSV of texts and their label sets.

    Args:
        label_columns: one 0/1 column per label (their names are the labels); empty: the labels are in
            ``label_column`` (or an obvious one), joined by ``separator``.

    Raises:
        DataError: unreadable file, unknown columns, a label column that is not 0/1, or no text.
    """
    frame, encoding = read_table(path, encoding, header)
    if label_columns:
        text_col = pick_column(frame, text_column, TEXT_COLUMNS, "text", path)
        sets, label_col = _column_sets(frame, path, label_columns), ",".join(label_columns)
        names = list(label_columns)
    else:
        text_col, label_col = pick_columns(frame, path, text_column, label_column, header=header)
        sets = [split_labels(cell, separator) for cell in frame[label_col]]
        names = sorted({name for labels in sets for name in labels})
    texts = frame[text_col].str.strip()
    keep = (texts != "").tolist()
    if not any(keep):
        raise DataError(f"{path} has no row with a text in column '{text_col}'; check the column names")
    return LabelSets(
        texts=texts[keep].tolist(),
        label_sets=[labels for labels, kept in zip(sets, keep) if kept],
        labels=names,
        text_column=text_col,
        label_column=label_col,
        encoding=encoding,
        rows_read=len(frame),
        dropped_empty_text=keep.count(False),
    )


def _column_sets(frame: pd.DataFrame, path: Path, label_columns: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Each row's labels from 0/1 columns named ``label_columns``."""
    columns = [str(c) for c in frame.columns]
    missing = [name for name in label_columns if name not in columns]
    if missing:
        raise DataError(
            f"label column '{missing[0]}' not found in {path}; columns are: {', '.join(columns)}. "
            "Pass --label-columns with those that hold 0 or 1 per label"
        )
    flags = {}
    for name in label_columns:
        values = frame[name].str.strip().str.lower()
        odd = sorted(set(values) - TRUE - FALSE)
        if odd:
            raise DataError(
                f"column '{name}' of {path} holds '{odd[0]}'; --label-columns expects 0 or 1 (empty counts as 0)"
            )
        flags[name] = values.isin(TRUE).tolist()
    return [tuple(name for name in label_columns if flags[name][i]) for i in range(len(frame))]


def looks_multi_label(labels: list[str], separator: str = "|") -> bool:
    """Whether a single-label column reads as label sets: at least :data:`HINT_SHARE` of its cells join two names or
    more with ``separator``."""
    joined = sum(1 for label in labels if len(split_labels(label, separator)) > 1)
    return joined >= max(2.0, HINT_SHARE * len(labels))
