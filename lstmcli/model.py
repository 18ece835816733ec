"""The Keras network: building it from a config, and exporting its weights for the NumPy forward pass.

This module imports TensorFlow/Keras at the top; import it only from code that trains or checks the model.
"""

from __future__ import annotations

import numpy as np

from lstmcli.backend import keras
from lstmcli.config import Config
from lstmcli.inference import HASH_MULTIPLIER


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
    """Mean of hashed word-bigram embeddings over a text: the fastText-style branch beside the LSTM.

    Input: ids ``(batch, steps)``, 0 padding. Bigram ids are hashed from neighbouring token ids exactly as
    :func:`lstmcli.inference.bigram_ids` does, so the NumPy path reproduces the branch.
    """

    def __init__(self, buckets: int, dim: int, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.buckets, self.dim = buckets, dim
        self.embedding = keras.layers.Embedding(buckets + 1, dim, name="bigram_embedding")

    def build(self, input_shape):  # type: ignore[no-untyped-def]
        self.embedding.build((None, None))

    def call(self, ids):  # type: ignore[no-untyped-def]
        left = keras.ops.cast(ids[:, :-1], "int64")
        right = keras.ops.cast(ids[:, 1:], "int64")
        valid = keras.ops.logical_and(left > 0, right > 0)
        hashed = (left * HASH_MULTIPLIER + right) % self.buckets + 1
        bigrams = keras.ops.where(valid, hashed, 0)
        vectors = self.embedding(bigrams)
        weights = keras.ops.expand_dims(keras.ops.cast(valid, vectors.dtype), -1)
        total = keras.ops.sum(vectors * weights, axis=1)
        return total / keras.ops.maximum(keras.ops.sum(weights, axis=1), 1.0)

    def compute_output_shape(self, input_shape):  # type: ignore[no-untyped-def]
        return (input_shape[0], self.dim)

    def get_config(self):  # type: ignore[no-untyped-def]
        return {**super().get_config(), "buckets": self.buckets, "dim": self.dim}


def build_model(config: Config, vocab_size: int, n_classes: int) -> keras.Model:
    """Builds and compiles the classifier the config describes.

    The input is ``(batch, steps)`` int ids of any length, so batches can be padded to their own length.
    Layer names are fixed (``embedding``, ``rnn_0``..., ``hidden``, ``output``): :func:`export_weights`
    and the NumPy forward pass rely on them.
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
    if config.ngram_buckets:
        # Bag of words and of word bigrams beside the LSTM: strong on topic-like tasks and small data.
        words = keras.layers.GlobalAveragePooling1D(name="pool_words")(embedded, mask=inputs != 0)
        bigrams = BigramBag(config.ngram_buckets, config.ngram_dim, name="bigrams")(inputs)
        x = keras.layers.Concatenate(name="features")([x, words, bigrams])
    if config.dropout:
        x = keras.layers.Dropout(config.dropout)(x)
    if config.dense_units:
        x = keras.layers.Dense(config.dense_units, activation=config.dense_activation, name="hidden")(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="output")(x)
    model = keras.Model(inputs, outputs, name="lstmcli")
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


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
    if config.ngram_buckets:
        out["bigram_embedding"] = model.get_layer("bigrams").embedding.get_weights()[0]
    if config.dense_units:
        out["hidden_kernel"], out["hidden_bias"] = model.get_layer("hidden").get_weights()
    out["output_kernel"], out["output_bias"] = model.get_layer("output").get_weights()
    return {name: np.asarray(value, dtype=np.float32) for name, value in out.items()}


def load_model(path: str) -> keras.Model:
    """Loads a saved model without running code from the file (``safe_mode``)."""
    return keras.saving.load_model(path, safe_mode=True, compile=True)
