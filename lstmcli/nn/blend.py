"""How a staged model publishes its two parts: a weight for the n-gram classifier's logits and one for the LSTM's.

Each part is trained apart, a whole classifier (:func:`lstmcli.nn.model.stage_model`): added as they are, their
logits would count the shared evidence twice, and the n-gram classifier, trained to a near-perfect training fit,
is over-confident beside the LSTM. The published model is ``softmax(a * ngram + b * lstm)``, the weights (``a``
0 to 2, ``b`` 0 to 3) those with the lowest validation loss. ``a = 1, b = 0`` is the n-gram classifier alone, so
the published model is never worse on validation than the first stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmcli.config import Config
from lstmcli.nn.inference import Network

NGRAM_WEIGHTS = np.round(np.linspace(0.0, 2.0, 21), 2)  # 0.1 apart
LSTM_WEIGHTS = np.round(np.linspace(0.0, 3.0, 61), 2)  # 0.05 apart
CHUNK = 256  # validation rows through the network at a time (its temporaries: rows x steps x units a direction)
CHUNK_TOKENS = CHUNK * 128  # and no more padded tokens at a time: fewer rows where texts are longer than 128 tokens


def chunk_rows(steps: int) -> int:
    """How many validation rows of ``steps`` padded tokens go through the network at a time: :data:`CHUNK`, fewer
    for long texts (chnsenticorp's 541 characters: 60), whose sequences' temporaries would otherwise be the
    training's largest allocation."""
    return max(1, min(CHUNK, CHUNK_TOKENS // max(steps, 1)))


@dataclass(frozen=True)
class Blend:
    """The chosen weights of both parts' logits and the validation scores of each part and of the blend."""

    ngram_weight: float
    lstm_weight: float
    scores: dict[str, dict[str, float]]  # "ngrams", "lstm", "published": {"accuracy": ..., "loss": ...}


def fit_blend(weights: dict[str, np.ndarray], config: Config, val_x: np.ndarray, val_y: np.ndarray) -> Blend:
    """Picks both weights on the validation rows ``val_x`` ``(n, max_len)``, labels ``val_y`` ``(n,)`` (or
    ``(n, labels)``, 0/1, for a multi-label run).

    Args:
        weights: the exported weights of the staged model at its best epoch (both parts at weight 1).
    """
    network, chunk = Network(weights, config), chunk_rows(val_x.shape[1])
    parts = [network.part_logits(np.asarray(val_x[i : i + chunk])) for i in range(0, len(val_x), chunk)]
    ngram, lstm = (np.concatenate([p[i] for p in parts]) for i in (0, 1))
    return choose(ngram, lstm, np.asarray(val_y))


def choose(ngram: np.ndarray, lstm: np.ndarray, y: np.ndarray) -> Blend:
    """The weights of ``ngram`` and ``lstm`` logits ``(n, n_classes)`` with the lowest loss on labels ``y``: label
    indices ``(n,)`` (softmax cross-entropy), or a multi-label run's 0/1 matrix ``(n, labels)`` (binary
    cross-entropy of a sigmoid per label)."""
    ngram, lstm, y = ngram.astype(np.float64), lstm.astype(np.float64), y.astype(np.int64)
    _loss, _scores = (_binary_loss, _binary_scores) if y.ndim == 2 else (_softmax_loss, _softmax_scores)
    losses = np.array([[_loss(a * ngram + b * lstm, y) for b in LSTM_WEIGHTS] for a in NGRAM_WEIGHTS])
    i, j = np.unravel_index(int(np.argmin(losses)), losses.shape)  # the first minimum: the smaller weights
    a, b = float(NGRAM_WEIGHTS[i]), float(LSTM_WEIGHTS[j])
    scores = {"ngrams": _scores(ngram, y), "lstm": _scores(lstm, y), "published": _scores(a * ngram + b * lstm, y)}
    return Blend(a, b, scores)


def _softmax_loss(logits: np.ndarray, y: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean())


def _softmax_scores(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    accuracy = float((logits.argmax(axis=1) == y).mean())
    return {"accuracy": round(accuracy, 4), "loss": round(_softmax_loss(logits, y), 4)}


def _binary_loss(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy of ``sigmoid(logits)``, computed from the logits (no overflow)."""
    return float((np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))).mean())


def _binary_scores(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Loss, the share of right 0/1 decisions at 0.5 (as training logs it) and micro-F1 at 0.5."""
    predicted, truth = logits >= 0, y.astype(bool)
    f1 = 2 * (predicted & truth).sum() / max(predicted.sum() + truth.sum(), 1)
    scores = {"accuracy": float((predicted == truth).mean()), "loss": _binary_loss(logits, y), "micro_f1": float(f1)}
    return {name: round(value, 4) for name, value in scores.items()}
