"""The staged n-gram classifier trained as the linear model it is: sparse NumPy and SciPy, no TensorFlow.

The classifier's logits are linear in a text's mean token and mean hashed n-gram (``spec.NgramClassifier``):
``mean(E[tokens]) @ K_1 + mean(T[n-grams]) @ K_2 + b``. Trained here, it is that linear map itself, one row of
logits per token id ``W_t`` ``(vocab, classes)`` and per n-gram bucket ``W_g`` ``(buckets + 1, classes)``, fitted
by Adam on the rows each batch uses (as :class:`lstmcli.nn.optimizer.SparseAdam`), epoch by epoch, while the fit
loop keeps the best epoch on validation and stops early as it does for Keras. :func:`layer_weights` writes it into
the network's own layers (``E = [W_t | 0]``, ``T = [W_g | 0]``, ``K`` two identities), so the Keras model, the
exported weights and every prediction engine run it unchanged.

Where the run has pretrained vectors (``--embeddings``, ``--unlabeled``), the logits also read a text's mean vector
through a small dense map ``K_v`` ``(dim, classes)``: fastText's strength with pretrained vectors at few labels,
since a word the labelled texts hold once, or never (GloVe's words kept for prediction), still moves the logits
by what its vector shares with the words that were seen. The mean vector is linear in the token shares, so it
folds into the token rows (``W_t + V @ K_v``) and the network and its engines stay as they are.

The Keras stage spent most of its epoch in TensorFlow's scatter kernels on the 200,001-row table; here an epoch
is a few sparse products. Where the identities do not fit (more classes than the embeddings have numbers, or a
multi-label run) or the data is streamed from shards, the Keras stage trains it as before (:func:`fits`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from lstmcli.config import Config
from lstmcli.nn import spec
from lstmcli.nn.inference import hash_step

# Adam's rate for the linear model, times the auto rate of the batch: each weight here is one number of the
# logits, where the Keras stage moved an embedding and a kernel whose product makes them.
RATE_SCALE = 50.0
VECTORS_RATE_SCALE = 5.0  # the same for the dense map of the mean pretrained vector, read by every text
BETAS, EPSILON = (0.9, 0.999), 1e-7  # Keras's Adam


@dataclass
class LinearModel:
    """The n-gram classifier's logits: ``features @ weights + bias``, features as :func:`features` makes them."""

    weights: np.ndarray  # (vocab + buckets + 1, classes) float32: the token rows, then the n-gram rows
    bias: np.ndarray  # (classes,) float32
    vocab: int
    vectors: np.ndarray | None = None  # (vocab, dim) float32: the pretrained vectors (0 where none), shared
    dense: np.ndarray | None = None  # (dim, classes) float32: the map of a text's mean vector into logits

    def logits(self, x: Features) -> np.ndarray:
        out = np.asarray(x.shares @ self.weights) + self.bias
        if self.dense is not None and x.mean_vectors is not None:
            out += x.mean_vectors @ self.dense
        return out  # type: ignore[no-any-return]

    def token_logits(self) -> np.ndarray:
        """Each token id's row of logits ``(vocab, classes)``: its own weights, plus its vector's through the map."""
        rows = self.weights[: self.vocab]
        if self.dense is None or self.vectors is None:
            return rows
        return (rows + self.vectors @ self.dense).astype(np.float32)  # type: ignore[no-any-return]

    def copy(self) -> LinearModel:
        dense = None if self.dense is None else self.dense.copy()
        return LinearModel(self.weights.copy(), self.bias.copy(), self.vocab, self.vectors, dense)


@dataclass
class Features:
    """Texts as the linear model reads them: token and n-gram shares, and the mean pretrained vector if any."""

    shares: sparse.csr_matrix  # (n, vocab + buckets + 1), as :func:`features` makes them
    mean_vectors: np.ndarray | None = None  # (n, dim) float32

    def __getitem__(self, rows: np.ndarray) -> Features:
        return Features(self.shares[rows], None if self.mean_vectors is None else self.mean_vectors[rows])

    @classmethod
    def of(cls, ids: np.ndarray, vocab: int, bag: spec.NgramBag, vectors: np.ndarray | None) -> Features:
        shares = features(ids, vocab, bag)
        if vectors is None:
            return cls(shares)
        return cls(shares, np.asarray(shares[:, :vocab] @ vectors, dtype=np.float32))


