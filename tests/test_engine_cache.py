"""The ONNX Runtime graph kept in the run and in the user's cache: a cache that cannot be written, found or read
never stops prediction, and leaves nothing half-written behind; a run's graph is used only for its own weights."""

from __future__ import annotations

import os
import shutil
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
    assert sorted(p.name for p in path.parent.iterdir()) == [".format", path.name]  # .format: forget_old_graphs


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
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    run_dir = shutil.copytree(trained_run, tmp_path / "run", ignore=shutil.ignore_patterns("engine"))  # as before
    numpy_engine = _predictor(run_dir, "numpy", monkeypatch)  # training kept graphs in runs: the cache alone
    want = numpy_engine.proba(TEXTS)
    path = ort.cached_path(numpy_engine.weights, numpy_engine.config)
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a graph")
    predictor = _predictor(run_dir, "onnx", monkeypatch)
    np.testing.assert_allclose(predictor.proba(TEXTS), want, atol=1e-5)
    assert path.read_bytes() == ort.build(numpy_engine.weights, numpy_engine.config)


def test_a_graph_kept_in_the_run_serves_from_the_first_full_batch_until_the_weights_change(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Training keeps the engine's graph in the run: a stream's first full batch runs ONNX Runtime with nothing in
    the user's cache and nothing built; once other weights are published, the run's graph is never taken."""
    from lstmcli.nn.fit import keep_engine_graph

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(module.ENGINE_VARIABLE, raising=False)
    shutil.copytree(trained_run, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    weights, config = run.read_weights(), run.read_config()
    output = module.Network(weights, config).spec.output
    weights[output.bias] = weights[output.bias] + np.linspace(-0.5, 0.5, len(weights[output.bias]), dtype=np.float32)
    run.write_weights(weights)
    keep_engine_graph(run, weights)
    assert run.read_engine_graph(ort.digest(weights, config)) == ort.build(weights, config)
    texts = TEXTS * (module.CACHED_ONNX_ROWS // len(TEXTS) + 1)
    want = module.Predictor(run, "numpy").proba(texts)

    def no_build(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the graph was built again")

    monkeypatch.setattr(ort, "build", no_build)
    predictor = module.Predictor(run)
    np.testing.assert_allclose(predictor.proba(texts), want, atol=1e-6)
    assert predictor.engine_in_use == "onnx"
    assert not (tmp_path / "cache").exists()  # neither looked up in the user's cache nor kept there
    forced = module.Predictor(run, "onnx")
    np.testing.assert_allclose(forced.proba(TEXTS), want[: len(TEXTS)], atol=1e-6)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    weights[output.bias] = weights[output.bias] * 2
    run.write_weights(weights)
    assert run.read_engine_graph(ort.digest(weights, config)) is None
    retrained = module.Predictor(run, "onnx")  # other weights: a graph of their own, built
    np.testing.assert_allclose(retrained.proba(TEXTS), module.Predictor(run, "numpy").proba(TEXTS), atol=1e-6)


def _format_one_graph() -> bytes:
    """A graph as format 1 made them: the ids in, the token embedding held inside and gathered."""
    from onnx import TensorProto, helper, numpy_helper

    embedding = numpy_helper.from_array(np.ones((5, 3), np.float32), "embedding")
    ids = helper.make_tensor_value_info("ids", TensorProto.INT32, ["steps", "n"])
    out = helper.make_tensor_value_info(ort.OUTPUT, TensorProto.FLOAT, ["steps", "n", 3])
    graph = helper.make_graph([helper.make_node("Gather", ["embedding", "ids"], [ort.OUTPUT])], "g", [ids], [out])
    graph.initializer.append(embedding)
    return bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", ort.OPSET)]).SerializeToString())


def test_graphs_of_an_earlier_format_leave_the_cache_once_it_is_used_again(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Nothing reads a graph of an earlier format (its name digests that format): the cache's next use removes
    them, and only them; the run's own graph stays, and a later use reads no graph to find them."""
    from lstmcli.nn.fit import keep_engine_graph

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    shutil.copytree(trained_run, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    weights, config = run.read_weights(), run.read_config()
    keep_engine_graph(run, weights)
    kept_in_run = run.path / "engine" / f"{ort.digest(weights, config)}.onnx"
    path = ort.cached_path(weights, config)
    assert path is not None and kept_in_run.is_file()
    path.parent.mkdir(parents=True)
    old = path.parent / f"{'0' * 40}.onnx"
    old.write_bytes(_format_one_graph())
    other = {name: array * 2 for name, array in weights.items()}  # another run's graph, of this format
    current = ort.cached_path(other, config)
    assert current is not None
    current.write_bytes(ort.build(other, config))
    (path.parent / "notes.txt").write_text("not a graph")
    assert ort.engine_model(weights, config) == ort.build(weights, config)
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([".format", current.name, path.name, "notes.txt"])
    assert kept_in_run.read_bytes() == ort.build(weights, config)

    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("a graph was read to tell its format")

    onnx = pytest.importorskip("onnx")
    monkeypatch.setattr(onnx, "load", no_read)
    assert ort.engine_model(other, config) == current.read_bytes()


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recurrent-only run trained with its batch size and rate left to training (``auto``); tests copy it."""
    from conftest import TINY_MODEL, make_rows, write_csv
    from typer.testing import CliRunner

    from lstmcli.cli import app

    base = tmp_path_factory.mktemp("auto")
    data, run_dir = write_csv(base / "tiny.csv", make_rows()), base / "run"
    tiny = [*TINY_MODEL[: TINY_MODEL.index("--batch-size")], "--ngram-buckets", "0"]
    result = CliRunner().invoke(app, ["train", str(data), "-r", str(run_dir), *tiny, "--batch-size", "auto"])
    assert result.exit_code == 0, result.output
    return run_dir


def _labels_in_onnx_runtime_without_building(run: RunDir, monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    """A stream that reaches CACHED_ONNX_ROWS runs in ONNX Runtime, from the run's graph: nothing built or cached."""

    def no_build(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the graph was built again")

    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(ort, "build", no_build)
    monkeypatch.delenv(module.ENGINE_VARIABLE, raising=False)
    predictor = module.Predictor(run)
    predictor.proba(TEXTS * (module.CACHED_ONNX_ROWS // len(TEXTS) + 1))
    assert predictor.engine_in_use == "onnx"
    assert not (cache / "lstmcli" / "onnx").exists()


def test_a_run_trained_with_its_batch_size_and_rate_left_to_training_finds_its_graph(
    auto_run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """config.json keeps ``auto`` where training chose the batch size and the rate: the graph training keeps is
    named by that config, the one prediction reads, so the run's first full batch finds it (nothing built)."""
    shutil.copytree(auto_run, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    config = run.read_config()
    assert (config.batch_size, config.learning_rate) == (0, 0.0)  # both left to training
    assert run.read_engine_graph(ort.digest(run.read_weights(), config)) is not None
    _labels_in_onnx_runtime_without_building(run, monkeypatch, tmp_path / "cache")


def test_a_run_of_the_version_that_named_its_graph_by_trainings_batch_size_and_rate_finds_it(
    auto_run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The version before named the graph by the batch size and rate training came to (training.json's), not by
    config.json's ``auto``: prediction looks under that name too, and finds it."""
    shutil.copytree(auto_run, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    config, weights, record = run.read_config(), run.read_weights(), run.read_training()
    assert record is not None and record.batch_size and record.learning_rate
    trained = config.replace(batch_size=record.batch_size, learning_rate=record.learning_rate)
    graph = run.path / "engine" / f"{ort.digest(weights, config)}.onnx"
    graph.rename(graph.with_name(f"{ort.digest(weights, trained)}.onnx"))  # as that version wrote it
    assert run.read_engine_graph(ort.digest(weights, config)) is None
    _labels_in_onnx_runtime_without_building(run, monkeypatch, tmp_path / "cache")


def test_a_training_record_out_of_range_names_no_graph_and_prediction_goes_on(
    auto_run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """training.json's batch size is read only to look for an earlier version's graph: one out of range (a damaged
    record) makes no graph found, not a failed prediction."""
    import json

    shutil.copytree(auto_run, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    record = json.loads((run.path / "training.json").read_text())
    (run.path / "training.json").write_text(json.dumps({**record, "batch_size": -3}))
    for graph in (run.path / "engine").glob("*.onnx"):
        graph.unlink()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    predictor = module.Predictor(run)
    assert predictor._run_graph() is None
    assert predictor.proba(TEXTS).shape == (len(TEXTS), len(run.read_labels()))
