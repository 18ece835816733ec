"""The network's forward pass in NumPy, from the weights training exported.

Prediction and evaluation run here instead of in Keras: no TensorFlow import, so a cold
``echo text | lstmcli predict`` answers in well under a second. Tests hold it to Keras's probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lstmcli.config import Config

Weights = dict[str, np.ndarray]
HASH_MULTIPLIER = 1_000_003  # "linear" hash: ((a * HASH_MULTIPLIER + b) * HASH_MULTIPLIER + c) % buckets + 1
HASH_PRIME, HASH_MIXER = 2**31 - 1, 1_000_000_007  # "mixed" hash: every step mod a prime far above the buckets


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warnings for large |x|, same values as 1 / (1 + exp(-x)).
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": _sigmoid,
    "linear": lambda x: x,
}


def weight_names(config: Config) -> set[str]:
    """The arrays :func:`predict_proba` reads for a model built from ``config``."""
    names = {"embedding", "output_kernel", "output_bias"}
    directions = ("fw", "bw") if config.bidirectional else ("fw",)
    for i in range(len(config.units)):
        names |= {f"rnn_{i}_{d}_{part}" for d in directions for part in ("kernel", "recurrent", "bias")}
    if config.staged_ngrams:
        names |= {"ngram_embedding", "ngram_table", "ngram_output_kernel", "ngram_output_bias"}
    elif config.ngram_buckets:
        names.add("bigram_embedding")
    if config.dense_units:
        names |= {"hidden_kernel", "hidden_bias"}
    return names


def predict_proba(weights: Weights, config: Config, ids: np.ndarray) -> np.ndarray:
    """Class probabilities for padded ids (see :meth:`Network.proba`)."""
    return Network(weights, config).proba(ids)


class Network:
    """The trained network, ready to run: weights, config, and a cache of first-layer input projections.

    The first recurrent layer's input projection ``embedding @ kernel + bias`` depends on the token id only,
    so it is computed once per id seen and then looked up: most of the arithmetic of a forward pass.
    """

    def __init__(self, weights: Weights, config: Config) -> None:
        self.fused = config.cell == "lstm" and config.activation == "tanh"
        self.weights, self.config = (_prescaled(weights, config) if self.fused else weights), config
        self.directions = ("fw", "bw") if config.bidirectional else ("fw",)
        vocab = weights["embedding"].shape[0]
        self._tables = {
            d: np.zeros((vocab, weights[f"rnn_0_{d}_kernel"].shape[1]), np.float32) for d in self.directions
        }
        self._known = np.zeros(vocab, dtype=bool)
        # A staged run whose LSTM stage never beat the n-gram classifier publishes the LSTM's output layer as
        # it started, all zeros: its logits are exactly zero, so the recurrent layers need not run at all.
        self.lstm_silent = config.staged_ngrams and not (weights["output_kernel"].any() or weights["output_bias"].any())
        if config.staged_ngrams:
            # The classifier is linear in the mean token and mean n-gram embeddings, so each row of its tables
            # can carry its logits instead: the forward pass then gathers n_classes numbers per token, not 160.
            kernel = weights["ngram_output_kernel"]
            split = weights["ngram_embedding"].shape[1]
            self._token_logits = weights["ngram_embedding"] @ kernel[:split]
            self._ngram_logits = weights["ngram_table"] @ kernel[split:]

    def warm(self, ids: np.ndarray) -> None:
        """Computes the cached projections of every id in ``ids`` not seen before (none if the LSTM is silent)."""
        if self.lstm_silent:
            return
        new = np.unique(ids)
        new = new[~self._known[new]]
        if len(new):
            vectors = self.weights["embedding"][new]
            for d, table in self._tables.items():
                bias = self.weights[f"rnn_0_{d}_bias"]
                table[new] = vectors @ self.weights[f"rnn_0_{d}_kernel"] + (bias if bias.ndim == 1 else bias[0])
            self._known[new] = True

    def proba(self, ids: np.ndarray) -> np.ndarray:
        """Class probabilities for padded ids.

        Args:
            ids: int array ``(n, steps)``; 0 is padding.

        Returns:
            float32 array ``(n, n_classes)``, rows summing to 1.
        """
        config, weights = self.config, self.weights
        if self.lstm_silent:
            return _softmax(self.ngram_logits(ids))
        self.warm(ids)
        mask = ids != 0 if config.mask else np.ones(ids.shape, dtype=bool)
        x = np.empty((0,), dtype=np.float32)  # the previous layer's outputs; layer 0 reads the cached tables
        for i in range(len(config.units)):
            sequences = i < len(config.units) - 1 or config.pooling != "last"
            outputs = []
            for d in self.directions:
                projected = self._tables[d][ids] if i == 0 else _project(x, weights, f"rnn_{i}_{d}")
                outputs.append(
                    _rnn(
                        projected,
                        mask,
                        weights,
                        f"rnn_{i}_{d}",
                        config,
                        reverse=d == "bw",
                        sequences=sequences,
                        fused=self.fused,
                    )
                )
            x = np.concatenate(outputs, axis=-1) if len(outputs) > 1 else outputs[0]
        x = _pool(x, mask, config.pooling)
        if config.ngram_buckets and not config.staged_ngrams:
            x = np.concatenate([x, _bag(ids, weights["embedding"], weights["bigram_embedding"], config)], axis=-1)
        if config.dense_units:
            x = ACTIVATIONS[config.dense_activation](x @ weights["hidden_kernel"] + weights["hidden_bias"])
        logits = x @ weights["output_kernel"] + weights["output_bias"]
        if config.staged_ngrams:
            logits = logits + self.ngram_logits(ids)
        return _softmax(logits)

    def ngram_logits(self, ids: np.ndarray) -> np.ndarray:
        """The staged n-gram classifier's logits ``(n, n_classes)`` for padded ids ``(n, steps)``."""
        words = _pool(self._token_logits[ids], ids != 0, "mean")
        return words + _ngram_bag(ids, self._ngram_logits, self.config) + self.weights["ngram_output_bias"]


