"""The staged n-gram classifier trained in NumPy as a linear model: its features are the bag's, its weights in the
network's layers give its logits exactly, folding them keeps every probability, and training publishes it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_rows, write_csv

from lstmcli import rundir
from lstmcli.config import Config
from lstmcli.nn import linear, spec
from lstmcli.nn.inference import ngram_bag, ngram_ids, pool

CONFIG = Config(embedding_dim=8, ngram_buckets=50, ngram_order=3, seed=3)


def _ids(rows: int = 12, steps: int = 9, vocab: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (rows, steps))
    lengths = rng.integers(1, steps + 1, rows)
    lengths[0] = 1  # a text without n-grams
    ids[np.arange(steps) >= lengths[:, None]] = 0  # right padding
    return ids


def _bag_logits(layers: dict[str, list[np.ndarray]], network: spec.NetworkSpec, ids: np.ndarray) -> np.ndarray:
    """The n-gram classifier's logits computed as the network computes them, from its layers' weights."""
    block = network.ngram_classifier
    assert block is not None
    tokens, table = layers[block.embedding.layer][0], layers[block.bag.layer][0]
    kernel, bias = layers[block.output.layer]
    features = np.concatenate([pool(tokens[ids], ids != 0, "mean"), ngram_bag(ids, table, block.bag)], axis=1)
    return features @ kernel + bias  # type: ignore[no-any-return]


def test_the_linear_model_in_the_networks_layers_gives_its_logits() -> None:
    network, ids, vocab = spec.network_spec(CONFIG), _ids(), 30
    bag = network.ngram_classifier.bag  # type: ignore[union-attr]
    x = linear.features(ids, vocab, bag)
    assert x.shape == (len(ids), vocab + bag.buckets + 1)
    # Each non-empty text's token shares sum to 1, and so do its n-gram shares.
    sums = np.asarray(x[:, :vocab].sum(axis=1)).ravel(), np.asarray(x[:, vocab:].sum(axis=1)).ravel()
    np.testing.assert_allclose(sums[0], 1.0, atol=1e-6)
    np.testing.assert_allclose(sums[1], ((ids != 0).sum(axis=1) > 1).astype(float), atol=1e-6)
    rng = np.random.default_rng(1)
    model = linear.LinearModel(rng.normal(size=(x.shape[1], 3)).astype(np.float32), np.ones(3, np.float32), vocab)
    layers = linear.layer_weights(model, network)
    np.testing.assert_allclose(_bag_logits(layers, network, ids), model.logits(linear.Features(x)), atol=1e-5)


def test_the_mean_pretrained_vector_folds_into_the_token_rows() -> None:
    network, ids, vocab = spec.network_spec(CONFIG), _ids(), 30
    bag = network.ngram_classifier.bag  # type: ignore[union-attr]
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(vocab, 5)).astype(np.float32)
    vectors[[0, 1, 7]] = 0.0  # padding, unknown, and a word no source gave a vector
    x = linear.Features.of(ids, vocab, bag, vectors)
    assert x.mean_vectors is not None and x.mean_vectors.shape == (len(ids), 5)
    model = linear.LinearModel(
        rng.normal(size=(x.shares.shape[1], 3)).astype(np.float32),
        np.ones(3, np.float32),
        vocab,
        vectors,
        rng.normal(size=(5, 3)).astype(np.float32),
    )
    without = linear.LinearModel(model.weights, model.bias, vocab).logits(x)
    assert not np.allclose(model.logits(x), without)  # the vectors move the logits
    layers = linear.layer_weights(model, network)
    np.testing.assert_allclose(_bag_logits(layers, network, ids), model.logits(x), atol=1e-4)


def test_training_with_vectors_learns_a_word_only_its_vector_knows() -> None:
    """A word absent from the training texts gets the class its vector shares with the words that were seen."""
    vocab, dim = 12, 2
    vectors = np.zeros((vocab, dim), np.float32)
    vectors[2:6], vectors[6:10] = (1.0, 0.0), (0.0, 1.0)  # words 2-5 mean one thing, 6-9 the other
    train = np.array([[2, 3, 0], [3, 4, 0], [6, 7, 0], [7, 8, 0]] * 16, np.int32)
    labels = np.array([0, 0, 1, 1] * 16, np.int32)
    data = (train, labels, train[:4], labels[:4])
    config = CONFIG.for_training(len(train))
    model = next(m for i, (m, _) in enumerate(linear.epochs(data, config, vocab, 2, None, vectors)) if i == 20)
    unseen = model.token_logits()[[5, 9]]  # words 5 and 9: never in a training text
    assert unseen[0].argmax() == 0 and unseen[1].argmax() == 1
    plain = next(m for i, (m, _) in enumerate(linear.epochs(data, config, vocab, 2)) if i == 20)
    np.testing.assert_array_equal(plain.token_logits()[[5, 9]], 0.0)  # without vectors they stay unknown


def test_folding_keeps_the_logits_and_shrinks_the_tables() -> None:
    network, ids = spec.network_spec(CONFIG), _ids()
    block = network.ngram_classifier
    assert block is not None
    rng = np.random.default_rng(2)
    layers = {
        block.embedding.layer: [rng.normal(size=(30, 8)).astype(np.float32)],
        block.bag.layer: [rng.normal(size=(51, 32)).astype(np.float32)],
        block.output.layer: [rng.normal(size=(40, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)],
    }
    weights = {
        block.bag.tokens: layers[block.embedding.layer][0],
        block.bag.table: layers[block.bag.layer][0],
        block.output.kernel: layers[block.output.layer][0],
        block.output.bias: layers[block.output.layer][1],
    }
    folded = linear.folded(weights, network)
    assert folded[block.bag.table].shape == (51, 2) and folded[block.bag.tokens].shape == (30, 2)
    refolded = {
        block.embedding.layer: [folded[block.bag.tokens]],
        block.bag.layer: [folded[block.bag.table]],
        block.output.layer: [folded[block.output.kernel], folded[block.output.bias]],
    }
    np.testing.assert_allclose(
        _bag_logits(refolded, network, ids), _bag_logits(layers, network, ids), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize(
    ("classes", "multi_label", "expected"), [(2, False, True), (9, False, False), (2, True, False)]
)
def test_the_linear_stage_takes_what_its_layers_can_hold(classes: int, multi_label: bool, expected: bool) -> None:
    config = CONFIG.replace(multi_label=multi_label)
    assert linear.fits(config, classes, sharded=False) is expected
    assert not linear.fits(config, classes, sharded=True)


def test_training_publishes_the_linear_stages_best_epoch(tmp_path: Path) -> None:
    from lstmcli import train

    data = write_csv(tmp_path / "t.csv", make_rows(40))
    run_dir = tmp_path / "run"
    result = train(data, run_dir, epochs=4, ngram_epochs=3, embedding_dim=8, units=(8,), dense_units=8)
    assert not (run_dir / rundir.MODEL).exists()  # the network is published once, as weights.npz
    ngrams = [row for row in result.history if row.get("stage") == "ngrams"]
    assert [row["epoch"] for row in ngrams] == [1, 2, 3]
    best = min(ngrams, key=lambda row: row["val_loss"])
    # The blend scores the n-gram part from the exported weights: it is the linear model's best epoch exactly.
    parts = json.loads((run_dir / rundir.TRAINING).read_text()).get("parts")
    if parts is None:  # the LSTM stage never beat it: the published model is the n-gram classifier's best epoch
        assert result.best_epoch == best["epoch"]
    else:
        assert parts["ngrams"]["loss"] == pytest.approx(best["val_loss"], abs=2e-4)
        assert parts["ngrams"]["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-4)


def test_tables_the_linear_stage_writes_start_at_zero_and_every_other_layer_as_before() -> None:
    from lstmcli.nn.model import build_model

    network = spec.network_spec(CONFIG)
    written = linear.written_layers(network)
    random_start, zero_start = (build_model(CONFIG, 30, 2, start) for start in (frozenset(), written))
    assert written == {network.ngram_classifier.embedding.layer, network.ngram_classifier.bag.layer}  # type: ignore[union-attr]
    compared = 0
    for before, after in zip(random_start.layers, zero_start.layers, strict=True):
        assert before.name == after.name or not before.weights  # unnamed layers get a new number in each model
        for old, new in zip(before.get_weights(), after.get_weights(), strict=True):
            if before.name in written:
                assert old.any() and not new.any()  # the random table is not made at all
            else:
                np.testing.assert_array_equal(old, new)  # the seeded stream is drawn as before: bit for bit
                compared += old.size > 1 and bool(old.any())
    assert compared >= 3  # the trunk's embedding, recurrent kernels and dense layers started at random, equal


@pytest.mark.parametrize("classes", [1, 2, 6, 10])
def test_adams_row_moves_and_marks_equal_numpys_fancy_indexing_and_unique(classes: int) -> None:
    """The trainer picks and writes a table's rows as whole records, and finds a batch's rows by marking: the same
    rows, places and numbers as ``table[rows]``, ``table[rows] = values`` and ``np.unique(..., return_inverse)``,
    batch after batch on the same marks."""
    rng = np.random.default_rng(classes)
    table = rng.standard_normal((500, classes)).astype(np.float32)
    model = linear.LinearModel(table, np.zeros(classes, np.float32), 20, None, None)
    adam = linear._Adam(model, 0.1, 0.1)
    for size in (0, 1, 37, 2_000):
        columns = rng.integers(0, len(table), size).astype(np.int32)
        rows, local = adam.used_rows(columns)
        want_rows, want_local = np.unique(columns, return_inverse=True)
        assert np.array_equal(rows, want_rows) and np.array_equal(local, want_local)
        assert np.array_equal(linear._take(table, rows), table[rows])
        values = rng.standard_normal((len(rows), classes))  # float64: written as the table's float32, as NumPy does
        want = table.copy()
        want[rows] = values
        linear._put(table, rows, values)
        assert np.array_equal(table, want)


def _padded_features(ids: np.ndarray, vocab: int, bag: spec.NgramBag) -> np.ndarray:
    """The features as the bag finds them: each n-gram hashed over the padded rows (``ngram_ids``), dense."""
    shares = np.zeros((len(ids), vocab + bag.buckets + 1))
    grams = [ngram_ids(ids, bag.buckets, n, bag.hashing) for n in range(2, bag.order + 1) if ids.shape[1] >= n]
    for i, row in enumerate(ids):
        tokens = row[row != 0]
        np.add.at(shares[i], tokens, 1 / max(len(tokens), 1))
        found = np.concatenate([g[i][g[i] > 0] for g in grams]) if grams else np.zeros(0, np.int64)
        np.add.at(shares[i], vocab + found, 1 / max(len(found), 1))
    return shares


@pytest.mark.parametrize("hashing", ["mixed", "linear"])
@pytest.mark.parametrize("order", [2, 3, 4])
def test_features_hashed_over_the_tokens_equal_the_bags_over_the_padded_rows(hashing: str, order: int) -> None:
    """Padding anywhere in a row (explain's occluded copies hold it between tokens), rows without tokens, rows
    narrower than an n-gram: an n-gram is a run of tokens side by side, as over the padded matrix."""
    rng = np.random.default_rng(order)
    bag = dataclasses.replace(spec.network_spec(CONFIG).ngram_classifier.bag, order=order, hashing=hashing)  # type: ignore[union-attr]
    for _ in range(60):
        ids = rng.integers(0, 6, (rng.integers(1, 8), rng.integers(1, 9)))
        got = linear.features(ids, 6, bag)
        np.testing.assert_allclose(got.toarray(), _padded_features(ids, 6, bag), rtol=1e-6)
        assert got.has_canonical_format
