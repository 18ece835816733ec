"""``report``: one self-contained HTML page about a trained run, to read in any browser, offline.

Figures are embedded as base64 ``data:`` URIs and the style sheet is inline: the page loads nothing,
so it can be mailed or archived as one file. Every piece of text from the run is HTML-escaped.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli import __version__
from lstmcli.errors import ConfigError
from lstmcli.info import training_summary
from lstmcli.predictor import Predictor
from lstmcli.rundir import REPORT, RunDir, TrainingRecord, write_text
from lstmcli.ui.info import published_text
from lstmcli.ui.plots import confusion_matrix_png, per_label_png, training_curves_png

MAX_TEXT_CHARS = 400  # longer example texts are shortened in the table

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", sans-serif;
       margin: 0 auto; max-width: 1180px; padding: 24px; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; margin-top: 1.8em; }
.sub { color: #656d76; margin-top: 0; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.columns { display: flex; gap: 32px; flex-wrap: wrap; align-items: flex-start; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 16px; min-width: 120px; }
.card b { display: block; font-size: 1.5em; }
img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
.wrong td:first-child { max-width: 640px; overflow-wrap: anywhere; }
"""


def report_page(run: RunDir, n_wrong: int = 10) -> str:
    """The HTML page of a trained run, scored again on its validation part.

    Args:
        run: a trained run directory.
        n_wrong: how many of the most confidently wrong validation texts to show.

    Returns:
        The whole page as one string.

    Raises:
        RunDirError: the run is missing, untrained or damaged.
    """
    from lstmcli.scoring import score

    predictor = Predictor(run)
    prepared = run.read_prepared()
    probs = predictor.proba_ids(prepared.val_x)
    if predictor.config.multi_label:
        return _page(run, predictor.labels, _label_set_sections(run, predictor, probs, prepared.val_y, n_wrong))
    metrics = score(probs, prepared.val_y, predictor.labels)
    texts = run.read_val_texts()
    wrong = confidently_wrong(probs, prepared.val_y, n_wrong)
    history = run.read_history()
    data = run.read_prepare_report()
    confusion = _img(confusion_matrix_png(metrics["confusion_matrix"], predictor.labels), "Confusion matrix")
    sections = {  # in the order a person reads: how good, where it errs, how it trained, on what
        ("metrics", "Metrics"): _metrics_html(metrics),
        ("confusion", "Confusion matrix"): confusion,
        ("training", "Training curves"): _training_html(history, run.read_training()),
        ("errors", "Most confidently wrong validation texts"): _wrong_html(
            wrong, probs, prepared.val_y, texts, predictor.labels
        ),
        ("data", "Data"): _data_html(data),
        ("config", "Config"): _config_html(dataclasses.asdict(predictor.config)),
    }
    return _page(run, predictor.labels, sections)


def _label_set_sections(
    run: RunDir, predictor: Predictor, probs: np.ndarray, y: np.ndarray, n_wrong: int
) -> dict[tuple[str, str], str]:
    """A multi-label run's sections: its metrics, the per-label figure where a confusion matrix stands otherwise,
    and the validation texts whose label sets are furthest from the truth."""
    from lstmcli.scoring import score_label_sets

    metrics = score_label_sets(probs, y, predictor.decider)
    figure = _img(per_label_png(metrics["per_label"], metrics["thresholds"]), "Scores per label")
    chosen = predictor.decider.chosen(probs)
    wrong = np.flatnonzero((chosen != y.astype(bool)).any(axis=1))
    worst = wrong[np.argsort(-np.abs(y[wrong] - probs[wrong]).sum(axis=1), kind="stable")][:n_wrong]
    texts = run.read_val_texts()
    names = lambda row: ", ".join(n for n, on in zip(predictor.labels, row) if on) or "(none)"  # noqa: E731
    rows = [[texts[i] if len(texts) == len(y) else "(text not saved)", names(y[i]), names(chosen[i])] for i in worst]
    return {
        ("metrics", "Metrics"): _label_set_metrics_html(metrics),
        ("per-label", "Per label"): figure,
        ("training", "Training curves"): _training_html(run.read_history(), run.read_training()),
        ("errors", "Validation texts furthest from their labels"): _table(
            ["text", "labels", "predicted"], rows, css="wrong"
        ),
        ("data", "Data"): _data_html(run.read_prepare_report()),
        ("config", "Config"): _config_html(dataclasses.asdict(predictor.config)),
    }


