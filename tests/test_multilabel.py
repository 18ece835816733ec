"""Multi-label runs end to end through the real CLI: each input form, texts without a label, thresholds saved and
overridden, the metrics against scikit-learn, every output format, serve, export and explain."""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, TOPICS
from typer.testing import CliRunner

from lstmcli.cli import app
from lstmcli.decision import Decider, choose_thresholds
from lstmcli.predictor import Predictor
from lstmcli.rundir import RunDir
from lstmcli.scoring import score_label_sets

TEXTS = ["goal match and rain storm", "bake the flour", "", "the really"]


def label_set_rows(n: int = 150, seed: int = 0) -> list[tuple[str, tuple[str, ...]]]:
    """Texts made of the words of zero, one or two topics, with those topics as their labels."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        topics = tuple(sorted(rng.sample(sorted(TOPICS), rng.choice([0, 1, 1, 2]))))
        words = [rng.choice(TOPICS[t]) for t in topics for _ in range(rng.randint(2, 5))] or ["hello", "there"]
        rng.shuffle(words)
        rows.append((f"The {' '.join(words)}, really!", topics))
    return rows


def write_joined(path: Path, rows: list[tuple[str, tuple[str, ...]]], separator: str = "|") -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "labels"])
        # spaces around the names, which prepare trims
        writer.writerows((text, f" {separator} ".join(labels)) for text, labels in rows)
    return path


def write_columns(path: Path, rows: list[tuple[str, tuple[str, ...]]]) -> Path:
    names = sorted(TOPICS)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", *names])
        writer.writerows((text, *(int(n in labels) for n in names)) for text, labels in rows)
    return path


@pytest.fixture(scope="module")
def ml_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A multi-label run trained one epoch a stage on tiny data; tests must not write into it."""
    base = tmp_path_factory.mktemp("multilabel")
    data = write_joined(base / "tags.csv", label_set_rows())
    run_dir = base / "run"
    result = CliRunner().invoke(app, ["train", str(data), "--multi-label", "-r", str(run_dir), *TINY_MODEL])
    assert result.exit_code == 0, result.output
    return run_dir


@pytest.fixture(scope="module")
def texts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("texts") / "in.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


