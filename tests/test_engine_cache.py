"""The ONNX Runtime graph kept in the user's cache: a cache that cannot be written, found or read never stops
prediction, and leaves nothing half-written behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lstmcli.rundir import RunDir

pytest.importorskip("onnxruntime")

from lstmcli import predictor as module  # noqa: E402
from lstmcli.nn import ort  # noqa: E402

TEXTS = ["rain and wind tonight", "the match went to extra time", "bake the bread for an hour", "sunny"]


def _predictor(run_dir: Path, engine: str, monkeypatch: pytest.MonkeyPatch) -> module.Predictor:
    monkeypatch.setenv(module.ENGINE_VARIABLE, engine)
    predictor = module.Predictor(RunDir(run_dir))
    predictor.network.lstm_silent = False  # the tiny run's LSTM may be silent: the ONNX engine runs all the same
    return predictor


def test_a_graph_that_cannot_be_cached_leaves_no_part_file(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    run = RunDir(trained_run)
    weights, config = run.read_weights(), run.read_config()
    path = ort.cached_path(weights, config)
    assert path is not None
    path.mkdir(parents=True)  # the graph's name is taken by a folder: it cannot be replaced
    assert ort.engine_model(weights, config) == ort.build(weights, config)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_an_interrupted_cache_write_leaves_no_part_file(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    run = RunDir(trained_run)

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ort.engine_model(run.read_weights(), run.read_config())
    assert not list(tmp_path.rglob("*.part"))


@pytest.mark.parametrize("engine", ["onnx", "auto"])
def test_prediction_goes_on_without_a_home_directory(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    texts = TEXTS * (module.CACHED_ONNX_ROWS // len(TEXTS) + 1)
    predictor = _predictor(trained_run, engine, monkeypatch)
    probs = predictor.proba(texts)
    assert probs.shape == (len(texts), len(predictor.labels))
    assert ort.cached_path(predictor.weights, predictor.config) is None


def test_a_damaged_cached_graph_is_built_again(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    numpy_engine = _predictor(trained_run, "numpy", monkeypatch)
    want = numpy_engine.proba(TEXTS)
    path = ort.cached_path(numpy_engine.weights, numpy_engine.config)
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a graph")
    predictor = _predictor(trained_run, "onnx", monkeypatch)
    np.testing.assert_allclose(predictor.proba(TEXTS), want, atol=1e-5)
    assert path.read_bytes() == ort.build(numpy_engine.weights, numpy_engine.config)