def _label_set_metrics_html(metrics: dict[str, Any]) -> str:
    names = ("micro_f1", "macro_f1", "samples_f1", "jaccard", "subset_accuracy", "hamming_loss", "loss")
    cards = "".join(f'<div class="card">{escape(n.replace("_", "-"))}<b>{metrics[n]:.4f}</b></div>' for n in names)
    rows = [
        [
            label,
            f"{r['precision']:.3f}",
            f"{r['recall']:.3f}",
            f"{r['f1']:.3f}",
            r["support"],
            metrics["thresholds"][label],
        ]
        for label, r in metrics["per_label"].items()
    ]
    return (
        f"<p>On the run's validation part ({metrics['n']} texts), scored now.</p>\n"
        f'<div class="cards">{cards}</div>\n<h3>Per label</h3>\n'
        + _table(["label", "precision", "recall", "F1", "support", "threshold"], rows, numeric={1, 2, 3, 4, 5})
    )


def write_report(run: RunDir, out: Path | None = None, n_wrong: int = 10) -> Path:
    """Builds the report and writes it (atomically) to ``out``, by default ``report.html`` in the run.

    Raises:
        ConfigError: ``out`` is a directory or cannot be written.
    """
    path = out if out is not None else run.report_path()
    if path.is_dir():
        raise ConfigError(f"--out {path} is a directory; pass a file name such as {path / REPORT}")
    page = report_page(run, n_wrong)
    try:
        write_text(path, page)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def confidently_wrong(probs: np.ndarray, y: np.ndarray, n: int) -> list[int]:
    """Indices of the ``n`` misclassified rows whose predicted class had the highest probability, highest first.

    Args:
        probs: ``(rows, n_classes)`` probabilities.
        y: ``(rows,)`` true label indices.
    """
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y)
    confidence = probs[wrong, predicted[wrong]]
    return [int(i) for i in wrong[np.argsort(-confidence, kind="stable")][:n]]


def _page(run: RunDir, labels: list[str], sections: dict[tuple[str, str], str]) -> str:
    generated = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    nav = " · ".join(f'<a href="#{key}">{escape(title)}</a>' for key, title in sections)
    body = "\n".join(_section(key, title, html) for (key, title), html in sections.items())
    title = f"lstmcli report: {run.path.resolve().name}"
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{escape(title)}</title>\n'
        f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>{escape(title)}</h1>\n"
        f'<p class="sub">{escape(str(run.path.resolve()))} · {len(labels)} classes · generated {generated} '
        f"by lstmcli {escape(__version__)}</p>\n<nav>{nav}</nav>\n{body}\n</body>\n</html>\n"
    )


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}">\n<h2>{escape(title)}</h2>\n{body}\n</section>'


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None, css: str = "") -> str:
    """An HTML table; every cell is escaped, cells in ``numeric`` columns are right-aligned."""
    numeric = numeric or set()
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>\n" if any(headers) else ""
    body = "\n".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(str(c))}</td>' if i in numeric else f"<td>{escape(str(c))}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    attr = f' class="{css}"' if css else ""
    return f"<table{attr}>\n{head}{body}\n</table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _data_html(data: dict[str, Any] | None) -> str:
    if not data:
        return "<p>No data summary was saved for this run (prepare.json is missing).</p>"
    total = sum(data["class_counts"].values()) or 1
    summary = _table(
        ["", ""],
        [
            ["file", f"{data['data_file']} ({data['encoding']})"],
            ["columns", f"text '{data['text_column']}', label '{data['label_column']}'"],
            [
                "rows",
                f"{data['rows_read']} read; dropped: "
                + (", ".join(f"{n} {why}" for why, n in data["dropped"].items() if n) or "none"),
            ],
            ["split", split_text(data)],
            ["tokenizer", f"{data['tokenizer']}: {data['tokenizer_reason']}"],
            ["tokens per text", ", ".join(f"{k} {v:g}" for k, v in data["length_percentiles"].items())],
            [
                "max length",
                f"{data['max_len']} ({'auto' if data['max_len_auto'] else 'chosen'}); "
                f"{data['truncated_rows']} texts truncated",
            ],
            ["vocabulary", f"{data['vocab_size']} ids; validation OOV rate {data['val_oov_rate']:.1%}"],
        ],
    )
    classes = _table(
        ["class", "rows", "share"],
        [[label, n, f"{n / total:.1%}"] for label, n in sorted(data["class_counts"].items(), key=lambda kv: -kv[1])],
        numeric={1, 2},
    )
    return summary + "\n<h3>Classes</h3>\n" + classes


