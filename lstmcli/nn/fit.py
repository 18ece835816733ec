"""``train``: fit the Keras model on a prepared run, checkpoint it, and publish the best model.

During training everything goes to ``checkpoint/`` (the last epoch's model with its optimizer, the best
model, the early-stopping state), written at most every :data:`CHECKPOINT_SECONDS` and at each stage's end; a
finished or interrupted run publishes the best model (without optimizer state), its exported weights and the
history; ``--resume`` picks up ``checkpoint/`` after a crash.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lstmcli.config import Config
from lstmcli.decision import choose_thresholds
from lstmcli.errors import LstmcliError, RunDirError
from lstmcli.nn import linear, ort
from lstmcli.nn.backend import keras, tf
from lstmcli.nn.blend import Blend, chunk_rows, fit_blend
from lstmcli.nn.data import make_dataset, shard_dataset
from lstmcli.nn.distribute import Placement, place
from lstmcli.nn.inference import Network
from lstmcli.nn.model import (
    build_model,
    export_weights,
    load_model,
    ready_to_fit,
    stage_model,
    start_embeddings,
)
from lstmcli.nn.spec import network_spec
from lstmcli.nn.staging import NgramsAhead, better, class_weights, linear_stage, record, stages
from lstmcli.rundir import RunDir, TrainingRecord, TrainState, atomic_write

log = logging.getLogger(__name__)


class TrainProgress(Protocol):
    """What the trainer reports while it works; the CLI shows it, a notebook may ignore it."""

    def start(self, epochs: int, initial_epoch: int, steps: int) -> None: ...

    def batch(self, step: int, logs: dict[str, float]) -> None: ...

    def epoch(self, epoch: int, logs: dict[str, float], improved: bool, stage: str = "") -> None: ...


class SilentProgress:
    def start(self, epochs: int, initial_epoch: int, steps: int) -> None:
        pass

    def batch(self, step: int, logs: dict[str, float]) -> None:
        pass

    def epoch(self, epoch: int, logs: dict[str, float], improved: bool, stage: str = "") -> None:
        pass


@dataclass(frozen=True)
class TrainResult:
    """How a training run ended."""

    epochs_run: int
    best_epoch: int
    best: dict[str, float]
    stopped_early: bool
    interrupted: bool
    seconds: float
    history: list[dict[str, float]]
    blend: Blend | None = None  # a staged model whose LSTM stage ran: both parts' weights and scores


def _datasets(
    run: RunDir, config: Config, placement: Placement, first_epoch: int
) -> tuple[tf.data.Dataset, tf.data.Dataset, int]:
    """Training and validation batches, from the prepared arrays or streamed from a streamed prepare's shards;
    ``first_epoch`` (the epochs done, when resuming) picks the in-memory batches' first shuffle."""
    if run.is_sharded():
        train_ds, steps = shard_dataset(run, "train", config, shuffle=True)
        val_ds, _ = shard_dataset(run, "val", config, shuffle=False)
    else:
        prepared = run.read_prepared()
        train_ds, steps = make_dataset(
            prepared.train_x, prepared.train_y, config, shuffle=True, first_epoch=first_epoch
        )
        val_ds, _ = make_dataset(prepared.val_x, prepared.val_y, config, shuffle=False)
    return placement.distribute(train_ds), placement.distribute(val_ds), steps


CHECKPOINT_SECONDS = 30.0  # the resume checkpoint is written at most this often, and at every stage's end


