"""How results look to a person: rich tables and the live training display on stderr, evaluate's and info's
tables on stdout (they are what the command was asked for)."""

from __future__ import annotations

import dataclasses
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from lstmcli.dataset.report import PrepareReport
from lstmcli.ui.console import console
from lstmcli.ui.info import vectors_lines
from lstmcli.ui.progress import rows_progress

err = console(stderr=True)


def show_prepare(report: PrepareReport) -> None:
    """The prepare report: rows, drops, classes, lengths, vocabulary and OOV rate."""
    dropped = ", ".join(f"{n} {why}" for why, n in report.dropped.items() if n) or "none"
    # Paths, column names, labels and reasons are data: escaped so that "[...]" in them is printed, not styled.
    err.print(
        f"Read {report.rows_read} rows from {escape(report.data_file)} ({report.encoding}); "
        f"text column '{escape(report.text_column)}', label column '{escape(report.label_column)}'"
    )
    split = f"{report.train_rows} train, {report.val_rows} validation ({report.split})"  # stratified or hashed
    err.print(f"Dropped rows: {dropped}. Split: {split}")
    if report.multi_label is not None:
        _show_label_sets(report)
    else:
        table = Table("class", "rows", "share", title="Classes", title_justify="left")
        total = sum(report.class_counts.values())
        for label, n in sorted(report.class_counts.items(), key=lambda kv: -kv[1]):
            table.add_row(escape(label), str(n), f"{n / total:.1%}")
        err.print(table)
    lengths = ", ".join(f"{k} {v:g}" for k, v in report.length_percentiles.items())
    err.print(f"Tokenizer: {_tokenizer(report)} ({escape(report.tokenizer_reason)})")
    err.print(f"Tokens per text: {lengths}")
    how = "auto: a high percentile of training lengths" if report.max_len_auto else "--max-len"
    texts = "text" if report.truncated_rows == 1 else "texts"
    err.print(f"Max length: {report.max_len} ({how}); {report.truncated_rows} {texts} truncated")
    err.print(
        f"Vocabulary: {report.vocab_size} ids (padding and unknown included); "
        f"validation OOV rate {report.val_oov_rate:.1%}"
    )
    for line in vectors_lines(report.embeddings):
        err.print(escape(line))
    for note in report.notes:
        err.print(f"Streaming: {note}" if report.mode == "streaming" else f"Note: {escape(note)}")


def _show_label_sets(report: PrepareReport) -> None:
    """A multi-label report's labels: texts per label and their share of the texts, labels per text, rare ones."""
    about = report.multi_label or {}
    texts = report.train_rows + report.val_rows
    table = Table("label", "texts", "share of texts", title="Labels", title_justify="left")
    for label, n in sorted(report.class_counts.items(), key=lambda kv: -kv[1]):
        table.add_row(escape(label), str(n), f"{n / texts:.1%}")
    err.print(table)
    err.print(
        f"Labels per text: {about['cardinality']:.2f} on average, at most {about['max_labels']}; "
        f"{about['empty_label_sets']} texts without a label (kept)"
    )
    rare = about["too_rare"]
    if rare:
        shown = ", ".join(escape(name) for name in rare[:20]) + (
            f" and {len(rare) - 20} more" if len(rare) > 20 else ""
        )
        err.print(f"Too rare to learn (fewer than {about['rare_rows']} training texts): {len(rare)} labels: {shown}")


def _tokenizer(report: PrepareReport) -> str:
    """The tokenizer's name as the report shows it: ``word`` splits Chinese, Japanese or Thai per character."""
    if report.tokenizer == "word" and "one token per such character" in report.tokenizer_reason:
        return "word, per character in scripts written without spaces"
    return report.tokenizer


def _metrics(logs: dict[str, float]) -> str:
    names = (("loss", "loss"), ("accuracy", "acc"), ("val_loss", "val_loss"), ("val_accuracy", "val_acc"))
    return "  ".join(f"{short} {logs[k]:.4f}" for k, short in names if k in logs)


