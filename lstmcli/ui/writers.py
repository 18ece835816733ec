"""Writing predictions to stdout as TSV, CSV, JSON lines or bare labels, flushing each batch, quiet on a closed pipe."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from lstmcli.errors import ConfigError
from lstmcli.predictor import Prediction
from lstmcli.ui.console import quiet_on_closed_pipe

FORMATS = ("tsv", "csv", "jsonl", "label")


@dataclass(frozen=True)
class OutputSpec:
    """What each output line holds.

    Attributes:
        output_format: ``tsv``, ``csv``, ``jsonl`` or ``label`` (the label alone: ``| sort | uniq -c``).
        top_k: labels per text, most probable first.
        with_text: append the input text.
        file_column: say which file each text came from (several files, a directory, ``--per-file``).
        keep_columns: names of the input table's columns carried through, in order.
        threshold: see :func:`decide`; None labels each text with its most probable class.
        per_file: each file is one text: its file name stands for the text.
    """

    output_format: str = "tsv"
    top_k: int = 1
    with_text: bool = False
    file_column: bool = False
    keep_columns: tuple[str, ...] = ()
    threshold: float | None = None
    per_file: bool = False

    def check(self) -> None:
        """Raises ConfigError for a value out of range."""
        if self.output_format not in FORMATS:
            raise ConfigError(f"unknown format '{self.output_format}'; formats are: {', '.join(FORMATS)}")
        if self.top_k < 1:
            raise ConfigError(f"--top-k must be at least 1; received {self.top_k}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"--threshold must be a probability between 0 and 1; received {self.threshold}")


def decide(
    probabilities: np.ndarray, labels: list[str], top_k: int, threshold: float | None
) -> list[tuple[str, float]]:
    """The ``top_k`` labels of one text with their probabilities, the decision first.

    Without a threshold the decision is the most probable label. With two labels, ``threshold`` is the decision
    threshold on the second (the positive class: labels are sorted, so ``1``, ``positive``, ``spam``): it is
    chosen when its probability is at least ``threshold``, else the first. With more labels, a text whose most
    probable label is below ``threshold`` is not labelled: its label is "" (its probability stays).
    """
    order = [int(i) for i in np.argsort(-probabilities, kind="stable")]
    if threshold is not None and len(labels) == 2:
        order = [1, 0] if probabilities[1] >= threshold else [0, 1]
    ranked = [(labels[i], float(probabilities[i])) for i in order[:top_k]]
    if threshold is not None and len(labels) > 2 and ranked[0][1] < threshold:
        ranked[0] = ("", ranked[0][1])
    return ranked


def write_predictions(
    results: Iterable[tuple[Prediction, tuple[str, ...]]],
    labels: list[str],
    spec: OutputSpec,
    out: TextIO | None = None,
) -> int:
    """Writes one line per ``(prediction, kept column values)``; returns how many were written.

    A reader that stops early (``| head -1``) ends the output quietly instead of raising BrokenPipeError.
    """
    out = out or sys.stdout
    written = 0
    top_k = min(spec.top_k, len(labels))
    with quiet_on_closed_pipe(out):
        writer = csv.writer(out, lineterminator="\n") if spec.output_format == "csv" else None
        if writer is not None:
            writer.writerow(_csv_header(spec, top_k))
        for pred, kept in results:
            if writer is not None:
                writer.writerow(_fields(pred, _decided(pred, labels, top_k, spec), kept, spec, top_k))
            else:
                out.write(_line(pred, labels, kept, spec, top_k) + "\n")
            written += 1
            if written % 2048 == 0:
                out.flush()
        out.flush()
    return written


def _decided(pred: Prediction, labels: list[str], top_k: int, spec: OutputSpec) -> list[tuple[str, float]]:
    return decide(pred.probabilities, labels, top_k, spec.threshold) if pred.probabilities is not None else []


def _line(pred: Prediction, labels: list[str], kept: tuple[str, ...], spec: OutputSpec, top_k: int) -> str:
    """A TSV, JSON or bare-label line, without its line end."""
    if spec.output_format == "jsonl":
        return _json_row(pred, labels, kept, spec, top_k)
    ranked = _decided(pred, labels, top_k, spec)
    if spec.output_format == "label":
        return _one_line(ranked[0][0] if ranked else "")
    return "\t".join(_one_line(f) for f in _fields(pred, ranked, kept, spec, top_k))


def _fields(
    pred: Prediction, ranked: list[tuple[str, float]], kept: tuple[str, ...], spec: OutputSpec, top_k: int
) -> list[str]:
    """A TSV or CSV line: label and probability (top_k pairs), the kept columns, the file, the text."""
    fields = [value for label, p in ranked for value in (label, f"{p:.6f}")] if ranked else ["", ""] * top_k
    fields.extend(kept)
    if spec.file_column:
        fields.append(pred.source)
    if spec.with_text and not spec.per_file:
        fields.append(pred.text or "")
    return fields


def prediction_row(
    probabilities: np.ndarray | None, labels: list[str], top_k: int, threshold: float | None = None
) -> dict[str, Any]:
    """One text's result as a JSON-ready dict: what ``predict --format jsonl`` writes and ``serve`` answers.

    Args:
        probabilities: float array ``(n_classes,)``, or None for an empty text.
        labels: class names, index ``i`` naming ``probabilities[i]``.
        top_k: labels listed under ``top_k`` (most probable first) when above 1.
        threshold: see :func:`decide`.

    Returns:
        ``label``, ``probability``, ``probabilities`` (every class) and, for ``top_k`` above 1, ``top_k``; a text
        left unlabelled below the threshold has ``label`` None and ``"abstained": True``; an empty text the same
        keys as None and ``"empty": True``.
    """
    if probabilities is None:
        return {"label": None, "probability": None, "probabilities": None, "empty": True}
    ranked = decide(probabilities, labels, top_k, threshold)
    row: dict[str, Any] = {
        "label": ranked[0][0] or None,
        "probability": ranked[0][1],
        "probabilities": {lab: float(p) for lab, p in zip(labels, probabilities)},
    }
    if not ranked[0][0]:
        row["abstained"] = True
    if len(ranked) > 1:
        row["top_k"] = [{"label": lab or None, "probability": p} for lab, p in ranked]
    return row


def row_json(row: dict[str, Any]) -> str:
    """A row's JSON text, as each ``jsonl`` line holds it (labels in any script kept as they are)."""
    return json.dumps(row, ensure_ascii=False)


def _json_row(pred: Prediction, labels: list[str], kept: tuple[str, ...], spec: OutputSpec, top_k: int) -> str:
    row = prediction_row(pred.probabilities, labels, top_k, spec.threshold)
    row.update(zip(spec.keep_columns, kept))
    if spec.file_column:
        row["file"] = pred.source
    if spec.with_text:
        row["text"] = pred.text or ""
    return row_json(row)


def _csv_header(spec: OutputSpec, top_k: int) -> list[str]:
    header = (
        ["label", "probability"]
        if top_k == 1
        else [f"{name}_{i}" for i in range(1, top_k + 1) for name in ("label", "probability")]
    )
    header.extend(spec.keep_columns)
    if spec.file_column:
        header.append("file")
    if spec.with_text and not spec.per_file:
        header.append("text")
    return header


def _one_line(field: str) -> str:
    return field.replace("\t", " ").replace("\r", " ").replace("\n", " ")
