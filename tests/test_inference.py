"""The NumPy and ONNX Runtime forward passes give Keras's probabilities for every preset and architecture option."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from typer.testing import CliRunner

from lstmcli.cli import app
from lstmcli.config import Config, make_config
from lstmcli.errors import ConfigError
from lstmcli.nn.inference import Network, Weights, predict_proba, weight_names
from lstmcli.nn.spec import NgramBag, network_spec
from lstmcli.rundir import RunDir

if TYPE_CHECKING:
    from lstmcli.nn.ort import OnnxNetwork

VOCAB, CLASSES, MAX_LEN = 50, 3, 12

VARIANTS = {
    "default": {},
    "tutorial": {"preset": "tutorial"},
    "gru": {"cell": "gru"},
    "gru-relu-unidirectional": {"cell": "gru", "bidirectional": False, "activation": "relu"},
    "two-layers-bidirectional": {"units": (6, 5)},
    "pool-max": {"pooling": "max"},
    "pool-mean": {"pooling": "mean"},
    "pool-last-masked": {"pooling": "last"},
    "post-padding": {"padding": "post", "truncating": "post"},
    "no-mask-post": {"mask": False, "padding": "post"},
    "no-dense": {"dense_units": 0},
    "sigmoid-dense": {"dense_activation": "sigmoid", "activation": "sigmoid"},
    "linear-lstm": {"activation": "linear", "dense_activation": "tanh"},
    "no-ngrams": {"ngram_buckets": 0},
    "ngrams-post-padding": {"ngram_buckets": 7, "padding": "post"},
    "ngrams-bigrams-only": {"ngram_buckets": 7, "ngram_order": 2},
    "ngrams-linear-hash": {"ngram_buckets": 7, "ngram_hash": "linear"},
    "ngrams-joint-linear-hash": {"ngram_mode": "joint", "ngram_buckets": 7, "ngram_order": 2, "ngram_hash": "linear"},
    "ngrams-joint": {"ngram_mode": "joint", "ngram_buckets": 7},
    "ngrams-joint-bigrams": {"ngram_mode": "joint", "ngram_buckets": 7, "ngram_order": 2},
    "ngrams-joint-no-dense": {"ngram_mode": "joint", "dense_units": 0},
}


def _ids(padding: str, truncating: str) -> np.ndarray:
    """Seven id rows of 1 to 15 tokens, padded or cut to ``MAX_LEN`` as ``pad_sequences`` does."""
    rng = np.random.default_rng(0)
    out = np.zeros((7, MAX_LEN), dtype=np.int32)
    for row, n in enumerate((1, 3, 7, 12, 15, 2, 9)):
        ids = rng.integers(1, VOCAB, size=n)
        ids = ids[-MAX_LEN:] if truncating == "pre" else ids[:MAX_LEN]
        if padding == "pre":
            out[row, MAX_LEN - len(ids) :] = ids
        else:
            out[row, : len(ids)] = ids
    return out


def _config(name: str) -> Config:
    """The small config of one of the ``VARIANTS``."""
    options = dict(VARIANTS[name])
    preset = options.pop("preset", "default")
    small = {} if "units" in options else {"units": (6,) if preset == "default" else (6, 4)}
    return make_config(
        preset, embedding_dim=5, dense_units=options.pop("dense_units", 4), max_len=MAX_LEN, **small, **options
    )


@cache  # one Keras model per variant, for both engines
def _keras_case(name: str) -> tuple[Config, Weights, np.ndarray, np.ndarray]:
    """A variant's config, its Keras model's exported weights, ids and Keras's probabilities for them."""
    from lstmcli.nn.model import build_model, export_weights

    config = _config(name)
    model = build_model(config, VOCAB, CLASSES)
    # Larger weights than the initializers give, so that differences would show.
    for weight in model.weights:
        weight.assign(np.random.default_rng(1).normal(0, 0.5, weight.shape).astype("float32"))
    ids = _ids(config.padding, config.truncating)
    return config, export_weights(model, config), ids, model.predict(ids, verbose=0)