class _Checkpoint(keras.callbacks.Callback):
    """Tracks the best val_loss, stops early, and keeps ``checkpoint/`` for ``--resume``.

    Saving the whole model took longer than a fast epoch, so it is written once :data:`CHECKPOINT_SECONDS` have
    passed since the stage started or the last write, and always when the stage ends; in between,
    the best epoch's weights and the last epoch's (with the optimizer's state) wait in memory. Ctrl-C and
    SIGTERM write them (:meth:`flush`), so only a hard kill loses epochs: at most that many seconds of them.
    The weights kept are those of the model the stage fits (``self.model``), whose layers are the whole network's:
    the other part's do not change during the stage (the n-gram table alone is 25 MB), and an older copy is let
    go before a newer one is taken.
    """

    def __init__(
        self,
        run: RunDir,
        config: Config,
        state: TrainState,
        progress: TrainProgress,
        whole: keras.Model,
        stage: str,
        final: bool = False,
    ) -> None:
        super().__init__()
        self.run = run
        self.config = config
        self.state = state
        self.progress = progress
        self.whole = whole  # what is saved: the whole network, also while one stage fits a part of it
        self.stage = stage  # the stage's name in history.json and on screen; "" when training is not staged
        self.final = final  # the last stage: at its end the best model is published from memory, not written first
        self.epoch_started = time.monotonic()
        self.written = time.monotonic()  # when the checkpoint was last written (the stage's start: by then)
        self.best: list[np.ndarray] | None = None  # the best epoch's weights of the fitted model, not yet on disk
        self.last: tuple[list[np.ndarray], list[np.ndarray]] | None = None  # the last epoch's, not yet on disk

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch_started = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.progress.batch(batch + 1, {k: float(v) for k, v in (logs or {}).items()})

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        logs["seconds"] = round(time.monotonic() - self.epoch_started, 3)  # training and validation, not saving
        with _sigint_deferred():  # Ctrl-C in the middle would leave a checkpoint at odds with its state
            improved = record(self.state, self.config, epoch, logs, self.stage)
            self.last = None  # newer weights replace it below, or the checkpoint is written
            if improved:
                self.best = None  # the older copy goes before the newer is taken: never two at once
                self.best = self.model.get_weights()
            if self.state.stopped_early:
                self.model.stop_training = True
            ends = self.model.stop_training or epoch + 1 >= self.params.get("epochs", 0)
            if ends and self.final:
                pass  # nothing left to resume: the best (in memory, or written) is published next
            elif ends or time.monotonic() - self.written >= CHECKPOINT_SECONDS:
                self.flush()  # the model holds this epoch's weights: newer than any that waited
            else:  # an epoch that improved is the best and the last at once: its weights are copied once
                weights = self.best if improved and self.best is not None else self.model.get_weights()
                self.last = (weights, _optimizer_values(self.model))
        self.progress.epoch(epoch + 1, logs, improved, self.stage)

    def flush(self) -> None:
        """Writes what waits in memory: the best model, the last epoch's, then the state that names them.

        Called at an epoch's end (the model holds that epoch's weights) or after Ctrl-C (the model holds part of
        an unfinished epoch, and the last finished one's weights wait in ``self.last``).
        """
        if self.last is not None:
            self.model.set_weights(self.last[0])
            _set_optimizer_values(self.model, self.last[1])
        if self.best is not None:
            last = self.model.get_weights()
            self.model.set_weights(self.best)
            _save_model(self.whole, self.run.best_model_path(), optimizer=False)
            self.model.set_weights(last)
        _save_model(self.whole, self.run.last_model_path())
        if self.model is not self.whole:  # a stage's own model: its optimizer is not the whole network's
            self.run.write_stage_optimizer(_optimizer_values(self.model))
        self.run.write_train_state(self.state)
        self.best = self.last = None
        self.written = time.monotonic()


def _optimizer_values(model: keras.Model) -> list[np.ndarray]:
    optimizer = getattr(model, "optimizer", None)
    return [np.array(v.numpy()) for v in optimizer.variables] if optimizer is not None and optimizer.built else []


def _resume_optimizer(model: keras.Model, values: list[np.ndarray] | None) -> None:
    """Gives a resumed stage's optimizer the step count and moments it had (Adam started afresh would take its
    first steps as large as the rate allows, whatever the gradients' scale); a checkpoint without them, or with
    others' (an earlier version's, another stage's), leaves the optimizer as built."""
    variables = model.optimizer.variables
    if values is None or [v.shape for v in values] != [tuple(v.shape) for v in variables]:
        log.info("The stage's optimizer starts afresh: the checkpoint holds no state that fits it")
        return
    _set_optimizer_values(model, values)


def _set_optimizer_values(model: keras.Model, values: list[np.ndarray]) -> None:
    if values:
        for variable, value in zip(model.optimizer.variables, values, strict=True):
            variable.assign(value)


