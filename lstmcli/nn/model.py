"""The Keras network: building it from the network spec, and exporting its weights for the NumPy forward pass.

This module imports TensorFlow/Keras at the top; import it only from code that trains or checks the model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from lstmcli.config import AUTO_LEARNING_RATE, Config
from lstmcli.errors import ConfigError
from lstmcli.nn import spec
from lstmcli.nn.backend import keras
from lstmcli.nn.inference import hashed_ngrams, masked_max
from lstmcli.nn.linear import widened
from lstmcli.nn.optimizer import SparseAdam


@keras.saving.register_keras_serializable(package="lstmcli")
class MaskedGlobalMaxPooling1D(keras.layers.Layer):
    """Max over time that ignores padded steps (Keras's GlobalMaxPooling1D ignores the mask).

    The arithmetic is :func:`lstmcli.nn.inference.masked_max`'s, run on Keras ops.
    """

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):  # type: ignore[no-untyped-def]
        if mask is None:
            return keras.ops.max(inputs, axis=1)
        return masked_max(inputs, keras.ops.expand_dims(keras.ops.cast(mask, "bool"), -1), keras.ops)

    def compute_mask(self, inputs, mask=None):  # type: ignore[no-untyped-def]
        return None

    def compute_output_shape(self, input_shape):  # type: ignore[no-untyped-def]
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="lstmcli")
class SeededZeros(keras.initializers.RandomUniform):
    """Zeros, for a table whose start nothing reads (training writes all of it first), drawing its seed as Keras's
    default embedding initializer (``"uniform"``) does: the seeded stream, and so every other layer's start
    weights, stay as with that initializer, and no random table and its temporaries are made."""

    def __call__(self, shape, dtype=None):  # type: ignore[no-untyped-def]
        return keras.ops.zeros(shape, dtype=dtype)


def embeddings_start(zeros: bool) -> keras.initializers.Initializer:
    """An embedding's initializer, made where Keras makes its default one: :class:`SeededZeros` or ``"uniform"``."""
    return SeededZeros() if zeros else keras.initializers.get("uniform")


@keras.saving.register_keras_serializable(package="lstmcli")
class BigramBag(keras.layers.Layer):
    """Mean of hashed token n-gram embeddings over a text (n = 2..order): the fastText-style bag.

    Input: ids ``(batch, steps)``, 0 padding. N-gram ids come from :func:`lstmcli.nn.inference.hashed_ngrams`
    run on Keras ops, and the mean is :func:`lstmcli.nn.inference.ngram_bag`'s, line for line.
    ``zero_start``: the table starts at zeros (:class:`SeededZeros`); not saved, as a loaded table is read.
    """

    # hashing defaults to "linear": models saved before the setting existed were built with it.
    def __init__(
        self,
        buckets: int,
        dim: int,
        order: int = 2,
        hashing: str = "linear",  # type: ignore[no-untyped-def]
        zero_start: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.buckets, self.dim, self.order, self.hashing = buckets, dim, order, hashing
        start = embeddings_start(zero_start)
        self.embedding = keras.layers.Embedding(buckets + 1, dim, embeddings_initializer=start, name="bigram_embedding")

    def build(self, input_shape):  # type: ignore[no-untyped-def]
        self.embedding.build((None, None))

    def call(self, ids):  # type: ignore[no-untyped-def]
        ids = keras.ops.cast(ids, "int64")
        total, count = 0.0, 0.0
        for n in range(2, self.order + 1):
            grams = hashed_ngrams(ids, self.buckets, n, self.hashing, keras.ops)
            vectors = self.embedding(grams)
            valid = keras.ops.expand_dims(keras.ops.cast(grams > 0, vectors.dtype), -1)
            total = total + keras.ops.sum(vectors * valid, axis=1)
            count = count + keras.ops.sum(valid, axis=1)
        return total / keras.ops.maximum(count, 1.0)

    def compute_output_shape(self, input_shape):  # type: ignore[no-untyped-def]
        return (input_shape[0], self.dim)

    def get_config(self):  # type: ignore[no-untyped-def]
        return {
            **super().get_config(),
            "buckets": self.buckets,
            "dim": self.dim,
            "order": self.order,
            "hashing": self.hashing,
        }


@keras.saving.register_keras_serializable(package="lstmcli")
class BranchDropout(keras.layers.Layer):
    """In training, zeroes a whole input row with probability ``rate`` (no rescaling); at inference, identity.

    Kept so that earlier runs load: their staged models dropped the n-gram classifier's logits for
    half the texts while the LSTM trained on top of it. The LSTM stage now trains the recurrent network alone
    (:func:`stage_model`), and new models have no such layer.
    """

    def __init__(self, rate: float, seed: int = 0, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.rate, self.seed = rate, seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):  # type: ignore[no-untyped-def]
        if not training or not self.rate:
            return inputs
        keep = keras.random.uniform((keras.ops.shape(inputs)[0], 1), seed=self.generator) >= self.rate
        return inputs * keras.ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):  # type: ignore[no-untyped-def]
        return input_shape

    def get_config(self):  # type: ignore[no-untyped-def]
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def build_model(config: Config, vocab_size: int, n_classes: int, written: frozenset[str] = frozenset()) -> keras.Model:
    """Builds and compiles the classifier the config describes, block by block of :func:`network_spec`.

    The input is ``(batch, steps)`` int ids of any length, so batches can be padded to their own length.
    Layer names come from the spec (``embedding``, ``rnn_0``..., ``hidden``, ``output``, ``ngram_*``):
    :func:`export_weights` and the NumPy forward pass find the weights by them.

    With ``ngram_mode="staged"`` the output is ``softmax(ngram_logits + lstm_logits)``: a linear classifier
    over the mean of token and n-gram embeddings, plus the LSTM's logits, whose layer starts at zero so that
    until the LSTM stage has run the model is the n-gram classifier alone (see :func:`stage_model`).

    Args:
        written: the embedding layers (spec names) whose start weights nothing reads, as the caller writes them
            before any use (the n-gram classifier trained in NumPy): built as zeros (:class:`SeededZeros`), every
            other layer starting as it would have.
    """
    keras.utils.set_random_seed(config.seed)
    inputs = keras.Input(shape=(None,), dtype="int32", name="ids")
    graph = _Graph(inputs, inputs, written=written)
    for block in spec.network_spec(config, vocab_size, n_classes).blocks:
        _build(block, graph)
    model = keras.Model(inputs, graph.x, name="lstmcli")
    _compile(model, config)
    return model


@dataclass
class _Graph:
    """The tensors a builder reads: the ids, the latest block's output, and the latest embedding's output."""

    inputs: keras.KerasTensor
    x: keras.KerasTensor
    embedded: keras.KerasTensor | None = None
    written: frozenset[str] = frozenset()  # embedding layers that start at zeros (see build_model)


# Each builder adds the Keras layers of one kind of spec block after ``graph.x``; ``inference.NUMPY`` runs them.
KERAS = spec.Engine("Keras")


def _build(block: spec.Block, graph: _Graph) -> None:
    KERAS[block](block, graph)


@KERAS.implements(spec.Embedding)
def _embedding(block: spec.Embedding, graph: _Graph) -> None:
    layer = keras.layers.Embedding(
        block.vocab_size,
        block.dim,
        embeddings_initializer=embeddings_start(block.layer in graph.written),
        mask_zero=block.mask_zero,
        trainable=block.trainable,
        name=block.layer,
    )
    graph.x = graph.embedded = layer(graph.x)


@KERAS.implements(spec.SpatialDropout)
def _spatial_dropout(block: spec.SpatialDropout, graph: _Graph) -> None:
    graph.x = keras.layers.SpatialDropout1D(block.rate)(graph.x)


@KERAS.implements(spec.Dropout)
def _dropout(block: spec.Dropout, graph: _Graph) -> None:
    graph.x = keras.layers.Dropout(block.rate, name=block.layer or None)(graph.x)


@KERAS.implements(spec.Recurrent)
def _recurrent(block: spec.Recurrent, graph: _Graph) -> None:
    # The mask (``block.masked``) comes with the embedding's output: Keras carries it from layer to layer.
    cell = keras.layers.LSTM if block.cell == "lstm" else keras.layers.GRU
    options = {"activation": block.activation, "return_sequences": block.return_sequences}
    if not block.bidirectional:
        layer = cell(block.units, **options, name=block.layer)
    else:
        layer = keras.layers.Bidirectional(cell(block.units, **options), name=block.layer)
    graph.x = layer(graph.x)


@KERAS.implements(spec.Pooling)
def _pooling(block: spec.Pooling, graph: _Graph) -> None:
    """As ``inference.pool``; the mask (``block.masked``) comes with the recurrent layer's output."""
    if block.mode == "max":
        graph.x = MaskedGlobalMaxPooling1D(name=block.max_layer)(graph.x)
    elif block.mode == "mean":
        graph.x = keras.layers.GlobalAveragePooling1D(name=block.mean_layer)(graph.x)
    else:
        graph.x = keras.layers.Concatenate(name=block.join_layer)(
            [
                MaskedGlobalMaxPooling1D(name=block.max_layer)(graph.x),
                keras.layers.GlobalAveragePooling1D(name=block.mean_layer)(graph.x),
            ]
        )


@KERAS.implements(spec.NgramBag)
def _ngram_bag(block: spec.NgramBag, graph: _Graph) -> None:
    """As ``inference.bag``: the mean token vector (padding left out) beside the mean n-gram vector."""
    words = keras.layers.GlobalAveragePooling1D(name=block.words_layer)(graph.embedded, mask=graph.inputs != 0)
    zero_start = block.layer in graph.written
    ngrams = BigramBag(block.buckets, block.dim, block.order, block.hashing, zero_start, name=block.layer)(graph.inputs)
    features = [graph.x, words, ngrams] if block.beside_trunk else [words, ngrams]
    graph.x = keras.layers.Concatenate(name=block.concat_layer)(features)


@KERAS.implements(spec.Dense)
def _dense(block: spec.Dense, graph: _Graph) -> None:
    initializer = "zeros" if block.zero_kernel else "glorot_uniform"
    layer = keras.layers.Dense(block.units, block.activation, kernel_initializer=initializer, name=block.layer)
    graph.x = layer(graph.x)


@KERAS.implements(spec.NgramClassifier)
def _ngram_classifier(block: spec.NgramClassifier, graph: _Graph) -> None:
    """The staged n-gram classifier from the ids, its logits added to the trunk's (as ``Network.proba``)."""
    probabilities = keras.layers.Activation(block.activation, name=block.probabilities_layer)
    add = keras.layers.Add(name=block.logits_layer)
    branch = _Graph(graph.inputs, graph.inputs, written=graph.written)
    for part in block.members:
        _build(part, branch)
    graph.x = probabilities(add([branch.x, graph.x]))


def _compile(model: keras.Model, config: Config) -> None:
    """Adam (the tutorial preset: Keras's own, as the article; else :class:`SparseAdam`), sparse categorical
    cross-entropy and accuracy; a multi-label run: binary cross-entropy and the share of right 0/1 decisions at
    0.5, logged as accuracy too. Not XLA-compiled: SparseAdam's row updates have data-dependent shapes."""
    rate = config.learning_rate or AUTO_LEARNING_RATE  # auto: resolved by fit, else batch 64's
    optimizer = SparseAdam(rate) if config.sparse_updates else keras.optimizers.Adam(rate)
    if config.multi_label:
        loss, metric = "binary_crossentropy", keras.metrics.BinaryAccuracy(name="accuracy")
    else:
        loss, metric = "sparse_categorical_crossentropy", keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    model.compile(optimizer=optimizer, loss=loss, metrics=[metric], jit_compile=False)


def ready_to_fit(model: keras.Model) -> None:
    """Creates the optimizer's variables before ``fit``: created inside the first training step, they make
    TensorFlow trace that step twice (once to lift them out), a second or more of the first epoch.
    The metrics' variables exist already (:func:`_compile` passes metric objects, not names)."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def stage_model(model: keras.Model, config: Config, stage: str) -> keras.Model:
    """Readies a staged model for one stage and returns the model to fit, compiled afresh: one part of ``model``
    with its own softmax, sharing its layers (so ``model`` holds what the stage learns).

    ``ngrams``: the n-gram classifier alone (the LSTM's logits are still zero, so it is the whole model's output,
    at a fraction of the cost). ``lstm``: the recurrent network alone, from its token embeddings to its logits,
    with the n-gram classifier out of its graph. Trained apart, each part is a whole classifier, and
    the published model weighs their logits on validation (:mod:`lstmcli.nn.blend`). Trained on top of the
    n-gram classifier (earlier runs), the LSTM learned little of what a classifier that fits the training
    texts almost perfectly leaves: alone it scored 45-67% on ag_news against 81-83% trained apart.
    """
    network = spec.network_spec(config)
    ngrams = network.ngram_classifier
    if ngrams is None:
        raise ValueError(f"stage_model needs a staged n-gram model; the config's ngram_mode is {config.ngram_mode!r}")
    logits = model.get_layer(ngrams.output.layer if stage == "ngrams" else network.output.layer).output
    output = keras.layers.Activation(config.output_activation)(logits)
    target = keras.Model(model.inputs, output, name=f"lstmcli_{stage}")
    # The other part is not in the graph; every layer in it trains but frozen embeddings (runs of earlier versions
    # were saved with the other stage's layers frozen, so a resumed one needs them set again).
    for layer in target.layers:
        if layer.weights:
            layer.trainable = layer.name not in network.frozen_layers
    _compile(target, config)
    return target


def export_weights(model: keras.Model, config: Config) -> dict[str, np.ndarray]:
    """Copies the weights the NumPy forward pass needs into a flat dict of float32 arrays, named as the spec's."""
    out = {}
    for weight in spec.network_spec(config).weights:
        layer = model.get_layer(weight.layer)
        owner = getattr(layer, weight.inner) if weight.inner else layer
        out[weight.key] = np.asarray(owner.get_weights()[weight.index], dtype=np.float32)
    return out


def model_from_weights(weights: dict[str, np.ndarray], config: Config, vocab_size: int, n_classes: int) -> keras.Model:
    """The Keras model of exported weights (a run's weights.npz), built from the config as training builds it.

    The inverse of :func:`export_weights`: a run keeps its network once, as weights.npz, and what needs it as a
    Keras model (``export --format savedmodel``) builds it so. An n-gram classifier stored folded (its tables
    ``(rows, classes)``, :func:`lstmcli.nn.linear.folded`) goes into the first columns of the layers' tables, the
    output kernel two identities: the same logits.

    Raises:
        KeyError: ``weights`` lacks one of the spec's weights.
    """
    model = build_model(config, vocab_size, n_classes)
    network = spec.network_spec(config, vocab_size, n_classes)
    weights = _unfolded(weights, network)
    for weight in network.weights:
        layer = model.get_layer(weight.layer)
        owner = getattr(layer, weight.inner) if weight.inner else layer
        values = owner.get_weights()
        values[weight.index] = weights[weight.key]
        owner.set_weights(values)
    return model


def _unfolded(weights: dict[str, np.ndarray], network: spec.NetworkSpec) -> dict[str, np.ndarray]:
    """Weights whose folded n-gram tables ``(rows, classes)`` are widened back to the layers' ``(rows, dim)``."""
    block = network.ngram_classifier
    if block is None or weights[block.bag.table].shape[1] == block.bag.dim:
        return weights
    tokens, table, kernel = widened(weights[block.bag.tokens], weights[block.bag.table], block)
    return {**weights, block.bag.tokens: tokens, block.bag.table: table, block.output.kernel: kernel}


def load_model(path: str) -> keras.Model:
    """Loads a saved model without running code from the file (``safe_mode``); a model saved without its optimizer's
    state (the best and the published ones) gets a new optimizer, without Keras's warning that it has none."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        return keras.saving.load_model(path, safe_mode=True, compile=True)


def start_embeddings(model: keras.Model, config: Config, vectors: np.ndarray) -> None:
    """Sets the trunk's token embeddings of a new model to the run's pretrained vectors ``(vocab, dim)``.

    Only the trunk's: the staged n-gram classifier learns its own from random, as it does without vectors. Started
    from GloVe 6B 50d on sst2, its test accuracy fell from 81.8 to 76.9 while the LSTM's rose from 79.3 to 80.1.

    Raises:
        ConfigError: the model's embeddings are not of the vectors' shape (an --embedding-dim that contradicts them).
    """
    for block in (spec.network_spec(config).embedding,):
        layer = model.get_layer(block.layer)
        shape = tuple(layer.get_weights()[0].shape)
        if shape != vectors.shape:
            raise ConfigError(
                f"the run's pretrained vectors have {vectors.shape[1]} numbers per word but --embedding-dim is "
                f"{shape[1]}; leave out --embedding-dim (or pass --embedding-dim {vectors.shape[1]})"
            )
        layer.set_weights([vectors])
