"""The network's forward pass in NumPy, from the weights training exported.

Prediction and evaluation run here instead of in Keras: no TensorFlow import, so a cold
``echo text | lstmcli predict`` answers in well under a second. Tests hold it to Keras's probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from lstmcli.config import Config
from lstmcli.nn import spec
from lstmcli.text.batching import to_front

Weights = dict[str, np.ndarray]
HASH_MULTIPLIER = 1_000_003  # "linear" hash: ((a * HASH_MULTIPLIER + b) * HASH_MULTIPLIER + c) % buckets + 1
HASH_PRIME, HASH_MIXER = 2**31 - 1, 1_000_000_007  # "mixed" hash: every step mod a prime far above the buckets


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warnings for large |x|, same values as 1 / (1 + exp(-x)).
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": _sigmoid,
    "linear": lambda x: x,
    "softmax": _softmax,  # the output layer's
}


def weight_names(config: Config) -> set[str]:
    """The arrays :func:`predict_proba` reads for a model built from ``config``: the spec's weights."""
    return set(spec.network_spec(config).weight_names)


def predict_proba(weights: Weights, config: Config, ids: np.ndarray) -> np.ndarray:
    """Class probabilities for padded ids (see :meth:`Network.proba`)."""
    return Network(weights, config).proba(ids)