class RichProgress:
    """The live training display: one bar for the epoch's batches, one for the whole run."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self.run_task: TaskID | None = None
        self.epoch_task: TaskID | None = None
        self.steps = 0
        self.epoch_no = 0

    def start(self, epochs: int, initial_epoch: int, steps: int) -> None:
        self.steps = steps
        self.epoch_no = initial_epoch + 1
        self.progress.start()
        self.run_task = self.progress.add_task("run", total=epochs, completed=initial_epoch, metrics="")
        self.epoch_task = self.progress.add_task(f"epoch {self.epoch_no}", total=steps, metrics="")

    def batch(self, step: int, logs: dict[str, float]) -> None:
        assert self.epoch_task is not None
        self.progress.update(self.epoch_task, completed=step, metrics=_metrics(logs), visible=True)

    def epoch(self, epoch: int, logs: dict[str, float], improved: bool, stage: str = "") -> None:
        assert self.run_task is not None and self.epoch_task is not None
        mark = " [green]best, saved[/]" if improved else ""
        stage = f"{stage:<7} " if stage else ""
        self.progress.console.print(f"epoch {epoch:>3}  {stage}{_metrics(logs)}{mark}")
        self.progress.update(self.run_task, completed=epoch)
        self.epoch_no = epoch + 1
        # Hidden until its first batch: after the last epoch (or early stopping) no empty bar is left behind.
        self.progress.reset(
            self.epoch_task, total=self.steps, description=f"epoch {self.epoch_no}", metrics="", visible=False
        )

    def stop(self) -> None:
        self.progress.stop()


def show_train(result: Any, run_path: str, chief: bool = True) -> None:
    """The end-of-training summary; a worker other than the chief (which saves the model) says only that it ended."""
    if not chief:
        err.print(f"Worker done after {result.epochs_run} epochs in {result.seconds:.1f}s; the chief saved the model")
        return
    how = "interrupted" if result.interrupted else ("stopped early" if result.stopped_early else "finished")
    err.print(
        f"Training {how} after {result.epochs_run} epochs in {result.seconds:.1f}s; "
        f"best epoch {result.best_epoch}: {_metrics(result.best)}"
    )
    if result.blend is not None:
        err.print(published(result.blend.ngram_weight, result.blend.lstm_weight, result.blend.scores))
    if result.interrupted:
        err.print(
            f"Saved the best model so far to {run_path}; continue with: lstmcli train --run-dir {run_path} --resume"
        )
    else:
        err.print(f"Saved the best model to {run_path}")


def train_summary(result: Any, run_path: str, report: PrepareReport | None) -> dict[str, Any]:
    """``train --json``'s object: how training ended, where the run is, and prepare's report if it ran."""
    summary = {"run_dir": run_path, **dataclasses.asdict(result)}
    if report is not None:
        summary["prepare"] = report.to_dict()
    return summary


def show_metrics(metrics: dict[str, Any]) -> None:
    """Evaluate's tables on stdout: summary, per-class report and confusion matrix; unseen labels on stderr."""
    out = console(stderr=False)
    out.print(f"Evaluated on {escape(metrics['data'])}: {metrics['n']} texts")
    if metrics.get("multi_label"):
        _show_label_set_metrics(metrics, out)
        return
    out.print(f"accuracy {metrics['accuracy']:.4f}   loss {metrics['loss']:.4f}   macro-F1 {metrics['macro_f1']:.4f}")
    report = Table("class", "precision", "recall", "F1", "support", title="Per class", title_justify="left")
    for label, row in metrics["per_class"].items():
        report.add_row(
            escape(label), f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"])
        )
    out.print(report)
    matrix = Table("true \\ predicted", *map(escape, metrics["labels"]), title="Confusion matrix", title_justify="left")
    for label, row in zip(metrics["labels"], metrics["confusion_matrix"]):
        matrix.add_row(escape(label), *(str(v) for v in row))
    out.print(matrix)
    if metrics.get("unseen_labels"):
        unseen = ", ".join(f"'{escape(k)}' ({v})" for k, v in metrics["unseen_labels"].items())
        err.print(f"[yellow]Labels the model never saw, left out of the metrics: {unseen}[/]")


