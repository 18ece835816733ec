"""GPU-ready defaults, checked on the CPU: Keras runs an LSTM on cuDNN only when its settings allow it and every
mask it is fed is right-padded (its TensorFlow backend refuses a left-padded mask at run time, not at build time).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from lstmcli.cli import app
from lstmcli.config import make_config
from lstmcli.rundir import RunDir


def _recurrent_layers(model: object) -> list[object]:
    from lstmcli.nn.backend import keras

    found = []
    for layer in model.layers:  # type: ignore[attr-defined]
        inner = (
            [layer.forward_layer, layer.backward_layer] if isinstance(layer, keras.layers.Bidirectional) else [layer]
        )
        found += [rnn for rnn in inner if isinstance(rnn, keras.layers.LSTM | keras.layers.GRU)]
    return found


def test_the_default_lstm_qualifies_for_cudnn_and_the_tutorial_keeps_the_article() -> None:
    from lstmcli.nn.backend import keras
    from lstmcli.nn.model import build_model

    config = make_config(embedding_dim=8, units=(8,), dense_units=8)
    assert config.padding == "post" and config.mask
    layers = _recurrent_layers(build_model(config, 50, 3))
    assert layers
    for rnn in layers:
        cell = rnn.cell  # type: ignore[attr-defined]
        assert cell.activation is keras.activations.tanh and cell.recurrent_activation is keras.activations.sigmoid
        assert cell.use_bias and not rnn.unroll and not rnn.recurrent_dropout  # type: ignore[attr-defined]
        assert rnn.use_cudnn in ("auto", True)  # type: ignore[attr-defined]
    tutorial = make_config("tutorial")
    assert tutorial.padding == "pre" and not tutorial.mask and tutorial.activation == "relu"  # the article, exactly
    assert make_config(mask=False).padding == "pre"  # unmasked, the network reads the padding: the article's side
    assert make_config(mask=False, padding="post").padding == "post"  # unless asked


@pytest.mark.parametrize("streaming", [False, True])
def test_every_batch_of_a_masked_model_is_right_padded(runner: CliRunner, tmp_path: Path, streaming: bool) -> None:
    from lstmcli.nn.data import make_dataset, shard_dataset

    data = write_csv(tmp_path / "tiny.csv", make_rows())
    flag = "--streaming" if streaming else "--in-memory"
    result = runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "run"), flag])
    assert result.exit_code == 0, result.output
    run = RunDir(tmp_path / "run")
    config = run.read_config().replace(batch_size=16)
    if streaming:
        dataset, _ = shard_dataset(run, "train", config, shuffle=True)
    else:
        prepared = run.read_prepared()
        dataset, _ = make_dataset(prepared.train_x, prepared.train_y, config, shuffle=True)
    batches = [np.asarray(x) for x, _ in dataset]
    report = run.read_prepare_report()
    assert report is not None and sum(len(x) for x in batches) == report["train_rows"]
    for x in batches:
        mask = x != 0
        assert mask[:, 0].all()  # no row fully masked: an empty text is one unknown id
        assert (mask[:, :-1] >= mask[:, 1:]).all()  # once padding starts, it goes on to the end: right-padded


def test_training_the_default_publishes_a_right_padded_run(trained_run: Path) -> None:
    config = RunDir(trained_run).read_config()
    assert config.padding == "post" and config.mask
