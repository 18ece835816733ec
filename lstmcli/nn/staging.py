"""The training's stages and their epochs' records, and the linear n-gram stage: all without TensorFlow.

``train DATA.csv`` runs the n-gram stage in prepare's child process (:func:`fit_ahead`), while the parent imports
TensorFlow; the trainer (:mod:`lstmcli.nn.fit`) then replays its epochs (:func:`linear_stage` given ``ahead``)
instead of running them again, or runs them itself where the child's settings are not the ones it trains with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.nn import linear
from lstmcli.rundir import RunDir, TrainState

EpochShown = Callable[[int, dict[str, float], bool], None]  # (epoch, logs, improved)


def record(state: TrainState, config: Config, epoch: int, logs: dict[str, float], stage: str) -> bool:
    """Updates the state (in memory) with epoch ``epoch``'s (0-based) logs; says if the monitored score improved."""
    # state.best is empty at the LSTM stage's start: the stage keeps its own best, which the blend then weighs.
    improved = state.best_epoch == 0 or not state.best or better(logs, state.best, config.monitor)
    if improved:
        state.best, state.best_epoch, state.wait = logs, epoch + 1, 0
    else:
        state.wait += 1
    row: dict[str, Any] = {"epoch": epoch + 1, **logs}
    if stage:
        row["stage"] = stage
    state.history.append(row)
    state.epoch = epoch + 1
    if config.early_stopping and state.wait >= config.patience:
        state.stopped_early = True
    return improved


def better(logs: dict[str, float], best: dict[str, float], monitor: str) -> bool:
    """Whether an epoch beats the best so far: lower val_loss, or higher val_accuracy (ties: lower val_loss)."""
    if monitor == "val_loss":
        return logs["val_loss"] < best["val_loss"]
    return (logs["val_accuracy"], -logs["val_loss"]) > (best["val_accuracy"], -best["val_loss"])


def stages(config: Config) -> list[tuple[str, int]]:
    """The training stages, each with the epoch it ends by at the latest: ``--epochs`` bounds them all together.

    Staged, the n-gram classifier trains first, for at most ``ngram_epochs`` and leaving the LSTM one epoch
    at least; the LSTM then has the rest: one cycle of its rate over ``fit.LSTM_EPOCHS``, and more only while
    it still learns (``fit._Schedule``); below ``fit.CYCLE_MIN_ROWS`` training rows, the run's rate throughout.
    Unstaged training is one stage with no name ("" in history.json and on screen).
    """
    if config.staged_ngrams:
        return [("ngrams", min(config.ngram_epochs, max(config.epochs - 1, 1))), ("lstm", config.epochs)]
    return [("", config.epochs)]


def class_weights(run: RunDir, config: Config, n_classes: int) -> dict[int, float] | None:
    """Keras's ``class_weight`` for ``--class-weight balanced``: each class weighs ``n / (classes * its count)``
    in the training loss, so that every class counts as much as the others (as scikit-learn's "balanced").
    """
    if config.class_weight == "none":
        return None
    if run.is_sharded():
        counts = sum((np.bincount(y, minlength=n_classes) for _, y in run.shard_arrays("train")), np.zeros(n_classes))
    else:
        counts = np.bincount(run.read_prepared().train_y, minlength=n_classes)
    present = np.maximum(counts, 1)
    return {i: float(counts.sum() / (n_classes * present[i])) for i in range(n_classes)}


def bag_vectors(run: RunDir) -> np.ndarray | None:
    """The pretrained vectors whose mean the linear n-gram classifier reads ``(vocab, dim)``: the start vectors' rows
    a source gave, 0 for the others (random starts are no knowledge); None where the run has none, or did not
    record which rows a source gave (runs of earlier versions)."""
    vectors, found = run.read_embeddings(), run.read_embeddings_found()
    if vectors is None or found is None or not found.any():
        return None
    return np.where(found[:, None], vectors, np.float32(0)).astype(np.float32)  # type: ignore[no-any-return]


@dataclass
class NgramsAhead:
    """The linear n-gram stage as it ran before TensorFlow was imported: each epoch's logs and the best model."""

    config: Config  # the training settings it ran with (batch size and rate resolved for one replica)
    logs: list[dict[str, float]]
    best: linear.LinearModel | None

    def epochs(self) -> Iterator[tuple[linear.LinearModel, dict[str, float]]]:
        """Its epochs again, once, as :func:`lstmcli.nn.linear.epochs` yields them (every epoch with the best model:
        what an epoch that did not improve carries is never read). The best model is let go as the replay starts:
        the replay's caller keeps what it takes, and the training would otherwise hold it (with the pretrained
        vectors its bag reads, 19 MB on emotion) through the LSTM stage, where the process's memory peaks."""
        best, self.best = self.best, None
        for logs in self.logs:
            yield best, logs  # type: ignore[misc]


def fit_ahead(run: RunDir, config: Config) -> NgramsAhead | None:
    """The n-gram stage of a fresh training of the prepared ``run``, trained one replica would train it; None
    where the linear model does not train this run's n-gram classifier."""
    n_classes, vocab = len(run.read_labels()), len(run.read_vocab())
    config = config.for_training(max(run.train_rows(), 1))
    if not linear.fits(config, n_classes, run.is_sharded()) or stages(config)[0][0] != "ngrams":
        return None
    logs: list[dict[str, float]] = []
    state = TrainState()
    weights = class_weights(run, config, n_classes)
    best, interrupted = linear_stage((run, vocab), config, state, weights, lambda _, row, __: logs.append(row))
    if interrupted:
        raise KeyboardInterrupt
    return NgramsAhead(config, logs, best)


def linear_stage(
    prepared: tuple[RunDir, int],
    config: Config,
    state: TrainState,
    class_weight: dict[int, float] | None,
    shown: EpochShown,
    ahead: Iterable[tuple[linear.LinearModel, dict[str, float]]] | None = None,
) -> tuple[linear.LinearModel | None, bool]:
    """Runs the n-gram stage of ``prepared`` (the run, its vocabulary's size) epoch by epoch into ``state`` (from its
    start) until early stopping or its last epoch; returns its best model and whether Ctrl-C stopped it.
    ``ahead``: the epochs as run before, replayed."""
    if state.epoch:
        state.epoch = state.best_epoch = state.wait = 0
        state.best, state.history, state.stopped_early = {}, [], False
    last_epoch, best = stages(config)[0][1], None
    try:
        for fitted, logs in _linear_epochs(*prepared, config, class_weight) if ahead is None else ahead:
            improved = record(state, config, state.epoch, logs, "ngrams")
            best = fitted.copy() if improved else best
            shown(state.epoch, logs, improved)
            if state.stopped_early or state.epoch >= last_epoch:
                break
    except KeyboardInterrupt:
        return best, True
    return best, False


def _linear_epochs(
    run: RunDir, vocab: int, config: Config, class_weight: dict[int, float] | None
) -> Iterator[tuple[linear.LinearModel, dict[str, float]]]:
    prepared = run.read_prepared()
    data = (prepared.train_x, prepared.train_y, prepared.val_x, prepared.val_y)
    n_classes = len(run.read_labels())
    yield from linear.epochs(data, config, vocab, n_classes, class_weight, bag_vectors(run))
