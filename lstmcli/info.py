"""``info``: what one run directory holds: its data, settings, training, metrics and files.

Reads only the small JSON files the other commands wrote; no model is loaded, so it answers at once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from lstmcli.rundir import METRICS, PREPARE_REPORT, RunDir
from lstmcli.ui.plots import best_epoch

SUMMARY_METRICS = ("accuracy", "loss", "macro_f1", "n")


def run_info(run: RunDir) -> dict[str, Any]:
    """The run's summary as plain JSON-ready values.

    Returns:
        ``run_dir``, ``trained``, ``labels``, ``data`` (prepare's report), ``config``, ``training``
        (epochs run, best epoch and its metrics; None before training), ``metrics`` (the last evaluate's,
        or None), ``files`` (``path`` and ``bytes``, sorted) and ``manifest``.

    Raises:
        RunDirError: the directory is missing, incomplete or written by a newer lstmcli.
    """
    run.check("prepared")
    manifest = run.read_manifest()
    return {
        "run_dir": str(run.path),
        "trained": run.is_trained(),
        "labels": run.read_labels(),
        "data": _optional_json(run, PREPARE_REPORT),
        "config": dataclasses.asdict(run.read_config()),
        "training": training_summary(run.read_history()),
        "metrics": _optional_json(run, METRICS),
        "files": list_files(run.path),
        "manifest": manifest,
    }


def training_summary(history: list[dict[str, float]]) -> dict[str, Any] | None:
    """Epochs run, the restored best epoch and its metrics, from ``history.json``'s rows."""
    best = best_epoch(history)
    if best is None:
        return None
    best_row = next(row for row in history if row.get("epoch") == best)
    summary = {
        "epochs_run": len(history),
        "best_epoch": best,
        "best": {key: value for key, value in best_row.items() if key not in ("epoch", "stage")},
    }
    if "stage" in best_row:  # staged training: "ngrams" if the LSTM's stage never beat the n-gram classifier
        summary["best_stage"] = best_row["stage"]
    return summary


def list_files(root: Path) -> list[dict[str, Any]]:
    """Every file under ``root`` as ``{"path": relative path, "bytes": size}``, sorted by path."""
    return [
        {"path": path.relative_to(root).as_posix(), "bytes": path.stat().st_size}
        for path in sorted(root.rglob("*"))
        if path.is_file()
    ]


def _optional_json(run: RunDir, name: str) -> Any:
    return run.read_json(name) if (run / name).is_file() else None


def human_size(size: int) -> str:
    """``1536`` -> ``1.5 KB``: bytes in the largest unit that keeps the number at least 1."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def render_info(info: dict[str, Any]) -> RenderableType:
    """The summary for people: a few short tables."""
    state = "trained" if info["trained"] else "prepared, not trained yet"
    parts: list[RenderableType] = [
        f"[bold]Run[/] {info['run_dir']} ({state}); {len(info['labels'])} classes: {', '.join(info['labels'])}"
    ]
    if info["data"]:
        parts.append(_data_table(info["data"]))
    parts.append(_config_table(info["config"]))
    training = info["training"]
    if training:
        best = "  ".join(f"{key} {value:.4f}" for key, value in training["best"].items())
        stage = f", {training['best_stage']} stage" if "best_stage" in training else ""
        parts.append(
            f"[bold]Training[/] {training['epochs_run']} epochs; best epoch {training['best_epoch']} "
            f"(restored{stage}): {best}"
        )
    metrics = info["metrics"]
    if metrics:
        summary = "  ".join(
            f"{key} {metrics[key]:.4f}" if isinstance(metrics[key], float) else f"{key} {metrics[key]}"
            for key in SUMMARY_METRICS
            if key in metrics
        )
        parts.append(f"[bold]Metrics[/] on {metrics.get('data', '?')}: {summary}")
    parts.append(_files_table(info["files"]))
    return Group(*parts)


def _data_table(data: dict[str, Any]) -> Table:
    table = Table("data", "", title="Data", title_justify="left", show_header=False)
    table.add_row(
        "file", f"{data['data_file']} ({data['encoding']}); columns '{data['text_column']}', '{data['label_column']}'"
    )
    table.add_row("rows", f"{data['rows_read']} read; {data['train_rows']} train, {data['val_rows']} validation")
    table.add_row("classes", ", ".join(f"{label} {n}" for label, n in data["class_counts"].items()))
    table.add_row(
        "tokens", f"{data['tokenizer']}; max length {data['max_len']} ({data['truncated_rows']} texts truncated)"
    )
    table.add_row("vocabulary", f"{data['vocab_size']} ids; validation OOV rate {data['val_oov_rate']:.1%}")
    return table


def _config_table(config: dict[str, Any]) -> Table:
    items = [
        (key, ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value))
        for key, value in config.items()
    ]
    half = -(-len(items) // 2)
    table = Table("setting", "value", "setting", "value", title="Config", title_justify="left")
    for left, right in zip(items[:half], items[half:] + [("", "")], strict=False):
        table.add_row(*left, *right)
    return table


def _files_table(files: list[dict[str, Any]]) -> Table:
    table = Table("file", "size", title="Files", title_justify="left")
    for entry in files:
        table.add_row(entry["path"], human_size(entry["bytes"]))
    table.add_row("[bold]total[/]", f"[bold]{human_size(sum(entry['bytes'] for entry in files))}[/]")
    return table
