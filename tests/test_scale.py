"""Data larger than memory (chunked prepare into shards, training and evaluation that stream) and training
across machines (tf.distribute), through the real CLI on tiny data."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, make_rows, write_csv
from typer.testing import CliRunner

from lstmcli import rundir
from lstmcli.cli import app
from lstmcli.dataset import shards as stream
from lstmcli.info import run_report
from lstmcli.predictor import Predictor
from lstmcli.scoring import score
from lstmcli.text.encoder import pad
from lstmcli.text.tokens import tokenize
from lstmcli.text.vocab import OOV_ID, Vocabulary

MULTI_WORKER_TIMEOUT = 300  # seconds per process: two TensorFlow processes share a 2-core CI machine


def _rows() -> list[tuple[str, str]]:
    """Tiny rows plus a duplicate text, an empty text and a text of punctuation only (no tokens after cleaning)."""
    rows = make_rows(30)
    return rows + [rows[0], ("", "sports"), ("<br />", "weather")]


def _prepare(runner: CliRunner, data: Path, run_dir: Path, *flags: str) -> dict:
    result = runner.invoke(app, ["prepare", str(data), "-r", str(run_dir), *flags])
    assert result.exit_code == 0, result.output
    return json.loads((run_dir / rundir.PREPARE_REPORT).read_text())


def _files(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_chunked_prepare_matches_the_in_memory_encoding(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_csv(tmp_path / "d.csv", _rows())
    monkeypatch.setattr(stream, "CHUNK_ROWS", 7)
    # Without vectors: the vocabulary is the training rows' alone, as Vocabulary.build makes it below.
    report = _prepare(runner, data, tmp_path / "chunked", "--streaming", "--embeddings", "none")
    monkeypatch.setattr(stream, "CHUNK_ROWS", 100_000)
    _prepare(runner, data, tmp_path / "whole", "--streaming", "--embeddings", "none")

    assert (report["mode"], report["split"]) == ("streaming", "hashed")
    assert report["rows_read"] == 93 and report["dropped"] == {"empty text": 1, "empty label": 0}
    assert "read in 14 chunks of up to 7 rows" in report["notes"][0]
    run = rundir.RunDir(tmp_path / "chunked")
    config = run.read_config()
    texts = [t for t, _ in _rows() if t]
    labels = [label for t, label in _rows() if t]
    val = stream.validation_mask(texts, config.seed, config.val_size)
    tokens = [tokenize(t, config) for t in texts]
    vocab = Vocabulary.build([tokens[i] for i in np.flatnonzero(~val)], config.vocab_size, config.min_count)
    assert run.read_vocab() == vocab  # counted over the same training rows as in memory
    x = pad([vocab.ids(t) or [OOV_ID] for t in tokens], config.max_len, config.padding, config.truncating)
    y = np.array([sorted(set(labels)).index(label) for label in labels])
    prepared = run.read_prepared()
    assert np.array_equal(prepared.train_x, x[~val]) and np.array_equal(prepared.val_x, x[val])
    assert np.array_equal(prepared.train_y, y[~val]) and np.array_equal(prepared.val_y, y[val])
    assert run.read_val_texts() == [t for t, v in zip(texts, val) if v]
    assert config.max_len == int(np.ceil(np.percentile([len(tokens[i]) for i in np.flatnonzero(~val)], 99)))
    # Deterministic: the same split, vocabulary and rows however the file is chunked.
    assert np.array_equal(rundir.RunDir(tmp_path / "whole").read_prepared().train_x, prepared.train_x)
    assert (tmp_path / "whole" / rundir.VOCAB).read_text() == (tmp_path / "chunked" / rundir.VOCAB).read_text()
    assert not (tmp_path / "chunked" / rundir.DATA_DIR / stream.SPILL_DIR).exists()


def test_hashed_split_is_stratified_in_expectation() -> None:
    texts = [f"text number {i}" for i in range(20_000)]
    val = stream.validation_mask(texts, seed=42, val_size=0.1)
    assert 0.09 < val.mean() < 0.11
    assert np.array_equal(val, stream.validation_mask(list(reversed(texts)), 42, 0.1)[::-1])  # order-free
    assert not np.array_equal(val, stream.validation_mask(texts, 7, 0.1))  # the seed moves rows


def test_large_files_stream_unless_told_otherwise(
    runner: CliRunner, tiny_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "STREAMING_BYTES", 100)
    assert _prepare(runner, tiny_csv, tmp_path / "auto")["mode"] == "streaming"
    report = _prepare(runner, tiny_csv, tmp_path / "forced", "--in-memory")
    assert (report["mode"], report["split"], report["val_rows"]) == ("in-memory", "stratified", 12)
    assert not (tmp_path / "forced" / rundir.SHARDS_DIR).exists()


def test_streamed_prepare_rejects_data_that_cannot_train(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "one.csv", [(f"text {i}", "only") for i in range(20)])
    result = runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "run"), "--streaming"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("Error: ")
    assert "has one class only ('only'" in result.output
    assert not (tmp_path / "run").exists()


def test_shards_feed_every_training_row_once_per_epoch(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "CHUNK_ROWS", 9)
    from lstmcli.nn import data

    monkeypatch.setattr(data, "BLOCK_ROWS", 4)
    _prepare(runner, write_csv(tmp_path / "d.csv", _rows()), tmp_path / "run", "--streaming")
    run = rundir.RunDir(tmp_path / "run")
    prepared = run.read_prepared()
    config = run.read_config().replace(batch_size=5)
    ds, steps = data.shard_dataset(run, "train", config, shuffle=True)
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == steps
    seen = sorted((int(label), tuple(row[row != 0])) for ids, labels in batches for row, label in zip(ids, labels))
    expected = sorted((int(label), tuple(row[row != 0])) for row, label in zip(prepared.train_x, prepared.train_y))
    assert seen == expected


@pytest.mark.parametrize("batching", ["grouped", "random", "padded"])
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_batches_hold_every_row_once_cut_as_configured(batching: str, padding: str) -> None:
    """Grouped batches hold texts of similar length; random ones mix lengths; both are cut to their longest
    text; without bucketing every batch keeps the full padding. Each epoch feeds every row once."""
    from lstmcli.config import make_config
    from lstmcli.nn.data import make_dataset

    rng = np.random.default_rng(0)
    rows = [list(rng.integers(2, 50, size=n)) for n in rng.integers(1, 31, size=400)]
    x, y = pad(rows, 30, padding, padding), rng.integers(0, 2, size=400).astype(np.int32)
    config = make_config(
        batch_size=16,
        padding=padding,
        truncating=padding,
        bucketing=batching != "padded",
        group_lengths=batching == "grouped",
    )
    ds, steps = make_dataset(x, y, config, shuffle=True)
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == steps
    seen = sorted((int(label), tuple(row[row != 0])) for ids, labels in batches for row, label in zip(ids, labels))
    assert seen == sorted((int(label), tuple(row)) for row, label in zip(rows, y))
    spreads = []
    for ids, _ in batches:
        lengths = np.count_nonzero(ids, axis=1)
        assert ids.shape[1] == (30 if batching == "padded" else lengths.max())
        kept = ids[:, -lengths.max() :] if padding == "pre" else ids[:, : lengths.max()]
        assert np.count_nonzero(kept) == lengths.sum()  # cutting dropped padding only
        spreads.append(lengths.max() - lengths.min())
    assert (np.median(spreads) <= 5) == (batching == "grouped")


def test_train_from_shards_then_evaluate_streams(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_csv(tmp_path / "d.csv", _rows())
    run_dir = tmp_path / "run"
    _prepare(runner, data, run_dir, "--streaming")
    result = runner.invoke(app, ["train", "-r", str(run_dir), "--strategy", "mirrored", *TINY_MODEL])
    assert result.exit_code == 0, result.output
    history = json.loads((run_dir / rundir.HISTORY).read_text())
    monkeypatch.setattr(stream, "CHUNK_ROWS", 5)
    result = runner.invoke(app, ["evaluate", "-r", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["n"] == rundir.RunDir(run_dir).read_shard_index()["parts"]["val"]["rows"]
    record = json.loads((run_dir / rundir.TRAINING).read_text())
    # the same validation rows the blend was fitted on, read back from the shards (nn/blend.py)
    expected = record["parts"]["published"]["loss"] if record.get("parts") else history[0]["val_loss"]
    assert abs(metrics["loss"] - expected) < 1e-4
    run = rundir.RunDir(run_dir)
    val = run.read_prepared()
    probs = Predictor(run).proba_ids(val.val_x)
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != val.val_y)
    worst = wrong[np.argsort(-probs[wrong, predicted[wrong]], kind="stable")][:3].tolist()

    def joined(self: rundir.RunDir) -> None:
        raise AssertionError("the shards were joined in memory")

    monkeypatch.setattr(rundir.RunDir, "read_prepared", joined)  # a block of 5 rows at a time, never all of them
    report = run_report(run, 3)
    texts = run.read_val_texts()
    assert [(row["text"], row["label"]) for row in report["wrong"]] == [
        (texts[i], Predictor(run).labels[val.val_y[i]]) for i in worst
    ]
    assert report["metrics"]["confusion_matrix"] == metrics["confusion_matrix"]
    result = runner.invoke(app, ["report", "-r", str(run_dir), "-o", str(tmp_path / "report.html")])
    assert result.exit_code == 0, result.output


def test_evaluate_data_in_chunks_equals_in_memory(
    trained_run: Path, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = make_rows(20, seed=5) + [("", "sports"), ("rain rain", ""), ("a goal", "unknown-label")]
    data = write_csv(tmp_path / "eval.csv", rows)
    monkeypatch.setattr(stream, "CHUNK_ROWS", 7)
    result = runner.invoke(app, ["evaluate", "-r", str(trained_run), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    streamed = json.loads(result.stdout)

    predictor = Predictor(rundir.RunDir(trained_run))
    known = [(t, label) for t, label in rows if t and label in predictor.labels]
    y = np.array([predictor.labels.index(label) for _, label in known])
    expected = score(predictor.proba([t for t, _ in known]), y, predictor.labels)
    assert streamed["unseen_labels"] == {"unknown-label": 1}
    for key in ("n", "labels", "confusion_matrix"):
        assert streamed[key] == expected[key]
    for key in ("accuracy", "macro_f1"):
        assert streamed[key] == pytest.approx(expected[key], abs=1e-12)
    assert streamed["loss"] == pytest.approx(expected["loss"], abs=1e-6)  # the in-memory mean is in float32
    for label, row in expected["per_class"].items():
        assert streamed["per_class"][label] == pytest.approx(row, abs=1e-9)


def test_strategy_errors_answer_before_any_work(
    runner: CliRunner, trained_run: Path, tiny_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = runner.invoke(app, ["train", "-r", str(trained_run), "--strategy", "tpu"])
    assert result.exit_code == 1 and "Error: unknown strategy 'tpu'; strategies are: auto, one" in result.output
    result = runner.invoke(app, ["train", "-r", str(trained_run), "--strategy", "multi-worker", "--overwrite"])
    assert result.exit_code == 1 and "Error: --strategy multi-worker needs the TF_CONFIG variable" in result.output
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}')
    result = runner.invoke(app, ["train", str(tiny_csv), "--strategy", "multi-worker"])
    assert result.exit_code == 1 and "Error: --strategy multi-worker trains a prepared run" in result.output
    monkeypatch.setenv("TF_CONFIG", "{not json")
    result = runner.invoke(app, ["train", "-r", str(trained_run), "--strategy", "multi-worker"])
    assert result.exit_code == 1 and "Error: TF_CONFIG is not valid" in result.output


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_chief_and_worker_train_one_model(runner: CliRunner, tmp_path: Path) -> None:
    """A chief and a worker as two local processes: both exit cleanly and only the chief writes its run."""
    prepared = tmp_path / "prepared"
    _prepare(runner, write_csv(tmp_path / "d.csv", make_rows(40)), prepared, "--streaming")
    runs = [tmp_path / "chief", tmp_path / "worker"]  # two machines, each with its own prepared copy
    for run in runs:
        shutil.copytree(prepared, run)
    before = _files(runs[1])
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes = []
    for index, run in enumerate(runs):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        command = [sys.executable, "-m", "lstmcli", "train", "-r", str(run), "--strategy", "multi-worker", *TINY_MODEL]
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=MULTI_WORKER_TIMEOUT))
    finally:
        for process in processes:
            process.kill()
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert "Saved the best model to" in outputs[0][1] and "the chief saved the model" in outputs[1][1]

    assert _files(runs[1]) == before  # the worker wrote nothing into its run directory
    history = json.loads((runs[0] / rundir.HISTORY).read_text())
    assert [(h["epoch"], h["stage"]) for h in history] == [(1, "ngrams"), (2, "lstm")]
    assert not (runs[0] / rundir.CHECKPOINT_DIR).exists()
    result = runner.invoke(app, ["predict", "-r", str(runs[0])], input="the goal of the match\nrain and storm\n")
    assert result.exit_code == 0, result.output
    labels = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert len(labels) == 2 and set(labels) <= {"cooking", "sports", "weather"}