class Network:
    """The trained network, ready to run: weights, config, and a cache of first-layer input projections.

    The forward pass walks the blocks of :func:`lstmcli.nn.spec.network_spec`, as the Keras builder does.
    The first recurrent layer's input projection ``embedding @ kernel + bias`` depends on the token id only,
    so it is computed once per id seen and then looked up: most of the arithmetic of a forward pass.
    """

    def __init__(self, weights: Weights, config: Config) -> None:
        self.config, self.spec = config, spec.network_spec(config)
        recurrent = self.spec.recurrent
        self.fused = all(block.cell == "lstm" and block.activation == "tanh" for block in recurrent)
        self.weights = _prescaled(weights, recurrent) if self.fused else weights
        self.first = recurrent[0]
        vocab = weights[self.spec.embedding.key].shape[0]
        # Rows for the ids seen so far only, in the order they came: a table for the whole vocabulary is
        # vocab x 4 x units floats a direction (130 MB for 63,000 ids and a BiLSTM(64)), and the huge pages
        # NumPy asks for make a few scattered ids touch all of it.
        self.tables = {
            d: np.empty((0, weights[self.first.key(d, "kernel")].shape[1]), np.float32) for d in self.first.directions
        }
        self.rows = np.full(vocab, -1, dtype=np.int32)  # each id's row in the tables; -1: not computed yet
        self._filled = 0
        output, self.ngrams = self.spec.output, self.spec.ngram_classifier
        # A staged run whose LSTM stage never beat the n-gram classifier publishes the LSTM's output layer as
        # it started, all zeros: its logits are exactly zero, so the recurrent layers need not run at all.
        self.lstm_silent = self.ngrams is not None and not (weights[output.kernel].any() or weights[output.bias].any())
        if self.ngrams is not None:
            # The classifier is linear in the mean token and mean n-gram embeddings, so each row of its tables
            # can carry its logits instead: the forward pass then gathers n_classes numbers per token, not 160.
            bag, kernel = self.ngrams.bag, weights[self.ngrams.output.kernel]
            split = weights[bag.tokens].shape[1]
            self._token_logits = weights[bag.tokens] @ kernel[:split]
            self._ngram_logits = weights[bag.table] @ kernel[split:]
            # Row 0 is padding's, which the means leave out: held at zero, the sums need no mask (the same sums).
            self._token_logits[0] = self._ngram_logits[0] = 0.0

    def warm(self, ids: np.ndarray) -> None:
        """Computes the cached projections of every id in ``ids`` not seen before (none if the LSTM is silent)."""
        if self.lstm_silent:
            return
        seen = np.zeros(len(self.rows), dtype=bool)  # not np.unique: it imports numpy.ma, a tenth of a cold start
        seen[ids.ravel()] = True
        new = np.flatnonzero(seen & (self.rows < 0))
        if not len(new):
            return
        start, end = self._filled, self._filled + len(new)
        vectors = self.weights[self.spec.embedding.key][new]
        for d, table in self.tables.items():
            if end > len(table):  # room for twice as many, so that a stream of new ids copies rarely
                grown = np.empty((min(max(2 * end, 1024), len(self.rows)), table.shape[1]), np.float32)
                grown[:start] = table[:start]
                self.tables[d] = table = grown
            table[start:end] = _project(vectors, self.weights, self.first, d)
        self.rows[new] = np.arange(start, end, dtype=np.int32)
        self._filled = end

    def proba(self, ids: np.ndarray) -> np.ndarray:
        """Class probabilities for padded ids.

        Args:
            ids: int array ``(n, steps)``; 0 is padding.

        Returns:
            float32 array ``(n, n_classes)``, rows summing to 1 (a multi-label run's: each in [0, 1]).
        """
        if self.lstm_silent:
            return ACTIVATIONS[self.spec.ngram_classifier.activation](self.ngram_logits(ids))  # type: ignore[union-attr]
        self.warm(ids)
        state = _State(ids, self.first.masked)
        for block in self.spec.blocks:
            NUMPY[block](self, block, state)
        return state.x

    def cell(self, layer: spec.Recurrent, direction: str) -> _Cell:
        """One direction of a recurrent layer, ready for :func:`_rnn`."""
        step = _fused_lstm_step if self.fused else _lstm_step if layer.cell == "lstm" else _gru_step
        recurrent, bias = (self.weights[layer.key(direction, part)] for part in ("recurrent", "bias"))
        return _Cell(step, recurrent, bias, ACTIVATIONS[layer.activation])

    def part_logits(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A staged model's two parts apart: the n-gram classifier's logits and the LSTM's, each ``(n, n_classes)``;
        the model's probabilities are ``softmax`` of their sum."""
        self.warm(ids)
        state = _State(ids, self.first.masked)
        for block in self.spec.blocks[:-1]:  # all but the NgramClassifier, which adds its logits and normalises
            NUMPY[block](self, block, state)
        return self.ngram_logits(ids), state.x

    def ngram_logits(self, ids: np.ndarray) -> np.ndarray:
        """The staged n-gram classifier's logits ``(n, n_classes)`` for padded ids ``(n, steps)``."""
        assert self.ngrams is not None, "only a staged n-gram model has an n-gram classifier"
        # pool(..., "mean") without its mask: row 0 is zero (see __init__), so the sums are the same
        words = (_step_sums(self._token_logits, ids) / (ids != 0).sum(axis=1, keepdims=True)).astype(np.float32)
        return words + ngram_bag(ids, self._ngram_logits, self.ngrams.bag) + self.weights[self.ngrams.output.bias]


class _State:
    """What a block reads: the ids, the previous block's output ``x``, and the padding mask.

    The recurrent trunk reads its own rows, ``trunk_ids`` ``(steps, n)``, time-major: a masked network's rows
    have their tokens moved to the front (where its layers skip padding does not change what they compute)
    and are sorted from the longest, so that the rows still running at any step are the first ``active[t]``
    (no step computes padding, none needs a mask). ``order`` says which row each trunk row is; the trunk's
    output goes back to the rows' order when it is pooled.
    """

    def __init__(self, ids: np.ndarray, masked: bool) -> None:
        # Until the first recurrent layer, x is still the ids: that layer looks its input up by id.
        self.ids, self.x = ids, ids
        self._valid = ids != 0
        steps = ids.shape[1]
        if masked:
            packed, lengths = to_front(ids)
            self.order: np.ndarray | None = np.argsort(-lengths, kind="stable")
            self.trunk_ids = packed[self.order].T
            self.lengths = lengths[self.order]
            steps = packed.shape[1]
        else:
            self.order, self.trunk_ids, self.lengths = None, ids.T, np.full(len(ids), steps)
        # Rows running at step t: lengths are sorted from the longest, so a count.
        self.active = np.count_nonzero(self.lengths[None, :] > np.arange(steps)[:, None], axis=1)

    def mask(self, masked: bool) -> np.ndarray:
        """``(n, steps)`` bool: the steps a masked block reads (all of them for an unmasked one)."""
        return self._valid if masked else np.ones(self.ids.shape, dtype=bool)

    def trunk_mask(self) -> np.ndarray:
        """``(n, steps)`` bool: the steps of the trunk's rows that hold a token."""
        return np.arange(self.trunk_ids.shape[0])[None, :] < self.lengths[:, None]

    def in_row_order(self, x: np.ndarray) -> np.ndarray:
        """The trunk's output ``(n, ...)`` in the order of the rows."""
        if self.order is None:
            return x
        out = np.empty_like(x)
        out[self.order] = x
        return out


# Each runner computes one kind of spec block on ``state.x``; ``model.KERAS`` builds them.
NUMPY = spec.Engine("NumPy")


@NUMPY.implements(spec.Embedding, spec.SpatialDropout, spec.Dropout)
def _skip(network: Network, block: spec.Block, state: _State) -> None:
    """Embedding (see :class:`_State`) and dropout: nothing to do at inference."""


@NUMPY.implements(spec.Recurrent)
def _recurrent(network: Network, block: spec.Recurrent, state: _State) -> None:
    """On the trunk's rows (see :class:`_State`); final states go back to the rows' order at once."""
    outputs = []
    rows = network.rows[state.trunk_ids] if block is network.first else None  # (steps, n)
    for d in block.directions:
        # The first layer's projections are gathered a step at a time: gathered at once for long texts they were
        # the pass's largest temporary, (steps, n, gates) a direction.
        projected: _Steps = (
            _Gathered(network.tables[d], rows)
            if rows is not None
            else _project(state.x, network.weights, block, d).transpose(1, 0, 2)
        )
        cell = network.cell(block, d)
        outputs.append(_rnn(projected, state.active, cell, reverse=d == "bw", sequences=block.return_sequences))
    x = np.concatenate(outputs, axis=-1) if len(outputs) > 1 else outputs[0]
    state.x = x if block.return_sequences else state.in_row_order(x)


@NUMPY.implements(spec.Pooling)
def _pooling(network: Network, block: spec.Pooling, state: _State) -> None:
    """Pools the trunk's sequences, then returns them to the rows' order."""
    mask = state.trunk_mask() if block.masked else state.mask(False)[:, : state.trunk_ids.shape[0]]
    state.x = state.in_row_order(pool(state.x, mask, block.mode))


@NUMPY.implements(spec.NgramBag)
def _ngram_bag(network: Network, block: spec.NgramBag, state: _State) -> None:
    features = bag(state.ids, network.weights[block.tokens], network.weights[block.table], block)
    state.x = np.concatenate([state.x, features], axis=-1) if block.beside_trunk else features


@NUMPY.implements(spec.Dense)
def _dense(network: Network, block: spec.Dense, state: _State) -> None:
    weights = network.weights
    state.x = ACTIVATIONS[block.activation](state.x @ weights[block.kernel] + weights[block.bias])


@NUMPY.implements(spec.NgramClassifier)
def _ngram_classifier(network: Network, block: spec.NgramClassifier, state: _State) -> None:
    state.x = ACTIVATIONS[block.activation](state.x + network.ngram_logits(state.ids)).astype(np.float32)


def _prescaled(weights: Weights, layers: tuple[spec.Recurrent, ...]) -> Weights:
    """LSTM weights with the sigmoid gates' columns halved, so one tanh serves every gate.

    sigmoid(x) = (tanh(x / 2) + 1) / 2: after halving the input, forget and output columns, a single
    ``tanh`` over all four gates gives the candidate directly and the three sigmoids by a shift.
    """
    scaled = dict(weights)
    for layer in layers:
        for d in layer.directions:
            for part in ("kernel", "recurrent", "bias"):
                name = layer.key(d, part)
                scale = np.full(4 * layer.units, 0.5, dtype=np.float32)
                scale[2 * layer.units : 3 * layer.units] = 1.0  # the candidate keeps its tanh
                scaled[name] = weights[name] * scale
    return scaled


def _project(x: np.ndarray, weights: Weights, layer: spec.Recurrent, direction: str) -> np.ndarray:
    """A recurrent layer's input projection ``x @ kernel + bias`` (a GRU's bias is its input half)."""
    bias = weights[layer.key(direction, "bias")]
    return x @ weights[layer.key(direction, "kernel")] + (bias if bias.ndim == 1 else bias[0])


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


def hashed_ngrams(ids: Any, buckets: int, n: int, hashing: str, ops: Any = np) -> Any:
    """Hashed ids ``(rows, steps - n + 1)`` of each run of ``n`` neighbouring int64 ids; 0 where one is padding.

    ``ops`` is NumPy or ``keras.ops``: the Keras ``BigramBag`` hashes with this very code.
    """
    steps = ops.shape(ids)[1]
    hashed = ids[:, : steps - (n - 1)]
    valid = hashed > 0
    for k in range(1, n):
        part = ids[:, k : steps - (n - 1 - k)]
        hashed = hash_step(hashed, part, hashing)
        valid = ops.logical_and(valid, part > 0)
    return ops.where(valid, hashed % buckets + 1, 0)


def ngram_ids(ids: np.ndarray, buckets: int, n: int, hashing: str) -> np.ndarray:
    """Hashed ids ``(rows, steps - n + 1)`` of each run of ``n`` neighbouring tokens (see :func:`hash_step`);
    0 where one is padding."""
    return hashed_ngrams(np.asarray(ids).astype(np.int64), buckets, n, hashing)  # type: ignore[no-any-return]


def bag(ids: np.ndarray, tokens: np.ndarray, table: np.ndarray, block: spec.NgramBag) -> np.ndarray:
    """Mean token embedding beside the mean n-gram embedding, ``(n, token dim + n-gram dim)``."""
    words = pool(tokens[ids], ids != 0, "mean")
    return np.concatenate([words, ngram_bag(ids, table, block)], axis=-1)


def ngram_bag(ids: np.ndarray, table: np.ndarray, block: spec.NgramBag) -> np.ndarray:
    """Mean embedding of every n-gram, n = 2..order (as :class:`lstmcli.nn.model.BigramBag`).

    Args:
        ids: int ``(n, steps)``, 0 padding.
        table: ``(buckets + 1, dim)``, row 0 for padding.
        block: the bag's spec (buckets, order, hashing).

    Returns:
        float32 ``(n, dim)``; zeros for a text without n-grams.
    """
    total = np.zeros((len(ids), table.shape[1]), dtype=np.float32)
    count = np.zeros((len(ids), 1), dtype=np.float32)
    padding_zero = not table[0].any()  # then the grams holding padding, which gather row 0, add nothing unmasked
    wide = np.asarray(ids).astype(np.int64)  # as ngram_ids hashes them, converted once for every n
    for n in range(2, min(block.order, wide.shape[1]) + 1):
        grams = hashed_ngrams(wide, block.buckets, n, block.hashing)
        valid = grams > 0
        total += _step_sums(table, grams) if padding_zero else (table[grams] * valid[:, :, None]).sum(axis=1)
        count += valid.sum(axis=1, keepdims=True)
    return (total / np.maximum(count, 1.0)).astype(np.float32)


def _step_sums(table: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``table[ids].sum(axis=1)``, ``(n, dim)``: ``np.take`` gathers the rows several times faster than indexing,
    and ``einsum`` adds them over the steps, in the same order, faster than ``sum`` over a middle axis."""
    return np.einsum("nsd->nd", np.take(table, ids, axis=0))  # type: ignore[no-any-return]


class _Gathered:
    """A projected input ``(steps, n, gates)`` read as ``table[rows]``, each step gathered when it is read."""

    def __init__(self, table: np.ndarray, rows: np.ndarray) -> None:
        self.table = table  # (ids seen, gates)
        self.rows = rows  # (steps, n): each token's row in the table

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.rows.shape, self.table.shape[1])  # type: ignore[return-value]

    def __getitem__(self, index: tuple[int, slice]) -> np.ndarray:
        return self.table[self.rows[index]]  # type: ignore[no-any-return]


_Steps = np.ndarray | _Gathered  # what _rnn reads ``[t, :k]`` of: a projected input (steps, n, gates)


class _Cell(NamedTuple):
    """One direction of a recurrent layer: its step function, recurrent kernel, bias and output activation."""

    step: Callable[[np.ndarray, np.ndarray, np.ndarray, _Cell], tuple[np.ndarray, np.ndarray]]
    recurrent: np.ndarray
    bias: np.ndarray
    act: Callable[[np.ndarray], np.ndarray]


def _rnn(projected: _Steps, active: np.ndarray, cell: _Cell, *, reverse: bool, sequences: bool) -> np.ndarray:
    """Runs one recurrent layer over its projected input ``(steps, n, gates)``, time-major.

    Args:
        active: ``(steps,)`` rows that hold a token at each step: always the first ones (rows sorted from the
            longest, tokens at the front). The others keep their state: a row's last one going forwards, zeros
            until its last token going backwards, as a masked layer keeps it over padding.

    Returns:
        ``(n, steps, units)`` if ``sequences`` (zeros past a row's tokens) else the final state ``(n, units)``.
    """
    steps, n, _ = projected.shape
    units = cell.recurrent.shape[0]
    h = np.zeros((n, units), dtype=np.float32)
    c = np.zeros((n, units), dtype=np.float32)
    out = np.zeros((n, steps, units), dtype=np.float32) if sequences else None
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        k = int(active[t])
        if k == n:
            h, c = cell.step(projected[t, :n], h, c, cell)
        elif k:
            h[:k], c[:k] = cell.step(projected[t, :k], h[:k], c[:k], cell)
        if out is not None:
            out[:k, t] = h[:k]
    return out if out is not None else h


def _gates(z: np.ndarray, parts: int) -> list[np.ndarray]:
    """``z`` ``(n, parts * units)`` as ``parts`` views of ``units`` columns each: ``np.split``'s, without its
    per-call bookkeeping (7% of a recurrent pass's time, called once a step)."""
    units = z.shape[-1] // parts
    return [z[:, k * units : (k + 1) * units] for k in range(parts)]


def _lstm_step(z_in: np.ndarray, h: np.ndarray, c: np.ndarray, cell: _Cell) -> tuple[np.ndarray, np.ndarray]:
    z = h @ cell.recurrent
    z += z_in
    i, f, g, o = _gates(z, 4)  # Keras's gate order
    c_new = _sigmoid(f) * c + _sigmoid(i) * cell.act(g)
    return _sigmoid(o) * cell.act(c_new), c_new


def _fused_lstm_step(z_in: np.ndarray, h: np.ndarray, c: np.ndarray, cell: _Cell) -> tuple[np.ndarray, np.ndarray]:
    # Weights from _prescaled: tanh of every gate at once, sigmoid(x) = (tanh(x / 2) + 1) / 2.
    z = h @ cell.recurrent
    z += z_in
    np.tanh(z, out=z)
    i, f, g, o = _gates(z, 4)
    c_new = (f + 1.0) * c
    c_new += (i + 1.0) * g
    c_new *= 0.5
    h_new = np.tanh(c_new)
    h_new *= o + 1.0
    h_new *= 0.5
    return h_new, c_new


def _gru_step(z_in: np.ndarray, h: np.ndarray, c: np.ndarray, cell: _Cell) -> tuple[np.ndarray, np.ndarray]:
    # Keras's default GRU (reset_after=True): bias is (2, 3 * units), input and recurrent parts.
    x_z, x_r, x_h = _gates(z_in, 3)
    r_z, r_r, r_h = _gates(h @ cell.recurrent + cell.bias[1], 3)
    update, reset = _sigmoid(x_z + r_z), _sigmoid(x_r + r_r)
    candidate = cell.act(x_h + reset * r_h)
    return update * h + (1.0 - update) * candidate, c


def masked_max(x: Any, valid: Any, ops: Any = np) -> Any:
    """Max over time ``(n, f)`` of ``x`` ``(n, steps, f)`` at the ``valid`` ``(n, steps, 1)`` steps; 0 if none.

    ``ops`` is NumPy or ``keras.ops``: the Keras ``MaskedGlobalMaxPooling1D`` pools with this very code.
    """
    best = ops.max(ops.where(valid, x, -1e9), axis=1)
    return ops.where(ops.any(valid, axis=1), best, 0.0)


def pool(x: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Pools ``(n, steps, f)`` over the steps where ``mask`` ``(n, steps)`` holds: ``max``, ``mean`` or both
    (``maxmean``, ``(n, 2 f)``); ``last`` passes ``x`` through (already the final state)."""
    if mode == "last":
        return x
    valid = mask[:, :, None]
    pooled = []
    if mode in ("max", "maxmean"):
        pooled.append(masked_max(x, valid))
    if mode in ("mean", "maxmean"):
        pooled.append((x * valid).sum(axis=1) / valid.sum(axis=1))
    return np.concatenate(pooled, axis=-1).astype(np.float32)
