"""GPU-ready defaults, checked on the CPU: Keras runs an LSTM on cuDNN only when its settings allow it and every
mask it is fed is right-padded (its TensorFlow backend refuses a left-padded mask at run time, not at build time).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import training_batches

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
def test_every_batch_of_a_masked_model_is_right_padded(tmp_path: Path, streaming: bool) -> None:
    dataset, _, rows = training_batches(tmp_path, streaming)
    batches = [np.asarray(x) for x, _ in dataset]
    assert sum(len(x) for x in batches) == rows
    for x in batches:
        mask = x != 0
        assert mask[:, 0].all()  # no row fully masked: an empty text is one unknown id
        assert (mask[:, :-1] >= mask[:, 1:]).all()  # once padding starts, it goes on to the end: right-padded


def test_training_the_default_publishes_a_right_padded_run(trained_run: Path) -> None:
    config = RunDir(trained_run).read_config()
    assert config.padding == "post" and config.mask