def onnx_network(weights: Weights, config: Config) -> OnnxNetwork:
    """The ONNX Runtime engine of the weights (skips the test without onnx and onnxruntime)."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from lstmcli.nn.ort import OnnxNetwork

    return OnnxNetwork(weights, config, Network(weights, config))


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("engine", ["numpy", "onnx"])
def test_engine_matches_keras(name: str, engine: str) -> None:
    config, weights, ids, expected = _keras_case(name)
    network = Network(weights, config) if engine == "numpy" else onnx_network(weights, config)
    np.testing.assert_allclose(network.proba(ids), expected, atol=1e-5)


def test_projection_cache_holds_the_ids_seen_whatever_their_order() -> None:
    """Rows are cached for the ids a pass reads, not the whole vocabulary, and a row's place in the cache (which
    depends on what ran before) changes no probability."""
    config, weights, ids, expected = _keras_case("default")
    network = Network(weights, config)
    assert all(len(table) == 0 for table in network.tables.values())
    for row in reversed(range(len(ids))):  # one row at a time, the cache growing as new ids come
        np.testing.assert_allclose(network.proba(ids[row : row + 1]), expected[row : row + 1], atol=1e-5)
    seen = np.unique(ids)
    assert (network.rows[seen] >= 0).all() and network.rows[seen].max() == len(seen) - 1
    assert (np.delete(network.rows, seen) == -1).all()
    np.testing.assert_allclose(network.proba(ids), expected, atol=1e-5)


@pytest.mark.parametrize("name", ["default", "pool-last-masked", "ngrams-joint", "two-layers-bidirectional"])
def test_onnx_reads_padding_anywhere_as_numpy_does(name: str) -> None:
    """Masked rows with padding between tokens (explain's occluded copies), pre- or post-padded, and a row of
    padding only: the ONNX engine packs the tokens to the front for its trunk and gives NumPy's probabilities."""
    config, weights, ids, _ = _keras_case(name)
    holes = ids.copy()
    holes[np.random.default_rng(2).random(ids.shape) < 0.3] = 0
    holes[0] = 0
    for rows in (holes, ids[:, ::-1], holes[:, ::-1]):
        with np.errstate(invalid="ignore"):  # mean pooling of the row without tokens: 0 / 0 in both engines
            expected = Network(weights, config).proba(rows)
            actual = onnx_network(weights, config).proba(rows)
        np.testing.assert_allclose(actual, expected, atol=1e-5)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_spec_names_every_weight_and_keras_layer(name: str) -> None:
    """The spec's weight names are the exported arrays, which hold every trainable weight of the Keras model,
    and its layer names are the model's (only the input and the trunk's dropouts are left for Keras to name)."""
    from lstmcli.nn.model import build_model, export_weights

    config = _config(name)
    model = build_model(config, VOCAB, CLASSES)
    spec = network_spec(config, VOCAB, CLASSES)
    exported = export_weights(model, config)
    assert set(exported) == spec.weight_names == weight_names(config)
    assert sum(w.size for w in exported.values()) == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    layers = {layer.name: type(layer).__name__ for layer in model.layers}
    assert spec.layer_names <= set(layers)
    assert {layers[n] for n in set(layers) - spec.layer_names} <= {"InputLayer", "Dropout", "SpatialDropout1D"}


def test_every_engine_implements_every_block_kind() -> None:
    from lstmcli.nn.inference import NUMPY
    from lstmcli.nn.model import KERAS
    from lstmcli.nn.ort import ONNX
    from lstmcli.nn.spec import BLOCK_KINDS

    for engine in (KERAS, NUMPY, ONNX):
        assert set(engine.implementations) == set(BLOCK_KINDS), engine.name


def _small_config(**changes: Any) -> Config:
    """The default's layers at a few units each, ``changes`` applied."""
    return make_config(embedding_dim=5, units=(6,), dense_units=4, max_len=MAX_LEN, **changes)


def _random_model(config: Config, seed: int, but: str = "") -> Any:
    """The config's Keras model, every weight drawn from N(0, 0.5) but those under ``but`` (left as built)."""
    from lstmcli.nn.model import build_model

    model = build_model(config, VOCAB, CLASSES)
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if not (but and weight.path.startswith(but)):
            weight.assign(rng.normal(0, 0.5, weight.shape).astype("float32"))
    return model


def test_masked_model_ignores_amount_of_padding() -> None:
    from lstmcli.nn.model import build_model, export_weights

    config = _small_config()
    weights = export_weights(build_model(config, VOCAB, CLASSES), config)
    ids = _ids("pre", "pre")
    wider = np.concatenate([np.zeros((len(ids), 5), dtype=ids.dtype), ids], axis=1)
    np.testing.assert_allclose(predict_proba(weights, config, wider), predict_proba(weights, config, ids), atol=1e-6)


@pytest.mark.parametrize("padding", ["pre", "post"])
def test_staged_model_before_its_lstm_stage_skips_the_lstm(padding: str) -> None:
    """The LSTM's output layer starts at zero: until the LSTM stage wins, only the n-gram classifier runs."""
    from lstmcli.nn.inference import Network
    from lstmcli.nn.model import export_weights

    config = _small_config(ngram_buckets=7, padding=padding, truncating=padding)
    model = _random_model(config, seed=1, but="output/")
    ids = _ids(padding, padding)
    weights = export_weights(model, config)
    assert Network(weights, config).lstm_silent
    np.testing.assert_allclose(predict_proba(weights, config, ids), model.predict(ids, verbose=0), atol=1e-5)
    weights["output_bias"] = weights["output_bias"] + 0.1
    assert not Network(weights, config).lstm_silent


@pytest.mark.parametrize("n", [2, 3])
def test_mixed_hash_spreads_ngrams_like_a_random_hash(n: int) -> None:
    """Every n-gram of 60 token ids in 200,000 buckets: as many distinct buckets as a random hash would fill
    (the linear hash, kept for old runs, fills a fraction of them)."""
    from lstmcli.nn.inference import ngram_ids

    grams = np.array(np.meshgrid(*[np.arange(1, 61)] * n)).reshape(n, -1).T
    distinct = {h: len(np.unique(ngram_ids(grams, 200_000, n, h))) for h in ("mixed", "linear")}
    ideal = 200_000 * (1 - np.exp(-len(grams) / 200_000))
    assert distinct["mixed"] >= 0.97 * ideal
    assert distinct["linear"] < 0.5 * ideal


def _masked_ngram_bag(ids: np.ndarray, table: np.ndarray, bag: NgramBag) -> np.ndarray:
    """The n-gram bag as its definition reads: every n-gram hashed on its own, padding's masked out of the sum."""
    from lstmcli.nn.inference import ngram_ids

    total = np.zeros((len(ids), table.shape[1]), dtype=np.float32)
    count = np.zeros((len(ids), 1), dtype=np.float32)
    for n in range(2, min(bag.order, ids.shape[1]) + 1):
        grams = ngram_ids(ids, bag.buckets, n, bag.hashing)
        total += (table[grams] * (grams > 0)[:, :, None]).sum(axis=1)
        count += (grams > 0).sum(axis=1, keepdims=True)
    return (total / np.maximum(count, 1.0)).astype(np.float32)


@pytest.mark.parametrize("hashing", ["mixed", "linear"])
@pytest.mark.parametrize("order", [2, 3])
def test_ngram_logits_equal_the_masked_sums_whatever_the_padding_row_holds(order: int, hashing: str) -> None:
    """The NumPy pass sums the n-grams' and tokens' rows without masking padding (its own copies of the tables
    hold zeros in row 0): the same bag, bit for bit, and the same logits as the layers' weights give, with
    padding anywhere in a row and row 0 of every table trained to something else."""
    from lstmcli.nn.inference import ngram_bag, pool
    from lstmcli.nn.model import export_weights

    config = _small_config(ngram_buckets=40, ngram_order=order, ngram_hash=hashing)
    weights = export_weights(_random_model(config, seed=order), config)
    rng = np.random.default_rng(order)
    block = network_spec(config).ngram_classifier
    assert block is not None
    ids = rng.integers(1, VOCAB, (40, 30)) * (rng.random((40, 30)) < 0.7)  # padding anywhere
    ids[:, 0] = rng.integers(1, VOCAB, 40)  # every row has a token
    ids[1, 1:] = 0  # a text without n-grams
    table = weights[block.bag.table]
    assert table[0].any()
    for rows in (table, np.vstack([np.zeros_like(table[:1]), table[1:]])):
        expected = _masked_ngram_bag(ids, rows, block.bag)
        assert np.array_equal(ngram_bag(ids, rows, block.bag).view(np.uint32), expected.view(np.uint32))
    tokens = weights[block.bag.tokens]
    kernel, bias = weights[block.output.kernel], weights[block.output.bias]
    features = np.concatenate([pool(tokens[ids], ids != 0, "mean"), _masked_ngram_bag(ids, table, block.bag)], axis=1)
    np.testing.assert_allclose(Network(weights, config).ngram_logits(ids), features @ kernel + bias, atol=1e-5)


# --- the Predictor's choice of engine ---

TEXTS = ["goal team win match", "rain storm wind", "bake flour oven", "the report came today"]


def test_predictor_engines_agree(trained_run: Path) -> None:
    pytest.importorskip("onnxruntime")
    from lstmcli.nn.ort import OnnxNetwork
    from lstmcli.predictor import Predictor

    numpy_predictor, onnx_predictor = Predictor(RunDir(trained_run), "numpy"), Predictor(RunDir(trained_run), "onnx")
    assert numpy_predictor.engine_for(10**9) is numpy_predictor.network
    np.testing.assert_allclose(onnx_predictor.proba(TEXTS * 100), numpy_predictor.proba(TEXTS * 100), atol=1e-5)
    assert (numpy_predictor.engine_in_use, onnx_predictor.engine_in_use) == ("numpy", "onnx")
    assert isinstance(onnx_predictor.engine_for(0), OnnxNetwork)


@pytest.mark.parametrize(
    ("rows", "group"), [(20_000, 64), (2048, 64), (512, 64), (256, 32), (128, 16), (40, 16), (1, 16)]
)
def test_onnx_groups_shrink_for_a_small_call(rows: int, group: int) -> None:
    from lstmcli.predictor import onnx_group_rows

    assert onnx_group_rows(rows) == group


def test_a_small_call_runs_in_smaller_onnx_groups_with_the_same_probabilities(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime")
    from lstmcli import predictor as module

    predictor = module.Predictor(RunDir(trained_run), "onnx")
    network = predictor.engine_for(0)
    sizes: list[int] = []
    run = network.proba
    monkeypatch.setattr(network, "proba", lambda ids: sizes.append(len(ids)) or run(ids))
    texts = [f"{text} {i % 7}" for i, text in enumerate(TEXTS * 64)]  # 256 texts
    small = predictor.proba(texts)
    assert sizes == [32] * 8  # eight groups of 32, not four of 64
    sizes.clear()
    monkeypatch.setattr(module, "ONNX_GROUPS", 1)  # one group per ONNX_SUB_BATCH rows, as before
    assert np.array_equal(predictor.proba(texts), small)
    assert sizes == [64] * 4


def test_calls_from_two_threads_at_once_get_what_one_thread_gets(trained_run: Path) -> None:
    """A server labels two batches at once: new ids go into the NumPy engine's cache one call at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from lstmcli.predictor import Predictor

    batches = [[f"{text} {word}{i}" for i, text in enumerate(TEXTS * 50)] for word in ("goal", "rain", "bake", "team")]
    alone = Predictor(RunDir(trained_run), "numpy")
    expected = [alone.proba(texts) for texts in batches]
    together = Predictor(RunDir(trained_run), "numpy")
    together.network.lstm_silent = False  # the projection cache is the LSTM's
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(together.proba, batches))
    for mine, theirs in zip(got, expected):
        np.testing.assert_allclose(mine, theirs, atol=1e-6)


def test_blas_stays_at_one_thread_until_the_last_overlapping_call_leaves() -> None:
    from lstmcli import predictor as module

    controller = module._blas_controller()
    if not controller.select(user_api="blas").lib_controllers:
        pytest.skip("threadpoolctl finds no BLAS library in this process")

    def threads() -> set[int]:
        return {lib["num_threads"] for lib in controller.info() if lib["user_api"] == "blas"}

    with controller.limit(limits=2, user_api="blas"):
        limit = module._single_threaded_blas
        limit.__enter__()  # one batch's call
        limit.__enter__()  # and another's, from another thread, before the first is done
        limit.__exit__(None, None, None)
        assert threads() == {1}
        limit.__exit__(None, None, None)
        assert threads() == {2}


def test_auto_engine_switches_to_onnx_runtime_once_enough_rows_are_labelled(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime")
    from lstmcli import predictor as module
    from lstmcli.nn.ort import OnnxNetwork

    monkeypatch.setattr(module, "ONNX_ROWS", 300)
    monkeypatch.delenv(module.ENGINE_VARIABLE, raising=False)
    predictor = module.Predictor(RunDir(trained_run))
    predictor.network.lstm_silent = False  # a run of one epoch may publish its LSTM at weight 0: auto stays in NumPy
    first = predictor.proba(TEXTS * 100)  # 400 rows, none labelled before: NumPy
    assert predictor.engine_in_use == "numpy"
    np.testing.assert_allclose(predictor.proba(TEXTS * 100), first, atol=1e-5)
    assert predictor.engine_in_use == "onnx" and isinstance(predictor.engine_for(0), OnnxNetwork)


def test_warm_up_builds_the_session_auto_would_build_later(trained_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")
    from lstmcli.nn.ort import OnnxNetwork
    from lstmcli.predictor import Predictor

    monkeypatch.delenv("LSTMCLI_ENGINE", raising=False)
    predictor = Predictor(RunDir(trained_run))
    predictor.network.lstm_silent = False
    assert predictor.engine_in_use == "numpy"
    predictor.warm_up()
    assert predictor.engine_in_use == "onnx" and isinstance(predictor.engine_for(len(TEXTS)), OnnxNetwork)
    numpy_predictor = Predictor(RunDir(trained_run), "numpy")
    numpy_predictor.warm_up()
    assert numpy_predictor.engine_in_use == "numpy" and numpy_predictor.engine_for(10**9) is numpy_predictor.network


def test_auto_engine_stays_in_numpy_without_onnx_runtime(trained_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lstmcli import predictor as module

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # find_spec and import both fail, as uninstalled
    monkeypatch.setattr(module, "ONNX_ROWS", 0)
    predictor = module.Predictor(RunDir(trained_run), "auto")
    predictor.network.lstm_silent = False
    predictor.proba(TEXTS)
    predictor.proba(TEXTS)
    assert predictor.engine_in_use == predictor.engine == "numpy"
    with pytest.raises(ConfigError, match=r"^the onnx engine needs onnx and onnxruntime: pip install onnx onnxrun"):
        module.Predictor(RunDir(trained_run), "onnx")


def test_engine_variable_is_checked(runner: CliRunner, trained_run: Path) -> None:
    result = runner.invoke(app, ["predict", "-r", str(trained_run)], input="rain\n", env={"LSTMCLI_ENGINE": "fast"})
    assert result.exit_code == 1
    assert result.stderr == "Error: LSTMCLI_ENGINE is 'fast'; engines are: auto, numpy, onnx\n"
    labels = set()
    for engine in ("numpy", "onnx", "auto", ""):
        result = runner.invoke(app, ["predict", "-r", str(trained_run)], input="rain\n", env={"LSTMCLI_ENGINE": engine})
        assert result.exit_code == 0, (engine, result.output)
        labels.add(result.stdout.split("\t")[0])
    assert len(labels) == 1 and labels <= {"cooking", "sports", "weather"}


def test_a_single_text_imports_neither_onnx_nor_onnx_runtime(trained_run: Path) -> None:
    """The cold ``echo text | lstmcli predict`` stays in NumPy, whatever is installed, and loads nothing that one
    line of UTF-8 text does not need: no tables (pandas), no drawing (rich), no Unicode patterns (regex)."""
    unneeded = ("onnx", "onnxruntime", "pandas", "rich", "regex", "scipy", "charset_normalizer", "threadpoolctl")
    code = (
        f"import atexit, sys; atexit.register(lambda: print(sorted(m for m in {unneeded!r} if m in "
        f"sys.modules), file=sys.stderr)); sys.argv = ['lstmcli', 'predict', '-r', {str(trained_run)!r}]; "
        "from lstmcli.cli import main; main()"
    )
    env = {k: v for k, v in os.environ.items() if k != "LSTMCLI_ENGINE"}
    result = subprocess.run([sys.executable, "-c", code], input="rain\n", capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stdout.split("\t")[0] in ("cooking", "sports", "weather"), result.stderr
    assert result.stderr.splitlines()[-1] == "[]"