def _prescaled(weights: Weights, config: Config) -> Weights:
    """LSTM weights with the sigmoid gates' columns halved, so one tanh serves every gate.

    sigmoid(x) = (tanh(x / 2) + 1) / 2: after halving the input, forget and output columns, a single
    ``tanh`` over all four gates gives the candidate directly and the three sigmoids by a shift.
    """
    scaled = dict(weights)
    for i in range(len(config.units)):
        for d in ("fw", "bw"):
            for part in ("kernel", "recurrent", "bias"):
                name = f"rnn_{i}_{d}_{part}"
                if name in weights:
                    units = weights[name].shape[-1] // 4
                    scale = np.full(4 * units, 0.5, dtype=np.float32)
                    scale[2 * units : 3 * units] = 1.0  # the candidate keeps its tanh
                    scaled[name] = weights[name] * scale
    return scaled


def _project(x: np.ndarray, weights: Weights, name: str) -> np.ndarray:
    bias = weights[f"{name}_bias"]
    return x @ weights[f"{name}_kernel"] + (bias if bias.ndim == 1 else bias[0])


def hash_step(hashed: Any, part: Any, hashing: str) -> Any:
    """One step of the n-gram hash: the hash of the tokens so far extended by the next token's id.

    Written with ``+``, ``*`` and ``%`` only, so the same code hashes NumPy arrays and int64 tensors. "linear"
    (runs before the setting existed) reduces to ``3 * a + b`` modulo 200,000 buckets: neighbouring id pairs
    collide, and Chinese bigrams shared 12 buckets each. "mixed" works modulo a prime far above the bucket
    count and squares each step's result, which breaks the linear structure (values stay below 2**62):
    n-grams spread over the buckets as a random hash would spread them.
    """
    if hashing == "linear":
        return hashed * HASH_MULTIPLIER + part
    mixed = ((hashed + 1) * HASH_MIXER + part) % HASH_PRIME
    return mixed * mixed % HASH_PRIME


def ngram_ids(ids: np.ndarray, buckets: int, n: int, hashing: str) -> np.ndarray:
    """Hashed ids ``(rows, steps - n + 1)`` of each run of ``n`` neighbouring tokens (see :func:`hash_step`);
    0 where one is padding."""
    steps = ids.shape[1]
    parts = [ids[:, k : steps - (n - 1 - k)].astype(np.int64) for k in range(n)]
    hashed, valid = parts[0], parts[0] > 0
    for part in parts[1:]:
        hashed = hash_step(hashed, part, hashing)
        valid &= part > 0
    return np.where(valid, hashed % buckets + 1, 0)


def _bag(ids: np.ndarray, tokens: np.ndarray, table: np.ndarray, config: Config) -> np.ndarray:
    """Mean token embedding beside the mean n-gram embedding, ``(n, token dim + n-gram dim)``."""
    words = _pool(tokens[ids], ids != 0, "mean")
    return np.concatenate([words, _ngram_bag(ids, table, config)], axis=-1)