def split_text(data: dict[str, Any]) -> str:
    """How prepare split the rows: stratified (in memory) or by a hash of each text (streamed)."""
    return f"{data['train_rows']} train, {data['val_rows']} validation ({data.get('split', 'stratified')})"


def _config_html(config: dict[str, Any]) -> str:
    rows = [
        [key, ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value] for key, value in config.items()
    ]
    half = -(-len(rows) // 2)
    tables = _table(["setting", "value"], rows[:half]) + _table(["setting", "value"], rows[half:])
    return f'<div class="columns">{tables}</div>'


def _training_html(history: list[dict[str, float]], record: TrainingRecord | None) -> str:
    summary = training_summary(history, record)
    if summary is None:
        return "<p>No training history was saved for this run (history.json is missing).</p>"
    curves = _img(training_curves_png(history, summary["best_epoch"]), "Training curves")
    if "published" in summary:
        published = published_text(summary["published"], summary["monitor"])
        return f"<p>{summary['epochs_run']} epochs; {escape(published)}.</p>\n" + curves
    best = ", ".join(f"{key} {value:.4f}" for key, value in summary["best"].items())
    stage = f", {summary['best_stage']} stage" if "best_stage" in summary else ""
    chosen_by = "highest validation accuracy" if summary["monitor"] == "val_accuracy" else "lowest validation loss"
    return (
        f"<p>{summary['epochs_run']} epochs; the model kept is the one from epoch {summary['best_epoch']} "
        f"({chosen_by}{stage}): {escape(best)}.</p>\n" + curves
    )


def _metrics_html(metrics: dict[str, Any]) -> str:
    cards = "".join(
        f'<div class="card">{escape(name)}<b>{value}</b></div>'
        for name, value in (
            ("accuracy", f"{metrics['accuracy']:.4f}"),
            ("macro-F1", f"{metrics['macro_f1']:.4f}"),
            ("loss", f"{metrics['loss']:.4f}"),
            ("texts", str(metrics["n"])),
        )
    )
    rows = [
        [label, f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}", r["support"]]
        for label, r in metrics["per_class"].items()
    ]
    return (
        f"<p>On the run's validation part ({metrics['n']} texts), scored now.</p>\n"
        f'<div class="cards">{cards}</div>\n<h3>Per class</h3>\n'
        + _table(["class", "precision", "recall", "F1", "support"], rows, numeric={1, 2, 3, 4})
    )


def _wrong_html(wrong: list[int], probs: np.ndarray, y: np.ndarray, texts: list[str], labels: list[str]) -> str:
    if not wrong:
        return "<p>No validation text is misclassified.</p>"
    rows = []
    for i in wrong:
        text = texts[i] if len(texts) == len(y) else "(text not saved)"
        if len(text) > MAX_TEXT_CHARS:
            text = text[: MAX_TEXT_CHARS - 1] + "…"
        predicted = int(probs[i].argmax())
        rows.append(
            [text, labels[int(y[i])], labels[predicted], f"{probs[i, predicted]:.3f}", f"{probs[i, int(y[i])]:.3f}"]
        )
    return _table(["text", "true label", "predicted", "p(predicted)", "p(true)"], rows, numeric={3, 4}, css="wrong")
