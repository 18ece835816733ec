"""Writing predictions to stdout as TSV, CSV or JSON lines, flushing each batch, quiet on a closed pipe."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TextIO

import numpy as np

from lstmcli.predictor import Prediction

FORMATS = ("tsv", "csv", "jsonl")


def write_predictions(
    predictions: Iterable[Prediction],
    labels: list[str],
    output_format: str,
    top_k: int,
    with_text: bool,
    per_file: bool,
    out: TextIO | None = None,
) -> int:
    """Writes one line per prediction; returns how many were written.

    A reader that stops early (``| head -1``) ends the output quietly instead of raising BrokenPipeError.
    """
    out = out or sys.stdout
    written = 0
    with quiet_on_closed_pipe(out):
        writer = csv.writer(out, lineterminator="\n") if output_format == "csv" else None
        if writer is not None:
            writer.writerow(_csv_header(top_k, with_text, per_file))
        for pred in predictions:
            ranked = _ranked(pred.probabilities, labels, top_k)
            if output_format == "jsonl":
                out.write(json.dumps(_json_row(pred, ranked, labels, with_text, per_file), ensure_ascii=False) + "\n")
            else:
                fields = [value for label, p in ranked for value in (label, f"{p:.6f}")] if ranked else ["", ""] * top_k
                if with_text or per_file:
                    fields.append(pred.source if per_file else (pred.text or ""))
                if writer is not None:
                    writer.writerow(fields)
                else:
                    out.write("\t".join(_one_line(f) for f in fields) + "\n")
            written += 1
            if written % 2048 == 0:
                out.flush()
        out.flush()
    return written


def _ranked(probabilities: np.ndarray | None, labels: list[str], top_k: int) -> list[tuple[str, float]]:
    if probabilities is None:
        return []
    order = np.argsort(-probabilities, kind="stable")[:top_k]
    return [(labels[i], float(probabilities[i])) for i in order]


def _json_row(
    pred: Prediction, ranked: list[tuple[str, float]], labels: list[str], with_text: bool, per_file: bool
) -> dict[str, object]:
    if pred.probabilities is None:
        row: dict[str, object] = {"label": None, "probability": None, "probabilities": None, "empty": True}
    else:
        row = {
            "label": ranked[0][0],
            "probability": ranked[0][1],
            "probabilities": {lab: float(p) for lab, p in zip(labels, pred.probabilities)},
        }
        if len(ranked) > 1:
            row["top_k"] = [{"label": lab, "probability": p} for lab, p in ranked]
    if per_file:
        row["file"] = pred.source
    if with_text:
        row["text"] = pred.text or ""
    return row


def _csv_header(top_k: int, with_text: bool, per_file: bool) -> list[str]:
    header = (
        ["label", "probability"]
        if top_k == 1
        else [f"{name}_{i}" for i in range(1, top_k + 1) for name in ("label", "probability")]
    )
    if per_file:
        header.append("file")
    elif with_text:
        header.append("text")
    return header


def _one_line(field: str) -> str:
    return field.replace("\t", " ").replace("\r", " ").replace("\n", " ")


@contextlib.contextmanager
def quiet_on_closed_pipe(out: TextIO) -> Iterator[None]:
    """Ends the output quietly when its reader has gone (``| head -1``), instead of a BrokenPipeError.

    stdout is then pointed at /dev/null, so that Python's flush at exit does not complain either.
    """
    try:
        yield
    except BrokenPipeError:
        if out is sys.stdout or out is sys.__stdout__:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