def test_separator_form_keeps_and_counts_texts_without_labels(runner: CliRunner, tmp_path: Path) -> None:
    rows = label_set_rows()
    data = write_joined(tmp_path / "tags.csv", rows, separator=";")
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["prepare", str(data), "--multi-label", "--label-separator", ";", "-r", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "texts without a label (kept)" in result.output and "Labels per text" in result.output
    run = RunDir(run_dir)
    assert run.read_labels() == sorted(TOPICS)
    prepared = run.read_prepared()
    assert prepared.train_y.shape[1] == prepared.val_y.shape[1] == len(TOPICS)
    assert len(prepared.train_y) + len(prepared.val_y) == len(rows)  # no row dropped for its empty label cell
    report = json.loads((run_dir / "prepare.json").read_text())
    empty = sum(1 for _, labels in rows if not labels)
    assert report["multi_label"]["empty_label_sets"] == empty > 0
    assert report["multi_label"]["cardinality"] == pytest.approx(sum(len(ls) for _, ls in rows) / len(rows), abs=1e-4)
    assert report["class_counts"] == {t: sum(t in ls for _, ls in rows) for t in sorted(TOPICS)}
    assert report["split"] == "iterative stratification"


def test_label_columns_give_the_same_run_as_joined_labels(runner: CliRunner, tmp_path: Path) -> None:
    rows = label_set_rows()
    joined, columns = tmp_path / "joined", tmp_path / "columns"
    assert (
        runner.invoke(
            app, ["prepare", str(write_joined(tmp_path / "a.csv", rows)), "--multi-label", "-r", str(joined)]
        ).exit_code
        == 0
    )
    names = ",".join(sorted(TOPICS))
    result = runner.invoke(
        app, ["prepare", str(write_columns(tmp_path / "b.csv", rows)), "--label-columns", names, "-r", str(columns)]
    )
    assert result.exit_code == 0, result.output
    a, b = RunDir(joined).read_prepared(), RunDir(columns).read_prepared()
    np.testing.assert_array_equal(a.train_y, b.train_y)
    np.testing.assert_array_equal(a.val_x, b.val_x)
    assert RunDir(columns).read_config().multi_label


def test_split_keeps_every_label_on_both_sides(tmp_path: Path) -> None:
    from lstmcli.dataset.multilabel import stratified_split

    y = np.zeros((200, 5), dtype=np.uint8)
    y[:100, 0] = 1
    y[100:110, 1] = 1  # a rare label: 10 rows
    y[::7, 2] = 1
    train_idx, val_idx = stratified_split(y, 0.1, 42)
    assert len(val_idx) == 20 and len(set(train_idx) | set(val_idx)) == 200
    assert y[val_idx, 1].sum() == 1 and y[val_idx, 0].sum() == 10


def test_single_label_run_says_when_the_column_looks_multi_label(runner: CliRunner, tmp_path: Path) -> None:
    rows = [(t, ls or ("none",)) for t, ls in label_set_rows()]
    result = runner.invoke(app, ["prepare", str(write_joined(tmp_path / "t.csv", rows)), "-r", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    hints = [line for line in result.output.splitlines() if "pass --multi-label" in line]
    assert len(hints) == 1 and "'|'" in hints[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--label-columns", "sports,nope"], "label column 'nope' not found"),
        (["--multi-label", "--streaming"], "leave out --streaming"),
        (["--multi-label", "--class-weight", "balanced"], "--class-weight none"),
        (["--multi-label", "--label-separator", " "], "--label-separator must be a visible character"),
    ],
)
def test_bad_multi_label_input_is_one_error_line(runner: CliRunner, tmp_path: Path, args: list[str], says: str) -> None:
    data = write_columns(tmp_path / "c.csv", label_set_rows(30))
    result = runner.invoke(app, ["train", str(data), "-r", str(tmp_path / "r"), *args])
    assert result.exit_code == 1 and says in result.output, result.output
    assert "Traceback" not in result.output


def test_label_columns_must_hold_zero_or_one(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "c.csv"
    data.write_text("text,a,b\nfirst text,1,0\nsecond text,yes please,1\n", encoding="utf-8")
    result = runner.invoke(app, ["prepare", str(data), "--label-columns", "a,b", "-r", str(tmp_path / "r")])
    assert result.exit_code == 1 and "column 'a'" in result.output and "holds 'yes please'" in result.output


def test_thresholds_are_saved_and_override_at_predict(ml_run: Path, runner: CliRunner, texts_file: Path) -> None:
    saved = json.loads((ml_run / "thresholds.json").read_text())
    assert saved["kind"] in ("global", "per_label") and len(saved["per_label"]) == len(TOPICS)
    base = ["predict", str(texts_file), "-r", str(ml_run), "--format", "jsonl"]
    rows = [json.loads(line) for line in runner.invoke(app, base).stdout.splitlines()]
    assert len(rows) == len(TEXTS) and rows[2] == {"labels": None, "probabilities": None, "empty": True}
    for row, text in zip(rows, TEXTS):
        if not text:
            continue
        probs = row["probabilities"]
        assert set(probs) == set(TOPICS) and all(0.0 <= p <= 1.0 for p in probs.values())
        assert row["labels"] == sorted(row["labels"], key=lambda name: -probs[name])
        assert row["labels"] == [n for n in row["labels"] if probs[n] >= saved["per_label"][sorted(TOPICS).index(n)]]
    everything = [json.loads(x) for x in runner.invoke(app, [*base, "--threshold", "0"]).stdout.splitlines()]
    assert all(len(r["labels"]) == len(TOPICS) for r in everything if r["labels"] is not None)
    nothing = [json.loads(x) for x in runner.invoke(app, [*base, "--threshold", "1"]).stdout.splitlines()]
    assert all(r["labels"] == [] for r in nothing if r["labels"] is not None)
    one = [
        json.loads(x) for x in runner.invoke(app, [*base, "--threshold", "1", "--min-labels", "1"]).stdout.splitlines()
    ]
    assert all(len(r["labels"]) == 1 for r in one if r["labels"] is not None)
    capped = [
        json.loads(x) for x in runner.invoke(app, [*base, "--threshold", "0", "--top-k", "2"]).stdout.splitlines()
    ]
    assert all(len(r["labels"]) == 2 for r in capped if r["labels"] is not None)


def test_library_predictions_carry_the_chosen_labels(ml_run: Path) -> None:
    from lstmcli import predict

    predictions = list(predict(ml_run, TEXTS))
    decider = Predictor(RunDir(ml_run)).decider
    assert predictions[2].labels is None and predictions[0].probabilities is not None
    assert predictions[0].labels == tuple(name for name, _ in decider.ranked(predictions[0].probabilities))


def test_tsv_csv_and_label_formats_join_labels(ml_run: Path, runner: CliRunner, texts_file: Path) -> None:
    base = ["predict", str(texts_file), "-r", str(ml_run), "--threshold", "0", "--top-k", "2"]
    tsv = runner.invoke(app, base).stdout.splitlines()
    labels, probs = tsv[0].split("\t")
    assert len(labels.split("|")) == 2 and set(labels.split("|")) <= set(TOPICS)
    assert [float(p) for p in probs.split("|")] == sorted((float(p) for p in probs.split("|")), reverse=True)
    assert tsv[2] == "\t"
    csv_lines = runner.invoke(app, [*base, "--format", "csv"]).stdout.splitlines()
    assert csv_lines[0] == "labels,probabilities" and csv_lines[1] == ",".join(tsv[0].split("\t"))
    bare = runner.invoke(app, [*base, "--format", "label"]).stdout.splitlines()
    assert bare == [line.split("\t")[0] for line in tsv]


def test_evaluate_reports_multi_label_metrics(ml_run: Path, runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "-r", str(ml_run), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    for key in ("micro_f1", "macro_f1", "samples_f1", "jaccard", "subset_accuracy", "hamming_loss"):
        assert 0.0 <= metrics[key] <= 1.0
    assert set(metrics["per_label"]) == set(TOPICS) and set(metrics["thresholds"]) == set(TOPICS)
    forced = json.loads(runner.invoke(app, ["evaluate", "-r", str(ml_run), "--json", "--threshold", "0.3"]).stdout)
    assert set(forced["thresholds"].values()) == {0.3}
    data = write_joined(tmp_path / "more.csv", [*label_set_rows(20, seed=5), ("The goal, really!", ("sports", "news"))])
    other = json.loads(runner.invoke(app, ["evaluate", "-r", str(ml_run), "--data", str(data), "--json"]).stdout)
    assert other["n"] == 21 and other["unseen_labels"] == {"news": 1}
    table = runner.invoke(app, ["evaluate", "-r", str(ml_run)])
    assert table.exit_code == 0 and "micro-f1" in table.stdout and "Per label" in table.stdout


def test_metrics_match_scikit_learn() -> None:
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss, jaccard_score, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    y = (rng.random((300, 6)) < 0.25).astype(np.uint8)
    y[:20] = 0  # texts without a label, some predicted empty too
    y[:, 5] = 0  # a label never present
    probs = np.clip(y * 0.5 + rng.random((300, 6)) * 0.6, 0, 1)
    decider = Decider([f"l{i}" for i in range(6)], True, np.full(6, 0.55))
    metrics = score_label_sets(probs, y, decider)
    predicted = (probs >= 0.55).astype(np.uint8)
    assert metrics["micro_f1"] == pytest.approx(f1_score(y, predicted, average="micro", zero_division=0))
    assert metrics["macro_f1"] == pytest.approx(f1_score(y, predicted, average="macro", zero_division=0))
    assert metrics["samples_f1"] == pytest.approx(f1_score(y, predicted, average="samples", zero_division=1))
    assert metrics["jaccard"] == pytest.approx(jaccard_score(y, predicted, average="samples", zero_division=1))
    assert metrics["subset_accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert metrics["hamming_loss"] == pytest.approx(hamming_loss(y, predicted))
    p, r, f, s = precision_recall_fscore_support(y, predicted, zero_division=0)
    for i, row in enumerate(metrics["per_label"].values()):
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))


def test_thresholds_per_label_only_where_they_beat_global() -> None:
    rng = np.random.default_rng(1)
    y = rng.random((2000, 2)) < 0.3
    probs = np.where(y, 0.5, 0.2) + rng.normal(0, 0.05, y.shape)
    assert choose_thresholds(probs, y).kind == "global"  # both labels alike: one threshold does
    probs[:, 1] = np.where(y[:, 1], 0.9, 0.7) + rng.normal(0, 0.05, len(y))  # the second label's scores run high
    chosen = choose_thresholds(probs, y)
    assert chosen.kind == "per_label" and chosen.per_label[1] > chosen.per_label[0]


def test_single_label_runs_refuse_multi_label_options(trained_run: Path, runner: CliRunner, texts_file: Path) -> None:
    result = runner.invoke(app, ["predict", str(texts_file), "-r", str(trained_run), "--min-labels", "1"])
    assert result.exit_code == 1 and "--min-labels is for a multi-label run" in result.output
    result = runner.invoke(app, ["evaluate", "-r", str(trained_run), "--threshold", "0.5"])
    assert result.exit_code == 1 and "for a multi-label run" in result.output


def test_explain_each_predicted_label_or_the_one_asked(ml_run: Path, runner: CliRunner) -> None:
    base = ["explain", "-r", str(ml_run), "--json", "goal match and rain storm"]
    every = [json.loads(x) for x in runner.invoke(app, base).stdout.splitlines()]
    predicted = Predictor(RunDir(ml_run))
    chosen = [n for n, _ in predicted.decider.ranked(predicted.proba(["goal match and rain storm"])[0])]
    assert [e["label"] for e in every] == (chosen or [every[0]["label"]])
    one = runner.invoke(app, [*base, "--label", "cooking"])
    assert one.exit_code == 0 and [json.loads(x)["label"] for x in one.stdout.splitlines()] == ["cooking"]
    bad = runner.invoke(app, [*base, "--label", "nope"])
    assert bad.exit_code == 1 and "--label 'nope' is not a label of this run" in bad.output


def test_report_and_info_show_label_set_metrics(ml_run: Path, runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "-r", str(ml_run), "--out", str(out)]).exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert "micro-f1" in page and "Per label" in page and "Confusion matrix" not in page
    info = runner.invoke(app, ["info", "-r", str(ml_run)])
    assert info.exit_code == 0 and "labels (multi-label)" in info.stdout and "Thresholds" in info.stdout
    from lstmcli.info import run_report

    report = run_report(RunDir(ml_run), 3)
    truth = {row["text"]: row["labels"] for row in report["wrong"]}
    val_texts, val_y = RunDir(ml_run).read_val_texts(), RunDir(ml_run).read_prepared().val_y
    labels = report["labels"]
    for text, names in truth.items():  # the worst rows' texts with their own label sets
        assert names == [labels[j] for j in np.flatnonzero(val_y[val_texts.index(text)])]
    run = tmp_path / "copy"
    shutil.copytree(ml_run, run)
    result = runner.invoke(app, ["evaluate", "-r", str(run), "--plots"])
    assert result.exit_code == 0 and (run / "per_label.png").is_file() and not (run / "confusion_matrix.png").exists()


def test_export_carries_sigmoid_outputs_and_thresholds(ml_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from test_export import onnx_proba

    out = tmp_path / "onnx"
    result = CliRunner().invoke(app, ["export", "-r", str(ml_run), "--format", "onnx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    info = json.loads((out / "export.json").read_text())
    saved = json.loads((ml_run / "thresholds.json").read_text())
    assert info["multi_label"] and list(info["thresholds"].values()) == saved["per_label"]
    assert (out / "thresholds.json").is_file() and "a sigmoid per label" in (out / "README.md").read_text()
    predictor = Predictor(RunDir(ml_run))
    texts = [t for t in TEXTS if t]
    np.testing.assert_allclose(onnx_proba(out, predictor, texts), predictor.proba(texts), atol=1e-5)


def test_serve_answers_predict_rows(ml_run: Path, texts_file: Path) -> None:
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    from test_serve import Server

    server = Server(ml_run, "--threshold", "0.2", "--top-k", "2")
    try:
        answer = httpx.post(f"{server.url}/predict", json={"texts": TEXTS}).json()["predictions"]
    finally:
        server.stop()
    result = CliRunner().invoke(
        app, ["predict", str(texts_file), "-r", str(ml_run), "-f", "jsonl", "--threshold", "0.2", "--top-k", "2"]
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["labels"] for r in answer] == [r["labels"] for r in rows]
    for a, b in zip(answer, rows):
        if a["probabilities"] is not None:
            assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)