def fits(config: Config, n_classes: int, sharded: bool) -> bool:
    """Whether this module trains the config's n-gram classifier: a staged, single-label run held in memory
    whose classes fit in both the token embeddings and the n-gram table."""
    network = spec.network_spec(config)
    ngrams = network.ngram_classifier
    if ngrams is None or config.multi_label or sharded:
        return False
    return n_classes <= min(ngrams.embedding.dim, ngrams.bag.dim)


def features(ids: np.ndarray, vocab: int, bag: spec.NgramBag) -> sparse.csr_matrix:
    """Each text's mean token (one-hot) beside its mean hashed n-gram, as the bag averages them.

    The n-grams are hashed over the texts' tokens alone, not over the padded matrix (four fifths padding on
    chnsenticorp, whose longest texts set its width): a run of ``n`` tokens is an n-gram where they stand side by
    side in one row, as the bag's hash over the padded rows finds them.

    Args:
        ids: padded token ids ``(n, steps)``, 0 padding.
        vocab: token ids are below it.
        bag: the n-gram bag (buckets, order, hashing).

    Returns:
        float32 CSR ``(n, vocab + buckets + 1)``: column ``t`` holds token ``t``'s share of the text's tokens,
        column ``vocab + g`` n-gram bucket ``g``'s share of its n-grams (n = 2..order together).
    """
    ids = np.asarray(ids)
    row, column = np.nonzero(ids)  # each token's row and place, row by row
    tokens = ids[row, column].astype(np.int64)
    parts = [(row, tokens)]
    for n in range(2, bag.order + 1):
        starts = len(tokens) - (n - 1)
        if ids.shape[1] < n or starts <= 0:
            continue
        side_by_side = (row[n - 1 :] == row[:starts]) & (column[n - 1 :] - column[:starts] == n - 1)
        hashed = tokens[:starts]
        for k in range(1, n):
            hashed = hash_step(hashed, tokens[k : starts + k], bag.hashing)
        parts.append((row[:starts][side_by_side], hashed[side_by_side] % bag.buckets + 1 + vocab))
    n_tokens = np.bincount(row, minlength=len(ids))
    n_grams = sum((np.bincount(rows, minlength=len(ids)) for rows, _ in parts[1:]), np.zeros(len(ids), np.int64))
    counts = [(1.0 / np.maximum(n_tokens if index == 0 else n_grams, 1))[rows] for index, (rows, _) in enumerate(parts)]
    shape = (len(ids), vocab + bag.buckets + 1)
    matrix = sparse.csr_matrix(
        (
            np.concatenate(counts).astype(np.float32),
            (np.concatenate([rows for rows, _ in parts]), np.concatenate([cols for _, cols in parts])),
        ),
        shape=shape,
    )
    matrix.sum_duplicates()
    return matrix


def scores(model: LinearModel, x: Features, y: np.ndarray) -> tuple[float, float]:
    """Softmax cross-entropy and accuracy of ``model`` on ``x`` with labels ``y`` ``(n,)``."""
    logits = model.logits(x)
    return _loss(logits, y), float((logits.argmax(axis=1) == y).mean())


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # type: ignore[no-any-return]


def _loss(logits: np.ndarray, y: np.ndarray) -> float:
    return float(-_log_softmax(logits)[np.arange(len(y)), y].mean())


def _records(table: np.ndarray) -> np.ndarray:
    """A C-contiguous table ``(n, classes)`` seen as ``n`` records of one row each: picking or writing rows by
    index then moves each row at once, 2-6 times faster than row by row (a row is a few numbers: one per class)."""
    return table.view(np.dtype((np.void, table.dtype.itemsize * table.shape[1]))).reshape(-1)


