"""``lstmcli info`` for people: the run's summary (:func:`lstmcli.info.run_info`) as a few short tables."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

SUMMARY_METRICS = ("accuracy", "loss", "macro_f1", "n")
LABEL_SET_METRICS = ("micro_f1", "macro_f1", "samples_f1", "jaccard", "subset_accuracy", "hamming_loss", "loss", "n")


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
    kind = "labels (multi-label)" if info["config"].get("multi_label") else "classes"
    parts: list[RenderableType] = [
        f"[bold]Run[/] {info['run_dir']} ({state}); {len(info['labels'])} {kind}: {', '.join(info['labels'])}"
    ]
    if info["data"]:
        parts.append(_data_table(info["data"]))
    parts.append(_config_table(info["config"]))
    training = info["training"]
    if training:
        best = "  ".join(f"{key} {value:.4f}" for key, value in training["best"].items())
        stage = f", {training['best_stage']} stage" if "best_stage" in training else ""
        if training.get("monitor") == "val_accuracy":  # else the lowest val_loss, as training always chose before
            stage += ", highest val_accuracy"
        parts.append(
            f"[bold]Training[/] {training['epochs_run']} epochs; best epoch {training['best_epoch']} "
            f"(restored{stage}): {best}"
        )
    metrics = info["metrics"]
    if metrics:
        summary = "  ".join(
            f"{key} {metrics[key]:.4f}" if isinstance(metrics[key], float) else f"{key} {metrics[key]}"
            for key in (LABEL_SET_METRICS if metrics.get("multi_label") else SUMMARY_METRICS)
            if key in metrics
        )
        parts.append(f"[bold]Metrics[/] on {metrics.get('data', '?')}: {summary}")
    if info.get("thresholds"):
        parts.append(_thresholds_line(info["thresholds"], info["labels"]))
    parts.append(_files_table(info["files"]))
    return Group(*parts)


def _thresholds_line(thresholds: dict[str, Any], labels: list[str]) -> str:
    """A multi-label run's thresholds: the global one, and the labels that have their own."""
    own = [f"{label} {t:.2f}" for label, t in zip(labels, thresholds["per_label"]) if t != thresholds["global"]]
    text = f"[bold]Thresholds[/] {thresholds['kind']}: {thresholds['global']:.2f}"
    return text + (f"; per label: {', '.join(own)}" if own else "")


def _data_table(data: dict[str, Any]) -> Table:
    table = Table("data", "", title="Data", title_justify="left", show_header=False)
    table.add_row(
        "file", f"{data['data_file']} ({data['encoding']}); columns '{data['text_column']}', '{data['label_column']}'"
    )
    table.add_row("rows", f"{data['rows_read']} read; {data['train_rows']} train, {data['val_rows']} validation")
    kind = "labels" if data.get("multi_label") else "classes"
    table.add_row(kind, ", ".join(f"{label} {n}" for label, n in data["class_counts"].items()))
    if data.get("multi_label"):
        about = data["multi_label"]
        table.add_row(
            "labels per text",
            f"{about['cardinality']:.2f} on average; {about['empty_label_sets']} texts without a label; "
            f"too rare to learn: {', '.join(about['too_rare']) or 'none'}",
        )
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
