"""``report``: one self-contained HTML page about a trained run, to read in any browser, offline.

Figures are embedded as base64 ``data:`` URIs and the style sheet is inline: the page loads nothing,
so it can be mailed or archived as one file. Every piece of text from the run is HTML-escaped.
"""

from __future__ import annotations

import base64
import datetime
from html import escape
from pathlib import Path
from typing import Any

from lstmcli import __version__
from lstmcli.errors import ConfigError
from lstmcli.rundir import REPORT, write_text
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


def report_page(report: dict[str, Any]) -> str:
    """The HTML page of a trained run.

    Args:
        report: what :func:`lstmcli.info.run_report` returns.

    Returns:
        The whole page as one string.
    """
    labels, metrics = report["labels"], report["metrics"]
    if report["multi_label"]:
        figure = _img(per_label_png(metrics["per_label"], metrics["thresholds"]), "Scores per label")
        how_good = {("metrics", "Metrics"): _label_set_metrics_html(metrics), ("per-label", "Per label"): figure}
        wrong = ("errors", "Validation texts furthest from their labels"), _label_sets_html(report["wrong"])
    else:
        confusion = _img(confusion_matrix_png(metrics["confusion_matrix"], labels), "Confusion matrix")
        how_good = {("metrics", "Metrics"): _metrics_html(metrics), ("confusion", "Confusion matrix"): confusion}
        wrong = ("errors", "Most confidently wrong validation texts"), _wrong_html(report["wrong"])
    sections = {  # in the order a person reads: how good, where it errs, how it trained, on what
        **how_good,
        ("training", "Training curves"): _training_html(report["history"], report["training"]),
        wrong[0]: wrong[1],
        ("data", "Data"): _data_html(report["data"]),
        ("config", "Config"): _config_html(report["config"]),
    }
    return _page(Path(report["run_dir"]), labels, sections)


def _label_sets_html(wrong: list[dict[str, Any]]) -> str:
    names = lambda labels: ", ".join(labels) or "(none)"  # noqa: E731
    rows = [[_shown_text(row["text"]), names(row["labels"]), names(row["predicted"])] for row in wrong]
    return _table(["text", "labels", "predicted"], rows, css="wrong")


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


def write_report(report: dict[str, Any], path: Path) -> Path:
    """Renders ``report`` (:func:`lstmcli.info.run_report`) and writes the page (atomically) to ``path``.

    Raises:
        ConfigError: ``path`` is a directory or cannot be written.
    """
    check_out(path)
    try:
        write_text(path, report_page(report))
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def check_out(path: Path) -> None:
    """Raises ConfigError when the page cannot go to ``path`` because it is a directory (before any scoring)."""
    if path.is_dir():
        raise ConfigError(f"--out {path} is a directory; pass a file name such as {path / REPORT}")


def _page(run_dir: Path, labels: list[str], sections: dict[tuple[str, str], str]) -> str:
    generated = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    nav = " · ".join(f'<a href="#{key}">{escape(title)}</a>' for key, title in sections)
    body = "\n".join(_section(key, title, html) for (key, title), html in sections.items())
    title = f"lstmcli report: {run_dir.resolve().name}"
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{escape(title)}</title>\n'
        f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>{escape(title)}</h1>\n"
        f'<p class="sub">{escape(str(run_dir.resolve()))} · {len(labels)} classes · generated {generated} '
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


def _training_html(history: list[dict[str, float]], summary: dict[str, Any] | None) -> str:
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


def _wrong_html(wrong: list[dict[str, Any]]) -> str:
    if not wrong:
        return "<p>No validation text is misclassified.</p>"
    rows = [
        [_shown_text(row["text"]), row["label"], row["predicted"], f"{row['p_predicted']:.3f}", f"{row['p_label']:.3f}"]
        for row in wrong
    ]
    return _table(["text", "true label", "predicted", "p(predicted)", "p(true)"], rows, numeric={3, 4}, css="wrong")


def _shown_text(text: str | None) -> str:
    """A validation text as the table shows it: shortened past :data:`MAX_TEXT_CHARS`."""
    if text is None:
        return "(text not saved)"
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"
