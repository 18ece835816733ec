"""The chain prepare -> train -> evaluate -> predict through the real CLI, on tiny data in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import TINY_MODEL, keras_model, make_rows, write_csv
from typer.testing import CliRunner

from lstmcli import rundir
from lstmcli.cli import app
from lstmcli.config import Config, make_config
from lstmcli.predictor import Predictor


def test_prepare_writes_every_artifact(runner: CliRunner, tiny_csv: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["prepare", str(tiny_csv), "-r", str(run_dir), "--max-len", "10"])
    assert result.exit_code == 0, result.output
    assert "text column 'text', label column 'label'" in result.output
    assert "OOV rate" in result.output
    config = Config.from_json((run_dir / rundir.CONFIG).read_text())
    assert (config.max_len, config.tokenizer, config.text_column) == (10, "word", "text")
    vocab = (run_dir / rundir.VOCAB).read_text().splitlines()
    assert vocab[:2] == ["<pad>", "<unk>"]
    assert json.loads((run_dir / rundir.LABELS).read_text()) == ["cooking", "sports", "weather"]
    x = np.load(run_dir / rundir.DATA_DIR / "train_x.npy")
    val_y = np.load(run_dir / rundir.DATA_DIR / "val_y.npy")
    assert x.shape == (108, 10) and val_y.shape == (12,)
    assert sorted(np.bincount(val_y)) == [4, 4, 4]  # stratified
    manifest = json.loads((run_dir / rundir.MANIFEST).read_text())
    assert manifest["data_sha256"] == rundir.sha256_of(tiny_csv)
    assert set(manifest["versions"]) == {"lstmcli", "python", "tensorflow", "keras"}


def test_train_evaluate_predict_chain(trained_run: Path, runner: CliRunner, tmp_path: Path) -> None:
    for name in (rundir.WEIGHTS, rundir.HISTORY, rundir.CONFIG):
        assert (trained_run / name).is_file(), name
    assert not (trained_run / rundir.MODEL).exists()  # the network is kept once, as weights.npz
    assert not (trained_run / rundir.CHECKPOINT_DIR).exists()
    history = json.loads((trained_run / rundir.HISTORY).read_text())
    assert [(h["epoch"], h["stage"]) for h in history] == [(1, "ngrams"), (2, "lstm"), (3, "lstm")]

    result = runner.invoke(app, ["evaluate", "-r", str(trained_run), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert {"accuracy", "loss", "macro_f1", "per_class", "confusion_matrix", "labels", "n"} <= set(metrics)
    # The published model is the n-gram classifier plus the LSTM's logits weighed on validation (nn/blend.py)
    published = json.loads((trained_run / rundir.TRAINING).read_text())["parts"]["published"]
    assert metrics["n"] == 12 and abs(metrics["loss"] - published["loss"]) < 1e-4

    inputs = tmp_path / "in.txt"
    inputs.write_text("the goal of the match\n\nrain and storm all day\n")
    result = runner.invoke(app, ["predict", "-r", str(trained_run), str(inputs)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.split("\n")[:-1]
    assert len(lines) == 3 and lines[1] == "\t"
    label, probability = lines[0].split("\t")
    assert label in metrics["labels"] and 0.0 < float(probability) <= 1.0


def test_predict_formats_and_stdin(trained_run: Path, runner: CliRunner) -> None:
    text = "bake the flour\nstorm and wind\n"
    result = runner.invoke(
        app, ["predict", "-r", str(trained_run), "-f", "jsonl", "-k", "2", "--with-text"], input=text
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["bake the flour", "storm and wind"]
    assert len(rows[0]["probabilities"]) == 3 and len(rows[0]["top_k"]) == 2
    assert abs(sum(rows[0]["probabilities"].values()) - 1.0) < 1e-5

    result = runner.invoke(app, ["predict", "-r", str(trained_run), "-f", "csv", "-"], input=text)
    assert result.stdout.splitlines()[0] == "label,probability" and len(result.stdout.splitlines()) == 3


def test_predict_per_file_and_directory(trained_run: Path, runner: CliRunner, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("rain\nstorm\n")
    (docs / "b.txt").write_text("goal team\n")
    result = runner.invoke(app, ["predict", "-r", str(trained_run), "--per-file", str(docs)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split("\t")[2] for line in lines] == [str(docs / "a.txt"), str(docs / "b.txt")]


def test_fresh_process_predicts_the_same(trained_run: Path, tmp_path: Path) -> None:
    texts = [text for text, _ in make_rows(5, seed=7)]
    in_process = Predictor(rundir.RunDir(trained_run)).proba(texts)
    inputs = tmp_path / "texts.txt"
    inputs.write_text("\n".join(texts) + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "lstmcli", "predict", "-r", str(trained_run), "-f", "jsonl", str(inputs)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    labels = json.loads((trained_run / rundir.LABELS).read_text())
    fresh = np.array([[row["probabilities"][label] for label in labels] for row in rows])
    np.testing.assert_allclose(fresh, in_process, atol=1e-6)


def test_train_without_csv_uses_prepared_run(runner: CliRunner, tiny_csv: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert runner.invoke(app, ["prepare", str(tiny_csv), "-r", str(run_dir)]).exit_code == 0
    env = {"LSTMCLI_RUN_DIR": str(run_dir)}
    result = runner.invoke(app, ["train", *TINY_MODEL, "--cell", "gru"], env=env)
    assert result.exit_code == 0, result.output
    assert Config.from_json((run_dir / rundir.CONFIG).read_text()).cell == "gru"
    result = runner.invoke(app, ["train", *TINY_MODEL], env=env)
    assert result.exit_code == 1 and "--overwrite" in result.output


def test_batch_size_auto_is_spelled_auto(runner: CliRunner, tiny_csv: Path, tmp_path: Path) -> None:
    """``--batch-size auto`` as ``--max-len auto``: config.json keeps auto, training.json the size it came to."""
    run_dir = tmp_path / "run"
    tiny = [*TINY_MODEL[: TINY_MODEL.index("--batch-size")], "--ngram-buckets", "0"]
    result = runner.invoke(app, ["train", str(tiny_csv), "-r", str(run_dir), *tiny, "--batch-size", "auto"])
    assert result.exit_code == 0, result.output
    assert Config.from_json((run_dir / rundir.CONFIG).read_text()).batch_size == 0
    assert json.loads((run_dir / rundir.TRAINING).read_text())["batch_size"] == 32  # 108 training rows: the least


def test_tutorial_preset_builds_the_article_model(runner: CliRunner, tiny_csv: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(tiny_csv), "-r", str(run_dir), "--preset", "tutorial", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    model = keras_model(run_dir)
    layers = [
        (
            type(layer).__name__,
            getattr(layer, "units", None) or getattr(layer, "output_dim", None) or getattr(layer, "rate", None),
        )
        for layer in model.layers[1:]
    ]
    assert layers == [
        ("Embedding", 45),
        ("LSTM", 128),
        ("Dropout", 0.2),
        ("LSTM", 128),
        ("Dropout", 0.2),
        ("Dense", 32),
        ("Dropout", 0.2),
        ("Dense", 3),
    ]
    assert model.get_layer("rnn_0").activation.__name__ == "relu"
    config = Config.from_json((run_dir / rundir.CONFIG).read_text())
    assert (config.batch_size, config.padding, config.letters_only, config.stopwords) == (64, "pre", True, True)
    assert not config.group_lengths  # random batches: see the preset

    # Unmasked, the model depends on padding: trained on random batches, it predicts on the full padding.
    predictor = Predictor(rundir.RunDir(run_dir))
    ids = predictor.encode(["goal team win match season", "rain", "bake flour oven"])
    np.testing.assert_allclose(predictor.proba_ids(ids), model.predict(ids, verbose=0), atol=1e-5)


def test_unmasked_model_trained_on_length_groups_predicts_each_text_unpadded(
    runner: CliRunner, tiny_csv: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            str(tiny_csv),
            "-r",
            str(run_dir),
            "--preset",
            "tutorial",
            "--epochs",
            "1",
            "--group-lengths",
            "--units",
            "8",
        ],
    )
    assert result.exit_code == 0, result.output
    model = keras_model(run_dir)
    predictor = Predictor(rundir.RunDir(run_dir))
    assert predictor.config.group_lengths and not predictor.config.mask
    # Each length group held texts of one length in training: prediction runs each text unpadded.
    ids = predictor.encode(["goal team win match season", "rain", "bake flour oven"])
    expected = [model.predict(row[row != 0][None, :], verbose=0)[0] for row in ids]
    np.testing.assert_allclose(predictor.proba_ids(ids), np.array(expected), atol=1e-5)


def test_help_does_not_import_tensorflow() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from lstmcli.cli import app; r = CliRunner();"
        "cmds = ([], ['prepare'], ['train'], ['evaluate'], ['predict']);"
        "outs = [r.invoke(app, [*c, '--help']).exit_code for c in cmds];"
        "assert outs == [0] * 5, outs;"
        "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "100"}
    ).stdout
    assert out.strip() == "[]"


def test_user_errors_are_one_line(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "d.csv", make_rows(), header=("body", "topic_name"))
    result = runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert (
        result.output.startswith("Error: cannot tell which column holds the label")
        and "body, topic_name" in result.output
    )
    result = runner.invoke(app, ["predict", "-r", str(tmp_path / "nothing")], input="text\n")
    assert result.exit_code == 1 and "does not exist" in result.output and "Traceback" not in result.output


def test_config_saved_before_the_staged_ngram_classifier_reads_as_it_was_trained() -> None:
    """A config.json written before ngram_mode/ngram_order/ngram_epochs/ngram_hash existed describes the joint
    bigram bag with the linear hash; one written before ngram_hash alone, the staged classifier with it; one
    written before group_lengths, training on length-grouped batches (the tutorial preset included)."""
    saved = json.loads(make_config("tutorial").to_json())
    del saved["group_lengths"]
    assert Config.from_json(json.dumps(saved)).group_lengths
    saved = json.loads(Config().to_json())
    del saved["ngram_hash"]
    config = Config.from_json(json.dumps(saved))
    assert (config.ngram_mode, config.ngram_order, config.ngram_hash) == ("staged", 3, "linear")
    for name in ("ngram_mode", "ngram_order", "ngram_epochs"):
        del saved[name]
    config = Config.from_json(json.dumps(saved))
    assert (config.ngram_mode, config.ngram_order, config.ngram_hash) == ("joint", 2, "linear")
    assert (Config().ngram_mode, Config().ngram_order, Config().ngram_hash) == ("staged", 3, "mixed")
