"""Figures of a run as PNG: the confusion matrix and the training curves.

matplotlib is imported inside the functions, and drawn with its Agg canvas (no display, no pyplot state),
so importing this module costs nothing and a server without a screen draws the same figures.
"""

from __future__ import annotations

import io
import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.rundir import CONFUSION_PNG, CURVES_PNG, PER_LABEL_PNG

# Fonts with Chinese, Japanese and Korean glyphs, best first; matplotlib falls back to one for labels that
# DejaVu Sans (its default) cannot draw.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Sarasa Gothic SC",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "Noto Serif CJK SC",
    "AR PL UMing CN",
    "Droid Sans Fallback",
)
_CJK_FILE = re.compile(r"cjk|wqy|wenquanyi|sourcehan|droidsansfallback|simhei|msyh|pingfang|uming|ukai", re.IGNORECASE)
_WIDE = re.compile("[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
MAX_LABEL_CHARS = 24  # longer labels are shortened with an ellipsis in the middle on the axes
DPI = 100


def needs_cjk_font(labels: list[str]) -> bool:
    """Whether any label has Chinese, Japanese or Korean characters (which DejaVu Sans lacks)."""
    return any(_WIDE.search(label) for label in labels)


@lru_cache(maxsize=1)
def find_cjk_font() -> str | None:
    """The family name of an installed CJK-capable font, or None.

    matplotlib caches its font list, so a font installed after that cache was built is looked up among
    the system's font files and registered.
    """
    from matplotlib import font_manager

    known = {font.name for font in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in known:
            return name
    for path in font_manager.findSystemFonts():
        if _CJK_FILE.search(Path(path).name):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    known = {font.name for font in font_manager.fontManager.ttflist}
    return next(
        (name for name in CJK_FONTS if name in known), next((name for name in sorted(known) if "CJK" in name), None)
    )


def cjk_font_missing(labels: list[str]) -> bool:
    """Whether ``labels`` need a CJK font and none is installed (their glyphs are drawn as boxes)."""
    return needs_cjk_font(labels) and find_cjk_font() is None


def _font_rc(labels: list[str]) -> Any:  # Any: matplotlib types rc keys as literals
    # A list of families (not the generic "sans-serif") is what makes matplotlib fall back glyph by glyph.
    families = ["DejaVu Sans"]
    if needs_cjk_font(labels):
        cjk = find_cjk_font()
        if cjk is not None:
            families.append(cjk)
    return {"font.family": families}


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # Without a CJK font, missing glyphs are drawn as boxes; the CLI says how to get one.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _short(label: str) -> str:
    """Long labels keep their start and their end, which is where similar labels tend to differ."""
    if len(label) <= MAX_LABEL_CHARS:
        return label
    tail = MAX_LABEL_CHARS // 3
    return label[: MAX_LABEL_CHARS - tail - 1] + "…" + label[-tail:]


def confusion_matrix_png(matrix: list[list[int]] | np.ndarray, labels: list[str]) -> bytes:
    """The confusion matrix as counts and as row-normalized shares, side by side.

    Args:
        matrix: counts ``(n_classes, n_classes)``, true labels in rows, predicted in columns.
        labels: class names, in the matrix's order.

    Returns:
        The PNG file's bytes.
    """
    import matplotlib
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=np.int64)
    support = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, support, out=np.zeros(counts.shape, dtype=np.float64), where=support > 0)
    n = len(labels)
    side = max(4.5, 0.42 * n + 2.5)  # inches per panel: cells stay readable up to 30 classes
    with matplotlib.rc_context(_font_rc(labels)):
        fig = Figure(figsize=(2 * side + 1.0, side), layout="constrained")
        axes = fig.subplots(1, 2)
        blank = n > 15  # many classes: empty cells stay blank, so the few that matter stand out (and draw faster)
        _matrix_panel(
            fig, axes[0], counts, labels, "Counts", ["" if blank and not v else str(v) for v in counts.ravel()]
        )
        _matrix_panel(
            fig,
            axes[1],
            shares,
            labels,
            "Share of each true class (row-normalized)",
            ["" if blank and v < 0.005 else (f"{v:.2f}" if v else "0") for v in shares.ravel()],
            vmax=1.0,
        )
        return _png(fig)