class _HeldSignals:
    """Ctrl-C and SIGTERM held back while a block runs: their Python handlers (Ctrl-C's KeyboardInterrupt, the
    CLI's SIGTERM) replaced by one that notes the signal, and only from the main thread, the one place they can be.
    :meth:`release` lets the first signal noted raise what its own handler raises; ``second_at_once``: a second
    signal releases at once (asked twice)."""

    def __init__(self, second_at_once: bool = False) -> None:
        self.second_at_once = second_at_once
        self.handlers: dict[int, Any] = {}  # the handlers held back
        self.caught: list[int] = []  # signals noted and not yet released

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        self.handlers = {s: h for s, h in handlers.items() if callable(h)}
        for signum in self.handlers:
            signal.signal(signum, self._note)
        try:
            yield
        finally:
            for signum, handler in self.handlers.items():
                signal.signal(signum, handler)

    def _note(self, signum: int, _frame: Any) -> None:
        self.caught.append(signum)
        if self.second_at_once and len(self.caught) > 1:
            self.release()

    def release(self) -> None:
        if self.caught:
            signum = self.caught[0]
            self.caught.clear()
            self.handlers[signum](signum, None)


@contextlib.contextmanager
def _sigint_deferred(replay: bool = True) -> Iterator[None]:
    """Holds back Ctrl-C and SIGTERM until the block ends, then lets their handler raise what it raises
    (``replay``), or drops them (training is already stopping for one)."""
    signals = _HeldSignals()
    with signals.held():
        yield
    if replay:
        signals.release()


class _Interrupts(keras.callbacks.Callback):
    """Ctrl-C and SIGTERM while Keras fits, raised at the next batch's start or end (or the epoch's end), in this
    callback: never inside TensorFlow. A handler that raises wherever the main thread happens to be can land inside
    TensorFlow's C code calling back into Python: its eager fast path (``TensorShape.__len__`` while creating each
    epoch's dataset iterator) clears the error to take its slow path, and Keras converts the logs inside a bare
    ``try: ... except: pass`` (``pythonify_logs``), so that training went on to its last epoch; and an exception
    left in TensorFlow's midst can crash the process when it next runs (a segfault, the best model not published).
    The signal's own handler raises its exception (KeyboardInterrupt, or ``Terminated``); a second signal before the
    next batch raises at once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.signals = _HeldSignals(second_at_once=True)

    def kept(self) -> contextlib.AbstractContextManager[None]:
        """Holds the signals back while the block fits."""
        return self.signals.held()

    def raise_caught(self) -> None:
        """Lets the first signal caught since the last call raise what its handler raises."""
        self.signals.release()

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.raise_caught()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.raise_caught()

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.raise_caught()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.raise_caught()


def _save_model(model: keras.Model, path: Path, optimizer: bool = True) -> None:
    """Saves ``model``; without its ``optimizer``'s state (the best and the published model), a third of the size."""
    kept = getattr(model, "optimizer", None)
    if not optimizer:
        model.optimizer = None  # Keras saves the optimizer's variables only if the model holds one
    try:
        atomic_write(path, model.save)  # the temporary name keeps the .keras suffix Keras requires
    finally:
        model.optimizer = kept


def train(
    run: RunDir,
    config: Config,
    resume: bool = False,
    progress: TrainProgress | None = None,
    strategy: str = "auto",
    ngrams_ahead: NgramsAhead | None = None,
) -> TrainResult:
    """Trains on the run's prepared data, publishing the best model into the run directory.

    Args:
        run: a prepared run directory.
        config: the run's config, with training options possibly changed since prepare; an auto (0) batch size
            and learning rate are resolved for each replica's share of the training rows
            (:meth:`Config.for_training`): config.json keeps the 0s, training.json the values used.
        resume: continue from ``checkpoint/`` (left by a crash or Ctrl-C) instead of starting afresh.
        progress: receives batch and epoch updates.
        strategy: ``auto``, ``one``, ``mirrored`` or ``multi-worker`` (:mod:`lstmcli.nn.distribute`);
            ``config.batch_size`` is per replica, a step trains on ``batch_size * replicas`` texts.
        ngrams_ahead: the n-gram stage as :func:`lstmcli.nn.staging.fit_ahead` ran it on this run before
            TensorFlow was imported: replayed where it ran with the settings this training resolves.

    Raises:
        RunDirError: nothing to resume, or the checkpoint is damaged.
        ConfigError: an unknown strategy, or machines whose runs differ.
        LstmcliError: interrupted before the first epoch ended (nothing to save), or another machine failed.
    """
    progress = progress or SilentProgress()
    session = _open(run, config, resume, progress, strategy)
    session.ngrams_ahead = None if resume else ngrams_ahead
    started = time.monotonic()
    interrupted = _run_stages(session)
    state = session.state
    if state.best_epoch == 0:
        raise LstmcliError("training was interrupted before its first epoch ended; nothing was saved")
    blend = _publish(run, session, keep_checkpoint=interrupted) if session.placement.is_chief else None
    return TrainResult(
        epochs_run=state.epoch,
        best_epoch=state.best_epoch,
        best=state.best,
        stopped_early=state.stopped_early,
        interrupted=interrupted,
        seconds=time.monotonic() - started,
        history=state.history,
        blend=blend,
    )


