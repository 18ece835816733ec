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