def _ngram_bag(ids: np.ndarray, table: np.ndarray, config: Config) -> np.ndarray:
    """Mean embedding of every n-gram, n = 2..order (as :class:`lstmcli.nn.model.BigramBag`)."""
    total = np.zeros((len(ids), table.shape[1]), dtype=np.float32)
    count = np.zeros((len(ids), 1), dtype=np.float32)
    for n in range(2, config.ngram_order + 1):
        if ids.shape[1] < n:
            continue
        grams = ngram_ids(ids, config.ngram_buckets, n, config.ngram_hash)
        valid = grams > 0
        total += (table[grams] * valid[:, :, None]).sum(axis=1)
        count += valid.sum(axis=1, keepdims=True)
    return (total / np.maximum(count, 1.0)).astype(np.float32)


def _rnn(
    projected: np.ndarray,
    mask: np.ndarray,
    weights: Weights,
    name: str,
    config: Config,
    *,
    reverse: bool,
    sequences: bool,
    fused: bool = False,
) -> np.ndarray:
    """Runs one recurrent layer over its projected input ``(n, steps, gates)``; padded steps keep the state.

    Returns:
        ``(n, steps, units)`` if ``sequences`` (zeros at padded steps) else the final state ``(n, units)``.
    """
    recurrent, bias = weights[f"{name}_recurrent"], weights[f"{name}_bias"]
    step = _fused_lstm_step if fused else _lstm_step if config.cell == "lstm" else _gru_step
    act = ACTIVATIONS[config.activation]
    n, steps, _ = projected.shape
    units = recurrent.shape[0]
    h = np.zeros((n, units), dtype=np.float32)
    c = np.zeros((n, units), dtype=np.float32)
    out = np.zeros((n, steps, units), dtype=np.float32) if sequences else None
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    every_step_valid = bool(mask.all())
    for t in order:
        h_new, c_new = step(projected[:, t], h, c, recurrent, bias, act)
        if every_step_valid:
            h, c = h_new, c_new
            if out is not None:
                out[:, t] = h_new
            continue
        valid = mask[:, t : t + 1]
        h = np.where(valid, h_new, h)
        c = np.where(valid, c_new, c)
        if out is not None:
            out[:, t] = np.where(valid, h_new, 0.0)
    return out if out is not None else h


def _lstm_step(
    z_in: np.ndarray,
    h: np.ndarray,
    c: np.ndarray,
    recurrent: np.ndarray,
    bias: np.ndarray,
    act: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    z = h @ recurrent
    z += z_in
    i, f, g, o = np.split(z, 4, axis=-1)  # Keras's gate order
    c_new = _sigmoid(f) * c + _sigmoid(i) * act(g)
    return _sigmoid(o) * act(c_new), c_new


def _fused_lstm_step(
    z_in: np.ndarray,
    h: np.ndarray,
    c: np.ndarray,
    recurrent: np.ndarray,
    bias: np.ndarray,
    act: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    # Weights from _prescaled: tanh of every gate at once, sigmoid(x) = (tanh(x / 2) + 1) / 2.
    z = h @ recurrent
    z += z_in
    np.tanh(z, out=z)
    i, f, g, o = np.split(z, 4, axis=-1)
    c_new = (f + 1.0) * c
    c_new += (i + 1.0) * g
    c_new *= 0.5
    h_new = np.tanh(c_new)
    h_new *= o + 1.0
    h_new *= 0.5
    return h_new, c_new


def _gru_step(
    z_in: np.ndarray,
    h: np.ndarray,
    c: np.ndarray,
    recurrent: np.ndarray,
    bias: np.ndarray,
    act: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    # Keras's default GRU (reset_after=True): bias is (2, 3 * units), input and recurrent parts.
    x_z, x_r, x_h = np.split(z_in, 3, axis=-1)
    r_z, r_r, r_h = np.split(h @ recurrent + bias[1], 3, axis=-1)
    update, reset = _sigmoid(x_z + r_z), _sigmoid(x_r + r_r)
    candidate = act(x_h + reset * r_h)
    return update * h + (1.0 - update) * candidate, c


def _pool(x: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    if pooling == "last":
        return x
    valid = mask[:, :, None]
    pooled = []
    if pooling in ("max", "maxmean"):
        best = np.where(valid, x, -1e9).max(axis=1)
        pooled.append(np.where(valid.any(axis=1), best, 0.0))
    if pooling in ("mean", "maxmean"):
        pooled.append((x * valid).sum(axis=1) / valid.sum(axis=1))
    return np.concatenate(pooled, axis=-1).astype(np.float32)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)