@dataclass
class _Session:
    """One training process: where it runs and writes, its model and state, and its data."""

    out: RunDir  # the chief writes the run directory, other workers a temporary one
    given: Config  # as the user gave it (auto batch size and learning rate 0): what config.json keeps
    config: Config  # what trains: the auto values resolved
    placement: Placement
    model: keras.Model
    state: TrainState
    train_ds: tf.data.Dataset
    val_ds: tf.data.Dataset
    progress: TrainProgress
    class_weight: dict[int, float] | None
    prior: np.ndarray | None = None  # a multi-label run's log-odds of each label: where output biases start
    linear: tuple[RunDir, int] | None = None  # the n-gram stage in NumPy (nn/linear.py): the prepared run, vocab
    ngrams_ahead: NgramsAhead | None = None  # that stage as it ran before TensorFlow was imported
    steps: int = 0  # training batches an epoch
    cycle: bool = True  # the LSTM stage starts with one cycle of the rate (enough training rows: CYCLE_MIN_ROWS)
    # The last stage's best weights, if never written: what is published (those of the stage's model, which shares
    # its layers with the whole network's).
    best: tuple[keras.Model, list[np.ndarray]] | None = None
    holds_best: bool = False  # the model holds the best weights so far (the linear n-gram stage just ended)


