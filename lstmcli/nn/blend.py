"""How much of the LSTM a staged model publishes: the weight of its logits beside the n-gram classifier's.

The LSTM stage learns what the frozen n-gram classifier leaves, while the classifier is dropped for half the
texts, so its logits are partly a classifier of their own: added whole, they count the evidence twice. The
published model is ``softmax(ngram + weight * lstm)``, the weight (0 to 3) the one with the lowest validation
loss. Weight 0 is the n-gram classifier alone, so the blend is never worse on validation than the first stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmcli.config import Config
from lstmcli.nn.inference import Network

WEIGHTS = np.round(np.linspace(0.0, 3.0, 61), 2)  # the weights tried, 0.05 apart
CHUNK = 1024  # validation rows through the network at a time


@dataclass(frozen=True)
class Blend:
    """The chosen weight of the LSTM's logits and the validation scores of each part and of the blend."""

    weight: float
    scores: dict[str, dict[str, float]]  # "ngrams", "lstm", "published": {"accuracy": ..., "loss": ...}


def fit_blend(weights: dict[str, np.ndarray], config: Config, val_x: np.ndarray, val_y: np.ndarray) -> Blend:
    """Picks the LSTM's weight on the validation rows ``val_x`` ``(n, max_len)``, labels ``val_y`` ``(n,)``.

    Args:
        weights: the exported weights of the staged model at its best epoch (LSTM logits at weight 1).
    """
    network = Network(weights, config)
    parts = [network.part_logits(np.asarray(val_x[i : i + CHUNK])) for i in range(0, len(val_x), CHUNK)]
    ngram, lstm = (np.concatenate([p[i] for p in parts]) for i in (0, 1))
    return choose(ngram, lstm, np.asarray(val_y))


def choose(ngram: np.ndarray, lstm: np.ndarray, y: np.ndarray) -> Blend:
    """The weight of ``lstm`` logits ``(n, n_classes)`` beside ``ngram`` ones with the lowest loss on labels ``y``."""
    ngram, lstm, y = ngram.astype(np.float64), lstm.astype(np.float64), y.astype(np.int64)
    losses = [_loss(ngram + w * lstm, y) for w in WEIGHTS]
    best = float(WEIGHTS[int(np.argmin(losses))])
    scores = {"ngrams": _scores(ngram, y), "lstm": _scores(lstm, y), "published": _scores(ngram + best * lstm, y)}
    return Blend(best, scores)


def _loss(logits: np.ndarray, y: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean())


def _scores(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {"accuracy": round(float((logits.argmax(axis=1) == y).mean()), 4), "loss": round(_loss(logits, y), 4)}
