"""Writing predictions to stdout as TSV, CSV, JSON lines or bare labels, flushing each batch, quiet on a closed pipe."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from lstmcli.decision import Decider, row_json
from lstmcli.errors import ConfigError
from lstmcli.predictor import Prediction
from lstmcli.ui.console import quiet_on_closed_pipe

FORMATS = ("tsv", "csv", "jsonl", "label")
FLUSH_ROWS = 2048  # lines written and flushed at once: a pipeline downstream sees each batch as it is labelled
LABEL_JOINER = "|"  # a multi-label run's labels in one TSV/CSV field, as its training file joined them


@dataclass(frozen=True)
class OutputSpec:
    """What each output line holds.

    Attributes:
        output_format: ``tsv``, ``csv``, ``jsonl`` or ``label`` (the label alone: ``| sort | uniq -c``; a
            multi-label run's labels joined by ``|``).
        top_k: labels per text, most probable first (a multi-label run: at most; None: 1, or all that pass).
        with_text: append the input text.
        file_column: say which file each text came from (several files, a directory, ``--per-file``).
        keep_columns: names of the input table's columns carried through, in order.
        threshold: see :class:`lstmcli.decision.Decider`; None labels each text with its most probable class,
            or a multi-label run's with the labels that pass the thresholds chosen in training.
        per_file: each file is one text: its file name stands for the text.
        min_labels: a multi-label run's fewest labels per text.
    """

    output_format: str = "tsv"
    top_k: int | None = None
    with_text: bool = False
    file_column: bool = False
    keep_columns: tuple[str, ...] = ()
    threshold: float | None = None
    per_file: bool = False
    min_labels: int | None = None

    def check(self) -> None:
        """Raises ConfigError for a value out of range."""
        if self.output_format not in FORMATS:
            raise ConfigError(f"unknown format '{self.output_format}'; formats are: {', '.join(FORMATS)}")
        Decider(["a", "b"], True).with_options(self.top_k, self.threshold, self.min_labels)


def write_predictions(
    results: Iterable[tuple[Prediction, tuple[str, ...]]],
    decider: Decider,
    spec: OutputSpec,
    out: TextIO | None = None,
) -> int:
    """Writes one line per ``(prediction, kept column values)``; returns how many were written.

    ``decider`` is the run's (``Predictor.decider``); the spec's ``top_k``, ``threshold`` and ``min_labels`` apply.
    A reader that stops early (``| head -1``) ends the output quietly instead of raising BrokenPipeError.
    """
    out = out or sys.stdout
    written = 0
    decider = decider.with_options(spec.top_k, spec.threshold, spec.min_labels)
    # The run's most probable label alone, as the Prediction already holds it: no ranking per row.
    plain = not decider.multi_label and decider.k == 1 and decider.threshold is None
    with quiet_on_closed_pipe(out):
        if spec.output_format == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(_csv_header(spec, decider))
            for pred, kept in results:
                writer.writerow((_plain_fields if plain else _fields)(pred, kept, spec, decider))
                written += 1
                if written % FLUSH_ROWS == 0:
                    out.flush()
        else:
            lines: list[str] = []
            for pred, kept in results:
                lines.append(_line(pred, decider, kept, spec, plain))
                if len(lines) == FLUSH_ROWS:
                    written += _write_lines(out, lines)
            written += _write_lines(out, lines)
        out.flush()
    return written


def _write_lines(out: TextIO, lines: list[str]) -> int:
    """Writes and flushes ``lines`` at once, then empties the list; returns how many there were."""
    out.write("".join(lines))
    out.flush()
    count = len(lines)
    lines.clear()
    return count


def _decided(pred: Prediction, decider: Decider) -> list[tuple[str, float]]:
    return decider.ranked(pred.probabilities) if pred.probabilities is not None else []


def _line(pred: Prediction, decider: Decider, kept: tuple[str, ...], spec: OutputSpec, plain: bool) -> str:
    """A TSV, JSON or bare-label line, with its line end; ``plain``: the decider names the most probable label."""
    if spec.output_format == "jsonl":
        return _json_row(pred, decider, kept, spec) + "\n"
    if spec.output_format == "label":
        if plain and pred.label is not None:
            return _one_line(pred.label) + "\n"
        ranked = _decided(pred, decider)
        if decider.multi_label:
            return _one_line(LABEL_JOINER.join(label for label, _ in ranked)) + "\n"
        return _one_line(ranked[0][0] if ranked else "") + "\n"
    fields = (_plain_fields if plain else _fields)(pred, kept, spec, decider)
    return "\t".join(_one_line(f) for f in fields) + "\n"


def _plain_fields(pred: Prediction, kept: tuple[str, ...], spec: OutputSpec, decider: Decider) -> list[str]:
    """:func:`_fields` of the most probable label, taken from the prediction where it holds it."""
    if pred.label is None or pred.probability is None:
        return _fields(pred, kept, spec, decider)
    return _extra_fields([pred.label, f"{pred.probability:.6f}"], pred, kept, spec)


def _fields(pred: Prediction, kept: tuple[str, ...], spec: OutputSpec, decider: Decider) -> list[str]:
    """A TSV or CSV line: label and probability (top_k pairs; a multi-label run's labels joined by ``|`` and their
    probabilities likewise), the kept columns, the file, the text."""
    ranked = _decided(pred, decider)
    if decider.multi_label:
        fields = [LABEL_JOINER.join(label for label, _ in ranked), LABEL_JOINER.join(f"{p:.6f}" for _, p in ranked)]
    elif ranked:
        fields = [value for label, p in ranked for value in (label, f"{p:.6f}")]
    else:
        fields = ["", ""] * decider.k
    return _extra_fields(fields, pred, kept, spec)


def _extra_fields(fields: list[str], pred: Prediction, kept: tuple[str, ...], spec: OutputSpec) -> list[str]:
    """``fields`` followed by the kept columns, the file and the text, as the spec asks."""
    fields.extend(kept)
    if spec.file_column:
        fields.append(pred.source)
    if spec.with_text and not spec.per_file:
        fields.append(pred.text or "")
    return fields


def _json_row(pred: Prediction, decider: Decider, kept: tuple[str, ...], spec: OutputSpec) -> str:
    row = decider.row(pred.probabilities)
    row.update(zip(spec.keep_columns, kept))
    if spec.file_column:
        row["file"] = pred.source
    if spec.with_text:
        row["text"] = pred.text or ""
    return row_json(row)


def _csv_header(spec: OutputSpec, decider: Decider) -> list[str]:
    top_k = decider.k
    if decider.multi_label:
        header = ["labels", "probabilities"]
    elif top_k == 1:
        header = ["label", "probability"]
    else:
        header = [f"{name}_{i}" for i in range(1, top_k + 1) for name in ("label", "probability")]
    header.extend(spec.keep_columns)
    if spec.file_column:
        header.append("file")
    if spec.with_text and not spec.per_file:
        header.append("text")
    return header


def _one_line(field: str) -> str:
    return field.replace("\t", " ").replace("\r", " ").replace("\n", " ")