def _show_label_set_metrics(metrics: dict[str, Any], out: Any) -> None:
    """A multi-label run's summary, and per label its scores and threshold."""
    names = ("micro_f1", "macro_f1", "samples_f1", "jaccard", "subset_accuracy", "hamming_loss", "loss")
    out.print("   ".join(f"{name.replace('_', '-')} {metrics[name]:.4f}" for name in names))
    per_text = metrics["labels_per_text"]
    out.print(f"labels per text: {per_text['gold']:.2f} gold, {per_text['predicted']:.2f} predicted")
    columns = ("label", "precision", "recall", "F1", "support", "threshold")
    report = Table(*columns, title="Per label", title_justify="left")
    for label, row in metrics["per_label"].items():
        scores = (f"{row[k]:.3f}" for k in ("precision", "recall", "f1"))
        report.add_row(escape(label), *scores, str(row["support"]), f"{metrics['thresholds'][label]:.2f}")
    out.print(report)
    if metrics.get("unseen_labels"):
        unseen = ", ".join(f"'{escape(k)}' ({v})" for k, v in metrics["unseen_labels"].items())
        err.print(f"[yellow]Labels the model never saw, left out of the metrics: {unseen}[/]")


def show_plots(written: list[Path], labels: list[str]) -> None:
    """Says where evaluate's figures went, and warns when no CJK font draws the labels."""
    from lstmcli.ui.plots import cjk_font_missing

    for path in written:
        print(f"Wrote {path}", file=sys.stderr)
    if cjk_font_missing(labels):
        print(
            "Warning: no font with Chinese/Japanese/Korean glyphs found; labels show as boxes. "
            "Install one, e.g. apt-get install fonts-noto-cjk",
            file=sys.stderr,
        )


def show_info(summary: dict[str, Any]) -> None:
    """``lstmcli info``'s tables, on stdout: the summary is what the command was asked for."""
    from lstmcli.ui.info import render_info

    console(stderr=False).print(render_info(summary))


def warn_replaced(replaced: int) -> None:
    """Warns once when invalid bytes in the input were replaced by U+FFFD while decoding it."""
    if replaced:
        print(
            f"Warning: {replaced} invalid byte sequences in the input were replaced by U+FFFD; "
            "pass --encoding if the input is not UTF-8",
            file=sys.stderr,
        )


class TerminalHooks:
    """Prepare's report and progress, and a status line while TensorFlow loads, on stderr."""

    def preparing(self) -> AbstractContextManager[Any]:
        return rows_progress()

    report: PrepareReport | None = None  # what prepare read and chose, when training prepared a CSV first

    def prepared(self, report: Any) -> None:
        self.report = report
        show_prepare(report)

    def loading(self) -> AbstractContextManager[Any]:
        return err.status("Loading TensorFlow...")


def show_export(result: Any) -> None:
    """Where ``export`` wrote the model, its size, and how closely it agrees with lstmcli's own predictions."""
    size = f"{result.bytes / 2**20:.1f} MiB" if result.bytes >= 2**20 else f"{result.bytes / 2**10:.1f} KiB"
    print(f"Exported {result.format} to {result.path} ({size})", file=sys.stderr)
    print(
        f"Checked against lstmcli predict on {result.checked_texts} validation texts: max abs difference "
        f"{result.max_abs_diff:.2e} (tolerance {result.tolerance:.0e})",
        file=sys.stderr,
    )


def published(ngram_weight: float, lstm_weight: float, scores: dict[str, dict[str, float]]) -> str:
    """Which model a staged training published, and what each of its parts scored on validation."""
    parts = f"n-gram part alone {scores['ngrams']['accuracy']:.4f}, LSTM part alone {scores['lstm']['accuracy']:.4f}"
    if lstm_weight == 0:
        return f"Published the n-gram classifier alone: val_acc {scores['published']['accuracy']:.4f} ({parts})"
    return (
        f"Published {ngram_weight:g} x n-gram classifier + {lstm_weight:g} x LSTM logits (the weights with the "
        f"lowest val_loss): val_acc {scores['published']['accuracy']:.4f} ({parts})"
    )
