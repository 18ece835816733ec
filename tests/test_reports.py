"""Figures, the HTML report, explain and info through the real CLI, on tiny runs in tmp_path."""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import write_csv
from typer.testing import CliRunner

from lstmcli import rundir
from lstmcli.cli import app
from lstmcli.explain import occluded_rows
from lstmcli.nn.inference import predict_proba
from lstmcli.predictor import Predictor
from lstmcli.rundir import TrainingRecord
from lstmcli.scoring import WorstRows
from lstmcli.text.vocab import OOV_ID
from lstmcli.ui.plots import confusion_matrix_png, find_cjk_font, training_curves_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTIONS = ("data", "config", "training", "metrics", "confusion", "errors")
# Anything that would make a browser fetch: src/href/url() to http(s), protocol-relative URLs, imports, scripts.
EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//"""
    r"|@import|<script|<link",
    re.IGNORECASE,
)


def _copy(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


def _image(path_or_bytes: Path | bytes) -> np.ndarray:
    import matplotlib.image

    data = path_or_bytes.read_bytes() if isinstance(path_or_bytes, Path) else path_or_bytes
    assert data.startswith(PNG_SIGNATURE)
    return matplotlib.image.imread(io.BytesIO(data), format="png")


def _snapshot(run: Path) -> dict[str, bytes]:
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


# --- evaluate --plots ---


def test_evaluate_plots_writes_both_figures(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    run = _copy(trained_run, tmp_path)
    result = runner.invoke(app, ["evaluate", "-r", str(run), "--plots"])
    assert result.exit_code == 0, result.output
    for name in (rundir.CONFUSION_PNG, rundir.CURVES_PNG):
        assert f"Wrote {run / name}" in result.stderr
        image = _image(run / name)
        height, width, channels = image.shape
        assert 300 <= height <= 3000 and 600 <= width <= 4000 and channels in (3, 4), image.shape
        assert image[..., :3].std() > 0.05  # something is drawn, not a blank canvas


def test_evaluate_without_plots_writes_no_figure(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    run = _copy(trained_run, tmp_path)
    assert runner.invoke(app, ["evaluate", "-r", str(run)]).exit_code == 0
    assert not (run / rundir.CONFUSION_PNG).exists() and not (run / rundir.CURVES_PNG).exists()


def test_confusion_matrix_grows_with_the_classes() -> None:
    two = _image(confusion_matrix_png([[5, 1], [2, 7]], ["neg", "pos"]))
    labels = [f"a rather long class name number {i}" for i in range(30)]
    thirty = _image(confusion_matrix_png(np.eye(30, dtype=int) * 9, labels))
    assert thirty.shape[1] > 2 * two.shape[1] and thirty.shape[0] > 2 * two.shape[0]


def test_long_labels_keep_the_end_that_tells_them_apart() -> None:
    from lstmcli.ui.plots import MAX_LABEL_CHARS, _short

    shortened = {_short(f"a much longer category name {i}") for i in range(10, 30)}
    assert len(shortened) == 20 and all(len(label) == MAX_LABEL_CHARS for label in shortened)
    assert _short("billing") == "billing"


def test_chinese_labels_get_a_font_with_their_glyphs() -> None:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    font = find_cjk_font()
    if font is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no CJK font installed; CI installs fonts-noto-cjk")
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
    path = font_manager.findfont(font_manager.FontProperties(family=font), fallback_to_default=False)
    charmap = FT2Font(path).get_charmap()
    labels = ["书籍", "平板", "洗发水", "计算机"]
    assert all(ord(ch) in charmap for label in labels for ch in label)
    assert _image(confusion_matrix_png(np.eye(4, dtype=int), labels)).shape[1] > 600


def test_chinese_labels_without_a_cjk_font_still_draw_and_warn(
    runner: CliRunner, trained_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _copy(trained_run, tmp_path)
    (run / rundir.LABELS).write_text(json.dumps(["体育", "天气", "烹饪"], ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr("lstmcli.ui.plots.find_cjk_font", lambda: None)
    result = runner.invoke(app, ["evaluate", "-r", str(run), "--plots"])
    assert result.exit_code == 0, result.output
    assert "Warning: no font with Chinese/Japanese/Korean glyphs found" in result.stderr
    assert _image(run / rundir.CONFUSION_PNG).shape[0] >= 300


def test_without_a_record_the_best_epoch_is_the_first_lowest_val_loss() -> None:
    history = [
        {"epoch": 1, "val_loss": 0.9},
        {"epoch": 2, "val_loss": 0.5},
        {"epoch": 3, "val_loss": 0.5},
        {"epoch": 4, "val_loss": 0.7},
    ]
    record = TrainingRecord.from_history(history)
    assert record is not None and (record.best_epoch, record.monitor) == (2, "val_loss")
    assert TrainingRecord.from_history([]) is None


def test_training_curves_draw_every_metric() -> None:
    history = [
        {
            "epoch": e,
            "loss": 1 / e,
            "accuracy": 1 - 1 / (e + 1),
            "val_loss": abs(e - 3) + 0.5,
            "val_accuracy": 0.8 - abs(e - 3) / 10,
        }
        for e in range(1, 8)
    ]
    image = _image(training_curves_png(history, 3))
    assert image.shape[0] >= 300 and image.shape[1] >= 800


# --- report ---


def test_report_is_one_self_contained_page(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    run = _copy(trained_run, tmp_path)
    result = runner.invoke(app, ["report", "-r", str(run)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {run / rundir.REPORT}" in result.stderr
    page = (run / rundir.REPORT).read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert page.count('src="data:image/png;base64,') == 2  # training curves and confusion matrix
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    for label in ("cooking", "sports", "weather"):
        assert f"<td>{label}</td>" in page


def test_report_escapes_text_from_the_run(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    run = _copy(trained_run, tmp_path)
    labels = ["<b>bold</b>", 'a "quoted" & label', "<img src=x onerror=alert(1)>"]
    (run / rundir.LABELS).write_text(json.dumps(labels), encoding="utf-8")
    out = tmp_path / "out" / "page.html"
    result = runner.invoke(app, ["report", "-r", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page
    assert "a &quot;quoted&quot; &amp; label" in page
    assert "<img src=x" not in page
    assert not (run / rundir.REPORT).exists()


def test_report_lists_the_most_confidently_wrong_first_block_by_block() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.95, 0.05], [0.04, 0.96]])
    y = np.array([1, 1, 1, 0, 0, 0])
    predicted = probs.argmax(axis=1)
    confidence = np.where(predicted != y, probs.max(axis=1), np.nan)
    for n, expected in ((10, [5, 0, 3, 2]), (2, [5, 0]), (0, [])):
        worst = WorstRows(n)
        for start in range(0, len(y), 2):  # the same rows as whole, a block of two at a time
            block = slice(start, start + 2)
            worst.add(start, confidence[block], probs[block], y[block])
        assert [w.row for w in worst.rows] == expected
        assert all(np.array_equal(w.probabilities, probs[w.row]) and w.truth == y[w.row] for w in worst.rows)


def test_report_errors_leave_the_run_unchanged(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    run = _copy(trained_run, tmp_path)
    before = _snapshot(run)
    result = runner.invoke(app, ["report", "-r", str(run), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: --out {tmp_path} is a directory; pass a file name such as {tmp_path / 'report.html'}\n"
    )
    result = runner.invoke(app, ["report", "-r", str(run), "--wrong", "-1"])
    assert result.exit_code == 1 and result.stderr == "Error: --wrong must be 0 or more; received -1\n"
    assert _snapshot(run) == before
    missing = tmp_path / "missing"
    result = runner.invoke(app, ["report", "-r", str(missing)])
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: run directory {missing} does not exist")


def _chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; CI installs it (apt-get install chromium)")
        pytest.skip("chromium not found: install it to render the report (apt-get install chromium)")
    return browser


def _chromium_args(browser: str, profile: Path) -> list[str]:
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]


def test_report_renders_in_headless_chromium(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    browser = _chromium()
    page = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "-r", str(trained_run), "--out", str(page)]).exit_code == 0
    # A test-only copy records, once the page has loaded, each image's decoded width and each heading.
    probe = tmp_path / "probe.html"
    probe.write_text(
        page.read_text(encoding="utf-8").replace(
            "</body>",
            """<script>
window.addEventListener("load", () => {
  document.body.dataset.widths = [...document.images].map(i => i.naturalWidth).join(",");
  document.body.dataset.headings = [...document.querySelectorAll("h2")].map(h => h.textContent).join("|");
});
</script></body>""",
        ),
        encoding="utf-8",
    )
    dom = subprocess.run(
        [*_chromium_args(browser, tmp_path / "profile"), "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    widths = re.search(r'data-widths="([^"]*)"', dom)
    headings = re.search(r'data-headings="([^"]*)"', dom)
    assert widths and headings, dom[:2000]
    assert [int(w) > 500 for w in widths.group(1).split(",")] == [True, True]
    assert headings.group(1).split("|") == [
        "Metrics",
        "Confusion matrix",
        "Training curves",
        "Most confidently wrong validation texts",
        "Data",
        "Config",
    ]
    screenshot = tmp_path / "shot.png"
    subprocess.run(
        [
            *_chromium_args(browser, tmp_path / "profile"),
            f"--screenshot={screenshot}",
            "--window-size=1200,1600",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert _image(screenshot).shape[:2] == (1600, 1200)


# --- explain ---

FILLER = ["the", "report", "came", "today", "meeting", "later", "office", "note", "we", "said", "next", "week"]


@pytest.fixture(scope="module")
def decider_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run where one word decides the class: 'alpha' means yes, 'omega' means no; the rest is shared filler."""
    base = tmp_path_factory.mktemp("decider")
    rng = random.Random(3)
    rows = []
    for word, label in (("alpha", "yes"), ("omega", "no")):
        for _ in range(150):
            words = [rng.choice(FILLER) for _ in range(rng.randint(4, 8))]
            words.insert(rng.randint(0, len(words)), word)
            rows.append((" ".join(words), label))
    rng.shuffle(rows)
    data = write_csv(base / "decider.csv", rows)
    run = base / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(data),
            "-r",
            str(run),
            "--epochs",
            "16",
            "--embedding-dim",
            "16",
            "--units",
            "16",
            "--dense-units",
            "16",
            "--batch-size",
            "16",
            "--no-early-stopping",
        ],
    )
    assert result.exit_code == 0, result.output
    return run


@pytest.mark.parametrize(("method", "margin"), [("occlusion", 3.0), ("shapley", 1.2)])
def test_explain_scores_the_deciding_word_highest(
    runner: CliRunner, decider_run: Path, method: str, margin: float
) -> None:
    """Shapley values also credit words for moving the text away from the empty one, hence the smaller margin."""
    texts = ["the report alpha came today", "we said omega next week at the office"]
    result = runner.invoke(app, ["explain", "-r", str(decider_run), "--json", "--method", method, *texts])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["label"] for row in rows] == ["yes", "no"]
    for row, word, text in zip(rows, ("alpha", "omega"), texts, strict=True):
        assert row["text"] == text
        assert [t["token"] for t in row["tokens"]] == text.split()
        scores = {t["token"]: t["score"] for t in row["tokens"]}
        others = [abs(score) for token, score in scores.items() if token != word]
        assert scores[word] > margin * max(others), row  # the deciding word clearly first
        assert 0.5 < row["probability"] <= 1.0


def test_explain_reads_stdin_and_keeps_blank_lines(runner: CliRunner, decider_run: Path) -> None:
    result = runner.invoke(app, ["explain", "-r", str(decider_run), "--json"], input="alpha today\n\nomega week\n")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["label"] for row in rows] == ["yes", None, "no"]
    assert rows[1] == {"text": "", "label": None, "probability": None, "tokens": []}


def test_explain_for_people_names_the_decisive_tokens(runner: CliRunner, decider_run: Path) -> None:
    result = runner.invoke(app, ["explain", "-r", str(decider_run), "the office alpha note"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("yes ") and lines[1] == "the office alpha note"
    assert lines[2].startswith("  most decisive: alpha +")


@pytest.mark.parametrize("engine", ["numpy", "onnx"])
def test_explain_scores_are_the_drop_with_each_token_padded(
    runner: CliRunner, trained_run: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Either engine labels the occluded copies (padding between tokens), as NumPy labels each alone."""
    if engine == "onnx":
        pytest.importorskip("onnxruntime")
    monkeypatch.setenv("LSTMCLI_ENGINE", engine)
    text = "rain goal storm recipe wind"
    result = runner.invoke(app, ["explain", "-r", str(trained_run), "--json", "--method", "occlusion", text])
    row = json.loads(result.stdout)
    predictor = Predictor(rundir.RunDir(trained_run))
    ids = predictor.encode([text])
    positions = np.flatnonzero(ids[0])  # where the five tokens stand, whichever side the padding is on
    assert len(positions) == 5
    full = predict_proba(predictor.weights, predictor.config, ids)[0]
    predicted = predictor.labels.index(row["label"])
    assert row["probability"] == pytest.approx(float(full[predicted]), abs=1e-6)
    for i, token in enumerate(row["tokens"]):
        occluded = ids.copy()
        occluded[0, positions[i]] = 0
        without = predict_proba(predictor.weights, predictor.config, occluded)[0]
        assert token["score"] == pytest.approx(float(full[predicted] - without[predicted]), abs=1e-5)


def test_explain_leaves_tokens_cut_by_max_len_unscored(runner: CliRunner, trained_run: Path) -> None:
    max_len = json.loads((trained_run / rundir.CONFIG).read_text())["max_len"]
    text = " ".join(["rain"] * (max_len + 5))
    row = json.loads(runner.invoke(app, ["explain", "-r", str(trained_run), "--json", text]).stdout)
    scores = [t["score"] for t in row["tokens"]]
    assert scores[:5] == [None] * 5 and None not in scores[5:]  # truncating "pre" cuts the front


def test_occlusion_pads_a_token_under_masking_and_makes_it_unknown_otherwise() -> None:
    assert occluded_rows([5, 6, 7], mask=True) == [[5, 6, 7], [0, 6, 7], [5, 0, 7], [5, 6, 0]]
    assert occluded_rows([5, 6], mask=False) == [[5, 6], [OOV_ID, 6], [5, OOV_ID]]
    assert occluded_rows([5], mask=True) == [[5], [OOV_ID]]


def test_explain_without_a_trained_run_fails(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["explain", "-r", str(tmp_path / "none"), "text"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: run directory {tmp_path / 'none'} does not exist")


# --- info ---


def test_info_json_summarizes_the_run(runner: CliRunner, trained_run: Path) -> None:
    result = runner.invoke(app, ["info", "-r", str(trained_run), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert set(info) == {"run_dir", "trained", "labels", "data", "config", "training", "metrics", "files", "manifest"}
    assert info["trained"] is True and info["labels"] == ["cooking", "sports", "weather"]
    assert info["training"]["epochs_run"] == 3  # the n-gram stage's epoch, then the LSTM's two
    best = info["training"]["best_epoch"]
    assert info["training"]["best_stage"] == {1: "ngrams", 2: "lstm", 3: "lstm"}[best]
    assert set(info["training"]["best"]) == {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert info["data"]["train_rows"] + info["data"]["val_rows"] == 120
    assert info["config"]["units"] == [8]
    sizes = {f["path"]: f["bytes"] for f in info["files"]}
    assert sizes[rundir.WEIGHTS] == (trained_run / rundir.WEIGHTS).stat().st_size > 0
    assert f"{rundir.DATA_DIR}/val_x.npy" in sizes


def test_info_for_people(runner: CliRunner, trained_run: Path) -> None:
    result = runner.invoke(app, ["info", "-r", str(trained_run)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "(trained); 3 classes: cooking, sports, weather" in result.stdout
    assert re.search(
        r"3 epochs; (best epoch 1 \(restored, ngrams stage\)|published .* x the LSTM \(best epoch [23])", result.stdout
    )
    assert rundir.WEIGHTS in result.stdout and "total" in result.stdout


def _blended_run(trained_run: Path, tmp_path: Path) -> Path:
    """A staged run whose history and record are the issue's: the n-gram part's best epoch 3 (val_accuracy 0.65),
    the LSTM's 4 (0.61), published with weights 0.9 and 1.2 at val_accuracy 0.68."""
    run = _copy(trained_run, tmp_path)
    scores = [(0.50, 1.0), (0.60, 0.9), (0.65, 0.8), (0.61, 0.85), (0.58, 0.95)]
    history = [
        {"epoch": i + 1, "loss": 1.0, "accuracy": 0.5, "val_accuracy": acc, "val_loss": loss, "seconds": 1.0}
        | {"stage": "ngrams" if i < 3 else "lstm"}
        for i, (acc, loss) in enumerate(scores)
    ]
    (run / rundir.HISTORY).write_text(json.dumps(history))
    parts = {
        "ngrams": {"accuracy": 0.65, "loss": 0.8},
        "lstm": {"accuracy": 0.61, "loss": 0.85},
        "published": {"accuracy": 0.68, "loss": 0.75},
    }
    record = {"best_epoch": 4, "monitor": "val_loss", "epochs_run": 5, "ngram_weight": 0.9, "lstm_weight": 1.2}
    (run / rundir.TRAINING).write_text(json.dumps(record | {"parts": parts}))
    return run


def test_info_of_a_staged_run_says_what_was_published(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    run = _blended_run(trained_run, tmp_path)
    info = json.loads(runner.invoke(app, ["info", "-r", str(run), "--json"]).stdout)
    assert info["training"]["published"] == {
        "ngrams": {"best_epoch": 3, "weight": 0.9, "val_accuracy": 0.65, "val_loss": 0.8},
        "lstm": {"best_epoch": 4, "weight": 1.2, "val_accuracy": 0.61, "val_loss": 0.85},
        "val_accuracy": 0.68,
        "val_loss": 0.75,
    }
    text = " ".join(runner.invoke(app, ["info", "-r", str(run)], env={"COLUMNS": "300"}).stdout.split())
    said = (
        "published 0.9 x the n-gram classifier (best epoch 3: val_accuracy 0.6500, val_loss 0.8000) + 1.2 x the "
        "LSTM (best epoch 4: val_accuracy 0.6100, val_loss 0.8500): val_accuracy 0.6800, val_loss 0.7500"
    )
    assert said in text and "best epoch 4 (restored" not in text


def test_report_of_a_staged_run_says_what_was_published(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    run = _blended_run(trained_run, tmp_path)
    assert runner.invoke(app, ["report", "-r", str(run)]).exit_code == 0
    page = " ".join((run / rundir.REPORT).read_text(encoding="utf-8").split())
    assert "0.9 x the n-gram classifier (best epoch 3: val_accuracy 0.6500, val_loss 0.8000)" in page
    assert "1.2 x the LSTM (best epoch 4: val_accuracy 0.6100, val_loss 0.8500)" in page
    assert "val_accuracy 0.6800, val_loss 0.7500" in page


def test_info_on_a_prepared_run_has_no_training(runner: CliRunner, tiny_csv: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert runner.invoke(app, ["prepare", str(tiny_csv), "-r", str(run)]).exit_code == 0
    info = json.loads(runner.invoke(app, ["info", "-r", str(run), "--json"]).stdout)
    assert (info["trained"], info["training"], info["metrics"]) == (False, None, None)


def test_info_on_a_missing_run_fails(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", "-r", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: run directory {tmp_path / 'none'} does not exist")


# --- progress ---


def test_progress_stays_out_of_pipes(monkeypatch: pytest.MonkeyPatch) -> None:
    from lstmcli.ui import progress

    class Stream(io.StringIO):
        def __init__(self, tty: bool) -> None:
            super().__init__()
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    for err_tty, out_tty, expected in ((True, False, True), (False, False, False), (True, True, False)):
        monkeypatch.setattr("sys.stderr", Stream(err_tty))
        monkeypatch.setattr("sys.stdout", Stream(out_tty))
        assert progress.wanted() is expected
        assert list(progress.track(iter(range(5)), "Counting")) == [0, 1, 2, 3, 4]


def test_shapley_scores_add_up_to_the_whole_texts_probability_less_the_empty_ones(
    runner: CliRunner, trained_run: Path
) -> None:
    text = "rain goal storm recipe wind"
    row = json.loads(runner.invoke(app, ["explain", "-r", str(trained_run), "--json", text]).stdout)
    predictor = Predictor(rundir.RunDir(trained_run))
    predicted = predictor.labels.index(row["label"])
    empty = predict_proba(predictor.weights, predictor.config, np.array([[OOV_ID]], dtype=np.int32))[0, predicted]
    total = sum(t["score"] for t in row["tokens"])
    assert total == pytest.approx(row["probability"] - float(empty), abs=1e-5)  # exact for every sampled order
    again = json.loads(runner.invoke(app, ["explain", "-r", str(trained_run), "--json", text]).stdout)
    assert again == row  # the orders are seeded by the text


def test_shapley_credits_each_of_two_words_that_decide_alone(runner: CliRunner, decider_run: Path) -> None:
    """Either word is enough: left out alone, each seems not to matter; the Shapley values credit both."""
    text = "the report alpha came alpha today"
    rows = {
        method: json.loads(
            runner.invoke(app, ["explain", "-r", str(decider_run), "--json", "--method", method, text]).stdout
        )
        for method in ("shapley", "occlusion")
    }
    for method, row in rows.items():
        assert row["label"] == "yes", method
    shapley = [t["score"] for t in rows["shapley"]["tokens"]]
    others = [abs(s) for i, s in enumerate(shapley) if i not in (2, 4)]
    # The margin Shapley values get in test_explain_scores_the_deciding_word_highest: they also credit words for
    # moving the text away from the empty one (the linear n-gram part gives every filler word a row of its own).
    assert min(shapley[2], shapley[4]) > 1.2 * max(others)