def per_label_png(per_label: dict[str, dict[str, float]], thresholds: dict[str, float]) -> bytes:
    """A multi-label run's scores per label, most frequent label on top: F1 as a bar, precision and recall as
    marks, each label's support and threshold beside its name (a multi-label run's confusion matrix).

    Args:
        per_label: each label's ``precision``, ``recall``, ``f1`` and ``support``.
        thresholds: each label's decision threshold.

    Returns:
        The PNG file's bytes.
    """
    import matplotlib
    from matplotlib.figure import Figure

    labels = sorted(per_label, key=lambda name: -per_label[name]["support"])
    rows = np.arange(len(labels))
    scores = {key: np.array([per_label[name][key] for name in labels]) for key in ("precision", "recall", "f1")}
    names = [f"{_short(name)} (n={per_label[name]['support']}, t={thresholds[name]:.2f})" for name in labels]
    with matplotlib.rc_context(_font_rc(labels)):
        fig = Figure(figsize=(8.0, max(3.0, 0.28 * len(labels) + 1.2)), layout="constrained")
        axes = fig.subplots()
        axes.barh(rows, scores["f1"], color="#4c72b0", label="F1")
        axes.plot(scores["precision"], rows, "k|", markersize=10, label="precision")
        axes.plot(scores["recall"], rows, "rx", markersize=5, label="recall")
        axes.set_yticks(rows, names, fontsize=8)
        axes.invert_yaxis()
        axes.set_xlim(0, 1)
        axes.set_title("Per label (validation or --data): F1, precision, recall; support n, threshold t")
        axes.legend(loc="lower right", fontsize=8)
        return _png(fig)


def _matrix_panel(
    fig: Any, ax: Any, values: np.ndarray, labels: list[str], title: str, texts: list[str], vmax: float | None = None
) -> None:
    n = len(labels)
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax if vmax is not None else max(values.max(), 1))
    fig.colorbar(image, ax=ax, shrink=0.8)
    names = [_short(label) for label in labels]
    label_size = 10 if n <= 10 else (8 if n <= 20 else 7)
    ax.set_xticks(
        range(n),
        names,
        rotation=45 if n <= 12 else 90,
        ha="right" if n <= 12 else "center",
        rotation_mode="anchor" if n <= 12 else "default",
        fontsize=label_size,
    )
    ax.set_yticks(range(n), names, fontsize=label_size)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(title)
    threshold = (vmax if vmax is not None else values.max()) / 2
    cell_size = 10 if n <= 8 else (8 if n <= 15 else 6)
    for (row, col), text in zip(np.ndindex(values.shape), texts, strict=True):
        if not text:
            continue
        # Out of the layout: the cells sit inside the axes, and measuring 900 texts per panel is slow.
        ax.text(
            col,
            row,
            text,
            ha="center",
            va="center",
            fontsize=cell_size,
            in_layout=False,
            color="white" if values[row, col] > threshold else "black",
        )


def training_curves_png(history: list[dict[str, float]], best: int | None) -> bytes:
    """Loss and accuracy by epoch, training and validation, with the restored best epoch marked.

    Args:
        history: one dict per epoch, as in ``history.json``: ``epoch``, ``loss``, ``accuracy``,
            ``val_loss``, ``val_accuracy``.
        best: the epoch training kept (:meth:`lstmcli.rundir.RunDir.read_training`), None for no mark.

    Returns:
        The PNG file's bytes.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [int(row["epoch"]) for row in history]
    with matplotlib.rc_context(_font_rc([])):
        fig = Figure(figsize=(11, 4.2), layout="constrained")
        panels = zip(fig.subplots(1, 2), ("loss", "accuracy"), ("Loss", "Accuracy"), strict=True)
        for ax, metric, title in panels:
            for key, name, style in ((metric, "training", "-o"), (f"val_{metric}", "validation", "-s")):
                points = [(e, row[key]) for e, row in zip(epochs, history, strict=True) if key in row]
                if points:
                    ax.plot(*zip(*points, strict=True), style, label=name, markersize=4)
            if best is not None:
                ax.axvline(
                    best, color="tab:green", linestyle="--", linewidth=1.2, label=f"best epoch {best} (restored)"
                )
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=9)
        return _png(fig)


def evaluation_figures(metrics: dict[str, Any], history: list[dict[str, float]], best: int | None) -> dict[str, bytes]:
    """evaluate's figures, PNG bytes by their file name in the run (:data:`lstmcli.rundir.FIGURES`); drawn, not
    written.

    Args:
        metrics: from :func:`lstmcli.scoring.evaluate`: the confusion matrix and its labels, or a multi-label
            run's scores per label and thresholds.
        history: the run's ``history.json`` rows; no curves without them.
        best: the epoch training kept, marked on the curves (None: no mark).
    """
    if metrics.get("multi_label"):
        figures = {PER_LABEL_PNG: per_label_png(metrics["per_label"], metrics["thresholds"])}
    else:
        figures = {CONFUSION_PNG: confusion_matrix_png(metrics["confusion_matrix"], metrics["labels"])}
    if history:
        figures[CURVES_PNG] = training_curves_png(history, best)
    return figures