def _open(run: RunDir, config: Config, resume: bool, progress: TrainProgress, strategy: str) -> _Session:
    """Places the training, builds or resumes the model and reads the data; the progress display starts."""
    placement = place(strategy)  # first: MultiWorkerMirroredStrategy must exist before other TensorFlow work
    given, config = config, config.for_training(max(run.train_rows() // placement.replicas, 1))
    out = placement.output(run)
    n_classes, vocab = len(run.read_labels()), len(run.read_vocab())
    ngrams = (run, vocab) if linear.fits(config, n_classes, run.is_sharded()) else None
    with placement.strategy.scope():
        vectors = start_vectors(run, config)
        written = linear.written_layers(network_spec(config)) if ngrams else frozenset()
        model, state = _start(out, config, resume and placement.is_chief, (vocab, n_classes, written), vectors)
        state = placement.sync(model, state, run, config)
    global_batch = config.replace(batch_size=config.batch_size * placement.replicas)
    train_ds, val_ds, steps = _datasets(run, global_batch, placement, state.epoch)
    out.write_checkpoint_config(given)  # config.json itself changes only when the new model is published
    progress.start(config.epochs, state.epoch, steps)
    weights = class_weights(run, config, n_classes)
    prior = prior_logits(run) if config.multi_label else None
    if prior is not None and not resume:
        first = (
            spec.ngram_classifier.output.layer if (spec := network_spec(config)).ngram_classifier else spec.output.layer
        )
        start_bias(model, first, prior)
    return _Session(
        out,
        given,
        config,
        placement,
        model,
        state,
        train_ds,
        val_ds,
        progress,
        weights,
        prior,
        ngrams,
        steps=steps,
        cycle=run.train_rows() >= CYCLE_MIN_ROWS,
    )


def _run_stages(session: _Session) -> bool:
    """Runs the stages left, each from the best weights of the one before; returns whether it was interrupted."""
    plan, state = stages(session.config), session.state
    try:
        for index in range(state.stage, len(plan)):
            stage, last_epoch = plan[index]
            if state.epoch < last_epoch and not state.stopped_early and _fit_stage(session, stage, last_epoch):
                return True
            if index == len(plan) - 1 or state.best_epoch == 0 or state.epoch >= session.config.epochs:
                break
            with _sigint_deferred():
                _next_stage(session.out, session.model, state, session.prior, session.holds_best)
    except KeyboardInterrupt:  # between two stages' epochs: the checkpoint written last is whole
        return True
    return False


def _fit_stage(session: _Session, stage: str, last_epoch: int) -> bool:
    """Fits one stage up to ``last_epoch``; returns whether Ctrl-C interrupted it."""
    config, state, fitted = session.config, session.state, session.model
    if stage == "ngrams" and session.linear is not None:
        return _fit_linear(session)
    final = stage == stages(config)[-1][0]
    callback = _Checkpoint(session.out, config, state, session.progress, session.model, stage, final)
    interrupts = _Interrupts()
    callbacks: list[keras.callbacks.Callback] = [interrupts, callback]
    # The LSTM stage: its rate one cycle over at most LSTM_EPOCHS, then the run's rate while the cycle's end shows it
    # still learning (_Schedule); its callback comes first, so that the checkpoint sees the stage's end it decides.
    # With few training rows, no cycle: the run's rate throughout, early stopping ending the stage.
    if stage == "lstm":
        cycle = min(LSTM_EPOCHS, max(last_epoch - state.stage_start, 0)) if session.cycle else 0
        callbacks.insert(0, _Schedule(config, session.steps, state, cycle))
    try:
        with interrupts.kept():  # TensorFlow builds, compiles and fits the stage with the signals held
            with session.placement.strategy.scope():
                if config.staged_ngrams:
                    fitted = stage_model(session.model, config, stage)
                ready_to_fit(fitted)
                if fitted is not session.model and state.epoch > state.stage_start:  # resumed inside the stage
                    _resume_optimizer(fitted, session.out.read_stage_optimizer())
            fitted.fit(
                session.train_ds,
                validation_data=session.val_ds,
                epochs=last_epoch,
                initial_epoch=state.epoch,
                callbacks=callbacks,
                class_weight=session.class_weight,
                shuffle=False,
                verbose=0,
            )
            interrupts.raise_caught()  # one caught after the last epoch's end
    except KeyboardInterrupt:
        with _sigint_deferred(replay=False):  # a second Ctrl-C while saving must not lose what is being saved
            _flush_waiting(callback)
        return True
    except session.placement.failures as exc:
        _flush_waiting(callback)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LstmcliError(
            f"training across machines stopped ({first}); once every machine is up, run "
            "the same command with --resume on each"
        ) from None
    session.best = (fitted, callback.best) if final and callback.best is not None else None
    callback.best = None  # the session holds them, or the checkpoint does
    return False


def _fit_linear(session: _Session) -> bool:
    """The n-gram stage as the linear model it is (:mod:`lstmcli.nn.linear`), epoch by epoch as Keras's, its best
    epoch written into the network's n-gram layers and checkpointed once; returns whether Ctrl-C interrupted it.

    It takes seconds, so a stage interrupted earlier trains again from its start (seeded: to the same weights).
    Where it already ran before TensorFlow was imported, with these settings, its epochs are replayed.
    """
    config, state, run = session.config, session.state, session.out
    ahead = session.ngrams_ahead if session.ngrams_ahead and session.ngrams_ahead.config == config else None

    def shown(epoch: int, logs: dict[str, float], improved: bool) -> None:
        session.progress.epoch(epoch, logs, improved, "ngrams")

    assert session.linear is not None, "the linear n-gram stage trains a prepared run held in memory"
    replay = ahead.epochs() if ahead else None
    best, interrupted = linear_stage(session.linear, config, state, session.class_weight, shown, replay)
    with _sigint_deferred(replay=not interrupted):
        if best is not None:
            for name, values in linear.layer_weights(best, network_spec(config)).items():
                session.model.get_layer(name).set_weights(values)
            _save_model(session.model, run.best_model_path(), optimizer=False)
            run.last_model_is_best()
            run.write_train_state(state)
    session.holds_best = best is not None
    return interrupted


# The LSTM stage: one cycle of the rate over LSTM_EPOCHS epochs, up to PEAK times the run's (_Schedule). Chosen on
# validation (sst2, sms_spam, ag_news, seed 42) against the constant rate with early stopping, which ran 8-15
# epochs: 5 epochs at 3x matched or beat it on every one (4 at 4x lost 0.6 points of the LSTM's on sst2).
LSTM_EPOCHS, PEAK = 5, 3.0
WARM_UP, LAST_SHARE = 0.3, 0.02  # the share of the cycle spent rising to the peak; the rate it ends at, of the peak
# The cycle's last epoch runs at a tenth of the peak rate or less. A network that has converged gains nothing in it
# (sst2, chnsenticorp: their best validation loss an epoch or two earlier); one still learning beats every epoch
# before it on the monitored score (still_learning), and the stage goes on at the run's rate, early stopping ending
# it. Emotion at 3,600 training rows, three seeds: the cycle alone left the published model at 82.8% on dev (seed
# 42), going on 90.0-90.5% (constant rate: 89.2-90.2%). No margin for chance: a one-standard-error margin on the
# last epoch's validation accuracy stopped one of those seeds 8 points short (its gain 0.9 errors of 400 texts).
# Going on costs epochs where val_loss still creeps down at the cycle's end (sms_spam 8 instead of 5, ag_news 10,
# the accuracy the same). Figures: bench/RESULTS.md, "The LSTM stage's schedule".
# Below CYCLE_MIN_ROWS training rows the stage has no cycle: the run's rate from its first epoch, early stopping
# ending it. One cycle lost 9.8 and 15.2 points of the published model on emotion's 1,000- and 2,000-row cuts (dev:
# 52.8% and 66.3% against 62.6% and 81.5% at the constant rate), where sms_spam, sst2, ag_news and chnsenticorp
# tied the constant rate at half its time (bench/small_lstm.py); the cycle that goes on was not measured there.
CYCLE_MIN_ROWS = 3_000


class _Schedule(keras.callbacks.Callback):
    """The LSTM stage's learning rate, step by step, and where the stage ends.

    First one cycle over ``epochs``: from the run's rate up to ``PEAK`` times it over the first ``WARM_UP`` of the
    cycle's steps, then straight down to ``LAST_SHARE`` of the peak (slanted: a short rise, a long fall). A high
    rate early moves the recurrent weights far in few epochs; the fall settles them. If the cycle's last epoch is
    still the stage's best on the monitored score (:func:`still_learning`) the stage goes on at the run's rate,
    early stopping ending it; else it ends with the cycle. ``epochs`` 0: no cycle, the run's rate from the start.
    Set from the epoch and the batch, and decided from the history, so a resumed stage follows the same schedule:
    past the cycle, it had gone on.
    """

    def __init__(self, config: Config, steps: int, state: TrainState, epochs: int) -> None:
        super().__init__()
        self.rate, self.steps, self.first, self.epochs = config.learning_rate, max(steps, 1), state.stage_start, epochs
        self.state, self.monitor = state, config.monitor
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch - self.first
        if self.epoch >= self.epochs:
            self.model.optimizer.learning_rate.assign(self.rate)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.epoch < self.epochs:
            self.model.optimizer.learning_rate.assign(self.at((self.epoch + batch / self.steps) / self.epochs))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.epoch == self.epochs - 1:
            last = {k: float(v) for k, v in (logs or {}).items()}
            if not still_learning(last, self.state.best, self.monitor):
                self.model.stop_training = True

    def at(self, done: float) -> float:
        """The rate once ``done`` (0 to 1) of the cycle's steps have run."""
        peak = self.rate * PEAK
        if done < WARM_UP:
            return self.rate + (peak - self.rate) * done / WARM_UP
        return peak * max(1.0 - (done - WARM_UP) / (1.0 - WARM_UP), LAST_SHARE)


def still_learning(last: dict[str, float], best: dict[str, float], monitor: str) -> bool:
    """Whether a cycle's last epoch, of logs ``last``, beat the stage's ``best`` epoch before it on ``monitor``."""
    return bool(best) and better(last, best, monitor)


def _flush_waiting(callback: _Checkpoint) -> None:
    """Writes the finished epochs that waited in memory, so that ``--resume`` starts from the latest."""
    if callback.best is not None or callback.last is not None:
        callback.flush()


def _next_stage(
    run: RunDir, model: keras.Model, state: TrainState, prior: np.ndarray | None = None, holds_best: bool = False
) -> None:
    """Moves to the next stage from the best weights so far; early stopping starts afresh.

    The stage keeps its own best epoch (``state.best`` starts empty): the LSTM's logits start at zero, and how
    much of them the published model takes is chosen on validation afterwards (:mod:`lstmcli.nn.blend`).
    """
    if not holds_best:  # the linear n-gram stage leaves its best weights in the model
        best = load_model(str(run.best_model_path()))
        for layer in model.layers:
            if layer.weights:
                layer.set_weights(best.get_layer(layer.name).get_weights())
    run.clear_stage_optimizer()  # the stage that ended: its optimizer is not the next one's
    state.stage, state.stage_start, state.wait, state.stopped_early = state.stage + 1, state.epoch, 0, False
    state.best = {}
    if prior is not None:  # the LSTM's own sigmoids start at the labels' log-odds, as the n-gram classifier's did
        start_bias(model, "output", prior)
    if not holds_best or prior is not None:  # else the linear stage's end wrote the model as it is, best and last
        _save_model(model, run.last_model_path())
    run.write_train_state(state)


def prior_logits(run: RunDir) -> np.ndarray:
    """The log-odds of each label among a multi-label run's training texts ``(labels,)``, clipped away from 0 and 1."""
    share = np.clip(run.read_prepared().train_y.mean(axis=0, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(share / (1 - share)).astype(np.float32)


def start_bias(model: keras.Model, layer_name: str, logits: np.ndarray) -> None:
    """Sets a dense layer's bias to ``logits``: its sigmoids then start at each label's share of the texts, and the
    first epochs learn the texts, not how rare each label is."""
    layer = model.get_layer(layer_name)
    kernel, _ = layer.get_weights()
    layer.set_weights([kernel, logits])


def _blend(run: RunDir, model: keras.Model, config: Config, state: TrainState) -> Blend | None:
    """Weighs both parts' logits in a staged model whose best epoch is the LSTM stage's, folding each weight into
    its part's output layer (so that every engine runs the blend unchanged); None for any other model."""
    network = network_spec(config)
    if network.ngram_classifier is None or state.history[state.best_epoch - 1].get("stage") != "lstm":
        return None
    val_x, val_y = _validation_rows(run)
    # Folded as weights.npz holds them (the same logits): the 200,001-row table is not copied whole for the blend.
    blend = fit_blend(linear.folded(export_weights(model, config), network), config, val_x, val_y)
    for name, weight in (
        (network.ngram_classifier.output.layer, blend.ngram_weight),
        (network.output.layer, blend.lstm_weight),
    ):
        layer = model.get_layer(name)
        layer.set_weights([w * np.float32(weight) for w in layer.get_weights()])
    return blend


def keep_engine_graph(run: RunDir, weights: dict[str, np.ndarray]) -> None:
    """Keeps the ONNX Runtime engine's graph of the published weights in the run, where onnx and onnxruntime are
    installed and the recurrent part takes part: prediction then starts a session at its first full batch of any
    stream, without building the graph (about a second, importing onnx) or finding it in the user's cache.

    The graph is named by the config the run holds, as prediction reads it: not training's, whose batch size and
    rate are the ones it came to where config.json says ``auto``."""
    config = run.read_config()
    if not ort.available() or Network(weights, config).lstm_silent:
        return
    try:
        model = ort.build(weights, config)
    except Exception:  # an onnx that cannot build it: prediction builds it, or runs in NumPy, as before
        return
    run.write_engine_graph(ort.digest(weights, config), model)


def _thresholds(run: RunDir, weights: dict[str, np.ndarray], config: Config) -> dict[str, Any]:
    """A multi-label run's decision thresholds, chosen on the published model's validation probabilities."""
    val_x, val_y = _validation_rows(run)
    network, chunk = Network(weights, config), chunk_rows(val_x.shape[1])
    probabilities = np.concatenate([network.proba(val_x[i : i + chunk]) for i in range(0, len(val_x), chunk)])
    return choose_thresholds(probabilities, val_y, config.seed).to_dict()


def _validation_rows(run: RunDir, most: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``most`` validation rows, padded ids ``(n, max_len)`` and labels ``(n,)``: enough for one weight."""
    if not run.is_sharded():
        prepared = run.read_prepared()
        return np.asarray(prepared.val_x[:most]), np.asarray(prepared.val_y[:most])
    xs, ys, n = [], [], 0
    for x, y in run.shard_arrays("val"):
        xs.append(np.asarray(x[: most - n]))
        ys.append(np.asarray(y[: most - n]))
        n += len(xs[-1])
        if n >= most:
            break
    return np.concatenate(xs), np.concatenate(ys)


def start_vectors(run: RunDir, config: Config) -> np.ndarray | None:
    """The vectors prepare kept for a new model's token embeddings, ``(vocab, dim)``, or None.

    Where training asks for another embedding size than that of the vectors ``--embeddings auto`` chose
    (``train --embedding-dim 8`` or ``--preset tutorial`` on a prepared run), a size the user asked for wins over
    the default's choice: the embeddings start from random, as Keras starts them, but for the words only the
    vectors brought (for prediction), which start at zero, since no training text will move them. Vectors asked
    for by name, file, ``--unlabeled`` or ``--init-from`` are kept, and a size that contradicts them is an error
    (:func:`start_embeddings`).
    """
    vectors = run.read_embeddings()
    if vectors is None or vectors.shape[1] == config.embedding_size:
        return vectors
    embeddings = (run.read_prepare_report() or {}).get("embeddings") or {}
    sources = embeddings.get("sources") or []
    if not sources or any(source.get("chosen") != "auto" for source in sources):
        return vectors
    rng = np.random.default_rng(config.seed)
    start = rng.uniform(-0.05, 0.05, (len(vectors), config.embedding_size)).astype(np.float32)
    start[0] = 0.0
    start[len(start) - int(embeddings.get("added_words", 0)) :] = 0.0
    return start


def _start(
    run: RunDir, config: Config, resume: bool, sizes: tuple[int, int, frozenset[str]], vectors: np.ndarray | None
) -> tuple[keras.Model, TrainState]:
    """A new model (its embeddings started from the pretrained ``vectors``, if any), or the checkpoint's; ``sizes``:
    the vocabulary, the classes and the layers training writes before reading (:func:`build_model`'s ``written``)."""
    if not resume:
        run.clear_checkpoint()
        model = build_model(config, *sizes)
        if vectors is not None:
            start_embeddings(model, config, vectors)
        return model, TrainState()
    if not run.has_checkpoint():
        raise RunDirError(
            f"nothing to resume in {run.path}: no interrupted training found; run 'lstmcli train' without --resume"
        )
    state = run.read_train_state()
    keras.utils.set_random_seed(config.seed + state.epoch)  # type: ignore[call-overload]
    try:
        model = load_model(str(run.last_model_path()))
    except Exception as exc:  # Keras raises many types for a damaged archive
        raise RunDirError(
            f"{run.last_model_path()} is damaged ({type(exc).__name__}); "
            "train again with --overwrite instead of --resume"
        ) from None
    return model, state


def _publish(run: RunDir, session: _Session, keep_checkpoint: bool) -> Blend | None:
    """Publishes the best model as its exported weights (weights.npz), with its history and the decision that
    chose it; the checkpoint keeps it as a Keras model only when the training was interrupted (for ``--resume``).

    The weights are written last: they make the run trained.
    """
    config, state, from_memory = session.config, session.state, session.best is not None
    if session.best is not None:  # the last stage's best epoch, kept in memory
        fitted, kept = session.best
        fitted.set_weights(kept)
        session.best = None  # the model holds them now: not kept twice through the blend
        del kept
        best = session.model
    else:
        best = load_model(str(run.best_model_path()))
    blend = _blend(run, best, config, state)
    if keep_checkpoint and (blend is not None or from_memory):
        _save_model(best, run.best_model_path(), optimizer=False)
    run.write_history(state.history)
    weights = (blend.ngram_weight, blend.lstm_weight, blend.scores) if blend else (None, None, None)
    record = TrainingRecord(state.best_epoch, config.monitor, state.epoch, *weights)
    run.write_training(dataclasses.replace(record, batch_size=config.batch_size, learning_rate=config.learning_rate))
    run.clear_results()
    run.write_config(session.given)
    exported = linear.folded(export_weights(best, config), network_spec(config))
    if config.multi_label:
        run.write_thresholds(_thresholds(run, exported, config))
    run.write_weights(exported, started_from=network_spec(config).embedding.key)
    keep_engine_graph(run, exported)
    if not keep_checkpoint:
        run.clear_checkpoint()
    return blend