def _take(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``table[rows]``, a copy: ``np.take`` moves each row at once, faster than indexing row by row or by record."""
    return np.take(table, rows, axis=0)


def _put(table: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """``table[rows] = values``, written by :func:`_records` (``rows`` distinct)."""
    _records(table)[rows] = _records(np.ascontiguousarray(values, dtype=table.dtype))


class _Adam:
    """Adam on the rows of a table a batch uses (moments of unused rows stay as they are), and on the bias."""

    def __init__(self, model: LinearModel, rate: float, dense_rate: float) -> None:
        self.model, self.rate, self.dense_rate, self.step = model, rate, dense_rate, 0
        self.m, self.v = np.zeros_like(model.weights), np.zeros_like(model.weights)
        self.mb, self.vb = np.zeros_like(model.bias), np.zeros_like(model.bias)
        dense = model.dense if model.dense is not None else np.zeros((0, 0), np.float32)
        self.md, self.vd = np.zeros_like(dense), np.zeros_like(dense)
        self._seen = np.zeros(len(model.weights), dtype=bool)  # which rows a batch uses, marked and cleared
        self._local = np.zeros(len(model.weights), dtype=np.int64)  # each used row's place among them

    def used_rows(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``np.unique(columns, return_inverse=True)``, by marking instead of sorting: the rows a batch uses, in
        order, and each column's place among them."""
        self._seen[columns] = True
        rows = np.flatnonzero(self._seen)
        self._seen[rows] = False
        self._local[rows] = np.arange(len(rows))
        return rows, self._local[columns]

    def apply(self, rows: np.ndarray, grad: np.ndarray, grad_bias: np.ndarray, grad_dense: np.ndarray | None) -> None:
        self.step += 1
        (b1, b2), t = BETAS, self.step
        correction = np.sqrt(1 - b2**t) / (1 - b1**t)
        alpha = self.rate * correction
        m = _take(self.m, rows) * b1 + grad * (1 - b1)
        v = _take(self.v, rows) * b2 + np.square(grad) * (1 - b2)
        _put(self.m, rows, m)
        _put(self.v, rows, v)
        weights = _take(self.model.weights, rows)
        weights -= alpha * m / (np.sqrt(v) + EPSILON)
        _put(self.model.weights, rows, weights)
        self.mb = self.mb * b1 + grad_bias * (1 - b1)
        self.vb = self.vb * b2 + np.square(grad_bias) * (1 - b2)
        self.model.bias -= alpha * self.mb / (np.sqrt(self.vb) + EPSILON)
        if grad_dense is not None and self.model.dense is not None:
            self.md = self.md * b1 + grad_dense * (1 - b1)
            self.vd = self.vd * b2 + np.square(grad_dense) * (1 - b2)
            self.model.dense -= self.dense_rate * correction * self.md / (np.sqrt(self.vd) + EPSILON)


def epochs(
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    config: Config,
    vocab: int,
    n_classes: int,
    class_weight: dict[int, float] | None = None,
    vectors: np.ndarray | None = None,
) -> Iterator[tuple[LinearModel, dict[str, float]]]:
    """Trains epoch after epoch, yielding the model after each (updated in place) with Keras's logs: ``loss`` and
    ``accuracy`` over the epoch's batches, ``val_loss``, ``val_accuracy`` and ``seconds``. The caller stops.

    Args:
        data: training ids ``(n, steps)`` and labels ``(n,)``, validation ids and labels.
        config: the training settings, batch size and rate resolved (:meth:`Config.for_training`).
        class_weight: each class's weight in the loss, or None.
        vectors: pretrained vectors ``(vocab, dim)``, 0 for the words without one, whose mean over a text's
            tokens the logits read too; None: token and n-gram shares alone.
    """
    train_x, train_y, val_x, val_y = data
    bag = spec.network_spec(config).ngram_classifier.bag  # type: ignore[union-attr]
    x, xv = Features.of(train_x, vocab, bag, vectors), Features.of(val_x, vocab, bag, vectors)
    y, yv = np.asarray(train_y, dtype=np.int64), np.asarray(val_y, dtype=np.int64)
    weigh = np.array([(class_weight or {}).get(c, 1.0) for c in range(n_classes)], dtype=np.float32)
    dense = None if vectors is None else np.zeros((vectors.shape[1], n_classes), np.float32)
    model = LinearModel(
        np.zeros((x.shares.shape[1], n_classes), np.float32), np.zeros(n_classes, np.float32), vocab, vectors, dense
    )
    rates = config.learning_rate * RATE_SCALE, config.learning_rate * VECTORS_RATE_SCALE
    adam, rng = _Adam(model, *rates), np.random.default_rng(config.seed)
    while True:
        started, losses, right = time.monotonic(), [], 0
        order = rng.permutation(len(y))
        for start in range(0, len(y), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss, hits = _step(model, adam, x[batch], y[batch], weigh)
            losses.append(loss)
            right += hits
        val_loss, val_accuracy = scores(model, xv, yv)
        logs = {"accuracy": right / len(y), "loss": float(np.mean(losses)), "val_accuracy": val_accuracy}
        logs |= {"val_loss": val_loss, "seconds": round(time.monotonic() - started, 3)}
        yield model, logs


def _step(model: LinearModel, adam: _Adam, batch: Features, yb: np.ndarray, weigh: np.ndarray) -> tuple[float, int]:
    """One batch of Adam on the rows it uses; returns its (weighted) loss and how many it got right."""
    xb, mean_vectors = batch.shares, batch.mean_vectors
    rows, local = adam.used_rows(xb.indices)
    xl = sparse.csr_matrix((xb.data, local, xb.indptr), shape=(xb.shape[0], len(rows)))
    logits = np.asarray(xl @ _take(model.weights, rows)) + model.bias
    if model.dense is not None and mean_vectors is not None:
        logits += mean_vectors @ model.dense
    log_p = _log_softmax(logits)
    index = np.arange(len(yb))
    w = weigh[yb]
    grad = np.exp(log_p)
    grad[index, yb] -= 1.0
    grad *= (w / len(yb))[:, None]
    grad_dense = None if mean_vectors is None else (mean_vectors.T @ grad).astype(np.float32)
    adam.apply(rows, np.asarray(xl.T @ grad, dtype=np.float32), grad.sum(axis=0), grad_dense)
    return float(-(log_p[index, yb] * w).mean()), int((logits.argmax(axis=1) == yb).sum())


def layer_weights(model: LinearModel, network: spec.NetworkSpec) -> dict[str, list[np.ndarray]]:
    """The n-gram classifier's Keras layers' weights that compute ``model``'s logits exactly.

    Returns:
        ``{layer name: its get_weights() list}`` for the token embedding, the n-gram bag and the output layer.
    """
    block = network.ngram_classifier
    assert block is not None, "only a staged n-gram model has an n-gram classifier"
    tokens, table, kernel = widened(model.token_logits(), model.weights[model.vocab :], block)
    return {
        block.embedding.layer: [tokens],
        block.bag.layer: [table],
        block.output.layer: [kernel, model.bias.astype(np.float32)],
    }


def written_layers(network: spec.NetworkSpec) -> frozenset[str]:
    """The n-gram classifier's tables that :func:`layer_weights` writes whole: the Keras model need not start them
    at random (their token embedding and n-gram table, 200,001 rows)."""
    block = network.ngram_classifier
    return frozenset() if block is None else frozenset((block.embedding.layer, block.bag.layer))


def widened(
    token_rows: np.ndarray, table_rows: np.ndarray, block: spec.NgramClassifier
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of logits ``(rows, classes)`` of the tokens and the n-gram buckets as the layers hold them: the token
    embedding ``(vocab, dim)`` and the table ``(buckets + 1, dim)`` with the logits in their first columns, and the
    output kernel two identities that add them (the inverse of :func:`folded`)."""
    classes = token_rows.shape[1]
    dims = (block.embedding.dim, block.bag.dim)
    tokens = np.zeros((token_rows.shape[0], dims[0]), np.float32)
    tokens[:, :classes] = token_rows
    table = np.zeros((table_rows.shape[0], dims[1]), np.float32)
    table[:, :classes] = table_rows
    kernel = np.zeros((sum(dims), classes), np.float32)
    kernel[np.arange(classes), np.arange(classes)] = 1.0
    kernel[dims[0] + np.arange(classes), np.arange(classes)] = 1.0
    return tokens, table, kernel


def folded(weights: dict[str, np.ndarray], network: spec.NetworkSpec) -> dict[str, np.ndarray]:
    """Exported weights with the n-gram classifier's tables replaced by the logits they give: the token embedding
    ``E @ K_1`` ``(vocab, classes)``, the table ``T @ K_2`` ``(buckets + 1, classes)``, ``K`` two identities.

    The engines fold the tables so anyway when they load them (``Network.ngram_logits``, ``ort``), so they give
    the same probabilities; weights.npz shrinks by the tables' width over the classes (``32 / 2`` for two).
    Weights whose classes are no fewer than either width are returned as they are.
    """
    block = network.ngram_classifier
    if block is None:
        return weights
    tokens, table, kernel = (weights[k] for k in (block.bag.tokens, block.bag.table, block.output.kernel))
    classes, split = kernel.shape[1], tokens.shape[1]
    if classes >= min(split, table.shape[1]):
        return weights
    identity = np.eye(classes, dtype=np.float32)
    return {
        **weights,
        block.bag.tokens: (tokens @ kernel[:split]).astype(np.float32),
        block.bag.table: (table @ kernel[split:]).astype(np.float32),
        block.output.kernel: np.concatenate([identity, identity]),
    }
