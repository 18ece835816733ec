"""The Keras network: building it from a config, and exporting its weights for the NumPy forward pass.

This module imports TensorFlow/Keras at the top; import it only from code that trains or checks the model.
"""

from __future__ import annotations

import numpy as np

from lstmcli.config import Config
from lstmcli.nn.backend import keras
from lstmcli.nn.inference import hash_step


@keras.saving.register_keras_serializable(package="lstmcli")
class MaskedGlobalMaxPooling1D(keras.layers.Layer):
    """Max over time that ignores padded steps (Keras's GlobalMaxPooling1D ignores the mask)."""

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):  # type: ignore[no-untyped-def]
        if mask is None:
            return keras.ops.max(inputs, axis=1)
        valid = keras.ops.expand_dims(keras.ops.cast(mask, "bool"), -1)
        pooled = keras.ops.max(keras.ops.where(valid, inputs, -1e9), axis=1)
        return keras.ops.where(keras.ops.any(valid, axis=1), pooled, 0.0)

    def compute_mask(self, inputs, mask=None):  # type: ignore[no-untyped-def]
        return None

    def compute_output_shape(self, input_shape):  # type: ignore[no-untyped-def]
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="lstmcli")
class BigramBag(keras.layers.Layer):
    """Mean of hashed token n-gram embeddings over a text (n = 2..order): the fastText-style bag.

    Input: ids ``(batch, steps)``, 0 padding. N-gram ids are hashed from neighbouring token ids exactly as
    :func:`lstmcli.nn.inference.ngram_ids` does, so the NumPy path reproduces the branch.
    """

    # hashing defaults to "linear": models saved before the setting existed were built with it.
    def __init__(
        self,
        buckets: int,
        dim: int,
        order: int = 2,
        hashing: str = "linear",  # type: ignore[no-untyped-def]
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.buckets, self.dim, self.order, self.hashing = buckets, dim, order, hashing
        self.embedding = keras.layers.Embedding(buckets + 1, dim, name="bigram_embedding")

    def build(self, input_shape):  # type: ignore[no-untyped-def]
        self.embedding.build((None, None))

    def call(self, ids):  # type: ignore[no-untyped-def]
        ids = keras.ops.cast(ids, "int64")
        steps = keras.ops.shape(ids)[1]
        total, count = 0.0, 0.0
        for n in range(2, self.order + 1):
            hashed, valid = None, None
            for k in range(n):
                part = ids[:, k : steps - (n - 1 - k)]
                hashed = part if hashed is None else hash_step(hashed, part, self.hashing)
                valid = part > 0 if valid is None else keras.ops.logical_and(valid, part > 0)
            vectors = self.embedding(keras.ops.where(valid, hashed % self.buckets + 1, 0))
            weights = keras.ops.expand_dims(keras.ops.cast(valid, vectors.dtype), -1)
            total = total + keras.ops.sum(vectors * weights, axis=1)
            count = count + keras.ops.sum(weights, axis=1)
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

    Applied to the staged n-gram classifier's logits while the LSTM trains: on the texts where the
    classifier is dropped the LSTM must decide alone, so it learns the task itself and not only the
    remainder of a classifier that has already memorized the training texts.
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


# While the LSTM trains, the n-gram classifier's logits are dropped for this share of the texts.
NGRAM_BRANCH_DROPOUT = 0.5

# The layers of the staged n-gram classifier (``ngram_mode="staged"``), trained before the LSTM.
NGRAM_LAYERS = frozenset({"ngram_embedding", "ngrams", "ngram_output"})


def build_model(config: Config, vocab_size: int, n_classes: int) -> keras.Model:
    """Builds and compiles the classifier the config describes.

    The input is ``(batch, steps)`` int ids of any length, so batches can be padded to their own length.
    Layer names are fixed (``embedding``, ``rnn_0``..., ``hidden``, ``output``, ``ngram_*``):
    :func:`export_weights` and the NumPy forward pass rely on them.

    With ``ngram_mode="staged"`` the output is ``softmax(ngram_logits + lstm_logits)``: a linear classifier
    over the mean of token and n-gram embeddings, plus the LSTM's logits, whose layer starts at zero so
    that the LSTM stage begins exactly where the n-gram stage ended (see :func:`stage_model`).
    """
    keras.utils.set_random_seed(config.seed)
    inputs = keras.Input(shape=(None,), dtype="int32", name="ids")
    embedded = keras.layers.Embedding(vocab_size, config.embedding_dim, mask_zero=config.mask, name="embedding")(inputs)
    x = embedded
    if config.spatial_dropout:
        x = keras.layers.SpatialDropout1D(config.spatial_dropout)(x)
    for i, units in enumerate(config.units):
        last = i == len(config.units) - 1
        x = _recurrent(config, units, return_sequences=not last or config.pooling != "last", name=f"rnn_{i}")(x)
        if config.dropout and not last:
            x = keras.layers.Dropout(config.dropout)(x)
    x = _pool(config.pooling, x)
    if config.ngram_buckets and not config.staged_ngrams:
        # Bag of words and of word bigrams beside the LSTM: strong on topic-like tasks and small data.
        words = keras.layers.GlobalAveragePooling1D(name="pool_words")(embedded, mask=inputs != 0)
        bigrams = BigramBag(
            config.ngram_buckets, config.ngram_dim, config.ngram_order, config.ngram_hash, name="bigrams"
        )(inputs)
        x = keras.layers.Concatenate(name="features")([x, words, bigrams])
    if config.dropout:
        x = keras.layers.Dropout(config.dropout)(x)
    if config.dense_units:
        x = keras.layers.Dense(config.dense_units, activation=config.dense_activation, name="hidden")(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout)(x)
    if config.staged_ngrams:
        logits = keras.layers.Dense(n_classes, kernel_initializer="zeros", name="output")(x)
        outputs = keras.layers.Activation("softmax", name="probabilities")(
            keras.layers.Add(name="logits")(
                [
                    BranchDropout(NGRAM_BRANCH_DROPOUT, config.seed, name="ngram_branch_dropout")(
                        _ngram_logits(config, inputs, vocab_size, n_classes)
                    ),
                    logits,
                ]
            )
        )
    else:
        outputs = keras.layers.Dense(n_classes, activation="softmax", name="output")(x)
    model = keras.Model(inputs, outputs, name="lstmcli")
    _compile(model, config)
    return model


def _ngram_logits(config: Config, inputs: keras.KerasTensor, vocab_size: int, n_classes: int) -> keras.KerasTensor:
    """The staged n-gram classifier's logits: mean token embedding and mean n-gram embedding, then linear."""
    tokens = keras.layers.Embedding(vocab_size, config.embedding_dim, name="ngram_embedding")(inputs)
    words = keras.layers.GlobalAveragePooling1D(name="ngram_words")(tokens, mask=inputs != 0)
    ngrams = BigramBag(config.ngram_buckets, config.ngram_dim, config.ngram_order, config.ngram_hash, name="ngrams")(
        inputs
    )
    bag = keras.layers.Concatenate(name="ngram_features")([words, ngrams])
    if config.dropout:
        bag = keras.layers.Dropout(config.dropout, name="ngram_dropout")(bag)
    return keras.layers.Dense(n_classes, name="ngram_output")(bag)


def _compile(model: keras.Model, config: Config) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def stage_model(model: keras.Model, config: Config, stage: str) -> keras.Model:
    """Readies a staged model for one stage and returns the model to fit, compiled afresh.

    ``ngrams``: only the n-gram classifier trains, and alone (the LSTM's logits are still zero, so it is
    the whole model's output, at a fraction of the cost). ``lstm``: the n-gram classifier is frozen and
    the LSTM learns what it leaves.
    """
    for layer in model.layers:
        if layer.weights:
            layer.trainable = (layer.name in NGRAM_LAYERS) == (stage == "ngrams")
    target = model
    if stage == "ngrams":
        probabilities = keras.layers.Activation("softmax")(model.get_layer("ngram_output").output)
        target = keras.Model(model.inputs, probabilities, name="lstmcli_ngrams")
    _compile(target, config)
    return target


def _recurrent(config: Config, units: int, return_sequences: bool, name: str) -> keras.layers.Layer:
    cell = keras.layers.LSTM if config.cell == "lstm" else keras.layers.GRU
    if not config.bidirectional:
        return cell(units, activation=config.activation, return_sequences=return_sequences, name=name)
    inner = cell(units, activation=config.activation, return_sequences=return_sequences)
    return keras.layers.Bidirectional(inner, name=name)


def _pool(pooling: str, x: keras.KerasTensor) -> keras.KerasTensor:
    if pooling == "last":
        return x
    if pooling == "max":
        return MaskedGlobalMaxPooling1D(name="pool_max")(x)
    if pooling == "mean":
        return keras.layers.GlobalAveragePooling1D(name="pool_mean")(x)
    return keras.layers.Concatenate(name="pool")(
        [MaskedGlobalMaxPooling1D(name="pool_max")(x), keras.layers.GlobalAveragePooling1D(name="pool_mean")(x)]
    )


def export_weights(model: keras.Model, config: Config) -> dict[str, np.ndarray]:
    """Copies the weights the NumPy forward pass needs into a flat dict of float32 arrays."""
    out = {"embedding": model.get_layer("embedding").get_weights()[0]}
    for i in range(len(config.units)):
        layer = model.get_layer(f"rnn_{i}")
        directions = (
            [("fw", layer.forward_layer), ("bw", layer.backward_layer)] if config.bidirectional else [("fw", layer)]
        )
        for tag, rnn in directions:
            kernel, recurrent, bias = rnn.get_weights()
            out.update(
                {f"rnn_{i}_{tag}_kernel": kernel, f"rnn_{i}_{tag}_recurrent": recurrent, f"rnn_{i}_{tag}_bias": bias}
            )
    if config.staged_ngrams:
        out["ngram_embedding"] = model.get_layer("ngram_embedding").get_weights()[0]
        out["ngram_table"] = model.get_layer("ngrams").embedding.get_weights()[0]
        out["ngram_output_kernel"], out["ngram_output_bias"] = model.get_layer("ngram_output").get_weights()
    elif config.ngram_buckets:
        out["bigram_embedding"] = model.get_layer("bigrams").embedding.get_weights()[0]
    if config.dense_units:
        out["hidden_kernel"], out["hidden_bias"] = model.get_layer("hidden").get_weights()
    out["output_kernel"], out["output_bias"] = model.get_layer("output").get_weights()
    return {name: np.asarray(value, dtype=np.float32) for name, value in out.items()}


def load_model(path: str) -> keras.Model:
    """Loads a saved model without running code from the file (``safe_mode``)."""
    return keras.saving.load_model(path, safe_mode=True, compile=True)
