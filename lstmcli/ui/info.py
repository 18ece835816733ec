"""``lstmcli info`` for people: the run's summary (:func:`lstmcli.info.run_info`) as a few short tables."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
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
        parts.append(f"[bold]Training[/] {training_line(training)}")
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


def vectors_lines(embeddings: dict[str, Any] | None) -> list[str]:
    """What prepare's report says of the run's pretrained vectors, a line per source, for people."""
    if not embeddings:
        return ["Embeddings: none (random start)"]
    sources = embeddings.get("sources") or [embeddings]
    lines = []
    for source in sources:
        if "paths" in source:
            lines.append(
                f"Unlabeled: {source['texts']:,} texts ({source['unlabeled_tokens']:,} tokens) from "
                f"{', '.join(source['paths'])}, with the {source['training_texts']:,} training texts: "
                f"{source['method']} of {source['words']:,} words, dim {source['dim']}, {source['epochs']} epochs"
                f"{_continued(source)}, {source['seconds']} s; they cover {source['token_share']:.1%} of training "
                "tokens"
            )
        else:
            how = ", chosen by auto" if source.get("chosen") == "auto" else ""
            lines.append(
                f"Embeddings: {source['file']} ({source['format']}, dim {source['dim']}{how}): vectors for "
                f"{source['vocab_share']:.1%} of the vocabulary and {source['token_share']:.1%} of training tokens"
            )
    lines.append(
        f"Start vectors: dim {embeddings['dim']}, {embeddings['token_share']:.1%} of training tokens covered; "
        f"{embeddings['added_words']} words of the vectors added for prediction"
    )
    return lines


def _continued(source: dict[str, Any]) -> str:
    """Where an interrupted pretraining took up its kept epochs again."""
    resumed = source.get("resumed_from_epoch")
    return f" (continued after epoch {resumed})" if resumed else ""


def training_line(training: dict[str, Any]) -> str:
    """How training ended and which model it kept: for a staged run, what was published."""
    if "published" in training:
        return f"{training['epochs_run']} epochs; {published_text(training['published'], training['monitor'])}"
    best = "  ".join(f"{key} {value:.4f}" for key, value in training["best"].items())
    stage = f", {training['best_stage']} stage" if "best_stage" in training else ""
    if training.get("monitor") == "val_accuracy":  # else the lowest val_loss, as training always chose before
        stage += ", highest val_accuracy"
    return f"{training['epochs_run']} epochs; best epoch {training['best_epoch']} (restored{stage}): {best}"


def published_text(published: dict[str, Any], monitor: str = "val_loss") -> str:
    """What a staged run published (:func:`lstmcli.info.training_summary`'s ``published``): each part with its
    weight, best epoch (chosen by ``monitor``) and validation scores, then the published model's scores."""

    def scores(values: dict[str, Any]) -> str:
        return f"val_accuracy {values['val_accuracy']:.4f}, val_loss {values['val_loss']:.4f}"

    ngrams, lstm = published["ngrams"], published["lstm"]
    chosen = "highest val_accuracy" if monitor == "val_accuracy" else "lowest val_loss"
    return (
        f"published {ngrams['weight']:g} x the n-gram classifier (best epoch {ngrams['best_epoch']}: "
        f"{scores(ngrams)}) + {lstm['weight']:g} x the LSTM (best epoch {lstm['best_epoch']}: {scores(lstm)}): "
        f"{scores(published)} (each part's epoch chosen by the {chosen}, the weights by the lowest val_loss)"
    )


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
    table.add_row("vectors", escape("\n".join(vectors_lines(data.get("embeddings")))))
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
