"""The published staged model: the LSTM's logits weighed beside the n-gram classifier's on validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from lstmcli.cli import app
from lstmcli.nn.blend import choose


def test_noise_gets_no_weight_and_signal_does() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    truth = np.eye(3)[y] * 2.0
    ngram = truth + rng.normal(0, 2.0, (2000, 3))  # a weak classifier
    noise = choose(ngram, rng.normal(0, 3.0, (2000, 3)), y)
    assert noise.lstm_weight == 0.0 and 0.5 <= noise.ngram_weight <= 1.5  # noise: the n-gram classifier alone
    signal = choose(ngram, truth + rng.normal(0, 2.0, (2000, 3)), y)  # a second, independent weak classifier
    assert 0.5 <= signal.lstm_weight <= 1.5 and abs(signal.ngram_weight - signal.lstm_weight) <= 0.3
    assert signal.scores["published"]["loss"] < signal.scores["ngrams"]["loss"]
    assert signal.scores["published"]["accuracy"] > signal.scores["ngrams"]["accuracy"]


def test_training_records_the_blend_and_publishes_exactly_it(trained_run: Path, runner: CliRunner) -> None:
    record = json.loads((trained_run / "training.json").read_text())
    assert 0.0 <= record["lstm_weight"] <= 3.0 and 0.0 <= record["ngram_weight"] <= 2.0
    assert set(record["parts"]) == {"ngrams", "lstm", "published"}
    result = runner.invoke(app, ["evaluate", "-r", str(trained_run), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    # evaluate runs the published weights.npz: the blend's validation score is that model's
    assert round(metrics["accuracy"], 4) == record["parts"]["published"]["accuracy"]
    assert abs(metrics["loss"] - record["parts"]["published"]["loss"]) < 1e-3


def test_the_lstm_stage_trains_the_recurrent_network_alone() -> None:
    """The LSTM stage's model is the trunk with its own softmax: the n-gram classifier neither feeds it nor moves."""
    import keras

    from lstmcli.config import make_config
    from lstmcli.nn.inference import Network
    from lstmcli.nn.model import build_model, export_weights, stage_model

    config = make_config("default", embedding_dim=8, units=(8,), dense_units=8, ngram_buckets=64, seed=3)
    model = build_model(config, 40, 3)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 40, (16, 7)).astype("int32")
    ngram_before = model.get_layer("ngram_output").get_weights()[0].copy()
    lstm = stage_model(model, config, "lstm")
    assert not {"ngram_embedding", "ngram_output", "ngrams"} & {layer.name for layer in lstm.layers}
    for _ in range(3):
        lstm.train_on_batch(ids, rng.integers(0, 3, 16))
    np.testing.assert_array_equal(model.get_layer("ngram_output").get_weights()[0], ngram_before)
    _, trunk_logits = Network(export_weights(model, config), config).part_logits(ids)
    assert np.abs(trunk_logits).max() > 0  # the trunk learned, from an output layer that started at zero
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(trunk_logits))
    np.testing.assert_allclose(lstm.predict(ids, verbose=0), expected, atol=1e-5)


# A staged run of commit 2df0d69, trained on conftest's tiny rows and interrupted in its LSTM stage: its models
# have the branch-dropout layer of the LSTM stage trained on top of the n-gram classifier.
EARLIER_RUN = Path(__file__).parent / "data" / "staged-run-2df0d69"


def test_an_earlier_staged_run_predicts_and_resumes_through_the_lstm_trained_alone(
    tmp_path: Path, runner: CliRunner
) -> None:
    import shutil

    run = shutil.copytree(EARLIER_RUN, tmp_path / "run")
    published = (run / "weights.npz").read_bytes()
    result = runner.invoke(app, ["predict", "-r", str(run)], input="the goal of the team in the match\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.split("\t")[0] == "sports"
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["stage"] == 1  # interrupted in the LSTM stage
    result = runner.invoke(app, ["train", "-r", str(run), "--resume", "--epochs", str(state["epoch"] + 2)])
    assert result.exit_code == 0, result.output
    history = json.loads((run / "history.json").read_text())
    assert [row["stage"] for row in history[-2:]] == ["lstm", "lstm"] and len(history) == state["epoch"] + 2
    assert (run / "weights.npz").read_bytes() != published and not (run / "checkpoint").exists()
    assert not (run / "model.keras").exists()  # the network published once, as weights.npz
    result = runner.invoke(app, ["evaluate", "-r", str(run), "--json"])
    assert result.exit_code == 0, result.output
