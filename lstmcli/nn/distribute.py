"""Where training runs: one device, every local GPU, or several machines (``tf.distribute``).

``--strategy`` picks a :class:`tf.distribute.Strategy`; the model is built and compiled in its scope, and
``--batch-size`` is per replica, so one step trains on ``batch_size * replicas`` texts. Across machines
(``multi-worker``), every machine runs the same command with its own ``TF_CONFIG``; each reads the whole
prepared data and keeps its share of every batch (tf.data auto-sharding by DATA). Only the chief writes the
run directory; the other workers write their checkpoints to a temporary directory that is removed at exit,
and take the chief's weights, optimizer state and epoch when training starts, so ``--resume`` continues from
the chief's ``checkpoint/``.

Nothing here imports TensorFlow at module level: the CLI asks :func:`writes_run_dir` before loading it.
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.errors import ConfigError, LstmcliError
from lstmcli.rundir import RunDir, TrainState

STRATEGIES = ("auto", "one", "mirrored", "multi-worker")
TF_CONFIG = "TF_CONFIG"


@dataclass(frozen=True)
class Task:
    """This process's place in the cluster ``TF_CONFIG`` describes."""

    type: str
    index: int
    workers: int  # chief and workers together
    has_chief: bool  # the cluster names a "chief" task; else worker 0 is the chief

    @property
    def is_chief(self) -> bool:
        return self.type == "chief" or (self.type == "worker" and self.index == 0 and not self.has_chief)


def check_strategy(name: str) -> None:
    """Raises ConfigError for an unknown ``--strategy``, or ``multi-worker`` without a usable ``TF_CONFIG``."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy '{name}'; strategies are: {', '.join(STRATEGIES)}")
    if name == "multi-worker" and cluster_task() is None:
        raise ConfigError(
            "--strategy multi-worker needs the TF_CONFIG variable on every machine, e.g. "
            'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\''
        )


def cluster_task(environ: dict[str, str] | None = None) -> Task | None:
    """This process's task from ``TF_CONFIG``, or None when the variable is unset or empty.

    Raises:
        ConfigError: ``TF_CONFIG`` is not the JSON TensorFlow expects.
    """
    text = (os.environ if environ is None else environ).get(TF_CONFIG, "").strip()
    if not text:
        return None
    try:
        spec = json.loads(text)
        cluster, task = spec["cluster"], spec["task"]
        kind, index = str(task["type"]), int(task["index"])
        members = {name: list(addresses) for name, addresses in cluster.items()}
        known = 0 <= index < len(members[kind])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise ConfigError(
            "TF_CONFIG is not valid: expected JSON such as "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
            '"index": 0}}'
        ) from None
    if not known or kind not in ("chief", "worker"):
        raise ConfigError(
            f"TF_CONFIG's task {kind} {index} is not a chief or worker of its cluster "
            f"({', '.join(f'{k}: {len(v)}' for k, v in members.items())})"
        )
    workers = len(members.get("chief", [])) + len(members.get("worker", []))
    return Task(kind, index, workers, "chief" in members)


def writes_run_dir(strategy: str) -> bool:
    """Whether this process writes the run directory: always, except a non-chief worker across machines."""
    task = cluster_task() if strategy == "multi-worker" else None
    return task is None or task.is_chief


@dataclass
class Placement:
    """A chosen strategy and what follows from it for one process."""

    strategy: Any  # tf.distribute.Strategy
    name: str  # the strategy actually used: one, mirrored or multi-worker
    replicas: int  # replicas in sync, over every machine
    task: Task | None  # None unless multi-worker
    failures: tuple[type[BaseException], ...] = ()  # errors that mean another machine failed

    @property
    def is_chief(self) -> bool:
        return self.task is None or self.task.is_chief

    def output(self, run: RunDir) -> RunDir:
        """Where this process writes: the run itself on the chief, a temporary directory on other workers."""
        if self.is_chief:
            return run
        path = Path(tempfile.mkdtemp(prefix="lstmcli-worker-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        return RunDir(path)

    def distribute(self, ds: Any) -> Any:
        """Tells tf.data to shard by element, as generator-fed datasets have no files to split by."""
        from lstmcli.nn.backend import tf

        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options)

    def sync(self, model: Any, state: TrainState, run: RunDir, config: Config) -> TrainState:
        """Across machines, starts every worker from the chief's weights, optimizer state and training state.

        Call it in the strategy's scope, after the chief loaded its checkpoint (``--resume``) and the others
        built a fresh model. It first checks that every machine prepared the same data with the same settings.

        Returns:
            The training state: the chief's own, rebuilt from the chief's numbers on the other workers.

        Raises:
            ConfigError: the machines' runs differ.
        """
        if self.task is None:
            return state
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        try:
            self._check_same(_fingerprint(model, run, config))
            for variable in [*model.weights, *model.optimizer.variables]:
                variable.assign(self._sum(np.asarray(variable.numpy()), chief_only=True))
            chiefs = self._sum(_state_numbers(state), chief_only=True)
        except self.failures as exc:
            raise LstmcliError(
                f"another machine stopped before training started ({_first_line(exc)}); "
                "see its output, then run the same command on every machine"
            ) from None
        if self.is_chief:
            return state
        state = _state_from(chiefs)
        if state.epoch:  # the chief resumed with this seed: shuffles must match for the workers' shares
            from lstmcli.nn.backend import keras

            keras.utils.set_random_seed(config.seed + state.epoch)
        return state

    def _check_same(self, fingerprint: np.ndarray) -> None:
        differs = not np.array_equal(self._sum(fingerprint, chief_only=True), fingerprint)
        if self._sum(np.array([float(differs)]), chief_only=False)[0] > 0:
            raise ConfigError(
                "the machines' runs differ from the chief's (prepared data, settings or model); "
                "run the same 'lstmcli prepare' on every machine or share the run directory, and "
                "give every machine the same train command"
            )

    def _sum(self, value: np.ndarray, chief_only: bool) -> np.ndarray:
        """``value`` summed over the workers, one share per worker (the chief's alone with ``chief_only``)."""
        from lstmcli.nn.backend import tf

        calls = itertools.count()

        def share(context: Any) -> Any:
            first = next(calls) == 0  # one share per worker, whatever its number of local replicas
            return tf.constant(value if first and (self.is_chief or not chief_only) else np.zeros_like(value))

        values = self.strategy.experimental_distribute_values_from_function(share)
        return np.asarray(self.strategy.reduce("SUM", values, axis=None))


def place(name: str) -> Placement:
    """Creates the strategy ``--strategy`` names; call it before any other TensorFlow work.

    ``auto`` is ``mirrored`` with several local GPUs, else one device. ``multi-worker`` reads ``TF_CONFIG``
    and waits until every machine it lists has started.

    Raises:
        ConfigError: unknown strategy, or multi-worker without ``TF_CONFIG``.
    """
    check_strategy(name)
    from lstmcli.nn.backend import tf

    if name == "multi-worker":
        strategy = _multi_worker_strategy()
        return Placement(strategy, name, strategy.num_replicas_in_sync, cluster_task(), (tf.errors.OpError,))
    if name == "mirrored" or (name == "auto" and len(tf.config.list_physical_devices("GPU")) > 1):
        strategy = tf.distribute.MirroredStrategy()
        return Placement(strategy, "mirrored", strategy.num_replicas_in_sync, None)
    return Placement(tf.distribute.get_strategy(), "one", 1, None)


def _multi_worker_strategy() -> Any:
    from lstmcli.nn.backend import tf

    class KerasMultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        """MultiWorkerMirroredStrategy taking the two reductions Keras 3's ``fit`` asks of it.

        ``fit`` reduces a whole ``(ids, labels)`` batch at once to learn the input shapes, and reduces scalar
        metrics along axis 0; across workers the collective ops reject both. One worker's part of the batch
        shows the shapes as well, and a scalar is averaged over the replicas without an axis.
        """

        def reduce(self, reduce_op: Any, value: Any, axis: Any) -> Any:
            if isinstance(value, (tuple, list, dict)):
                return tf.nest.map_structure(lambda v: self.experimental_local_results(v)[0], value)
            if axis is not None and self.experimental_local_results(value)[0].shape.rank == 0:
                axis = None
            return super().reduce(reduce_op, value, axis)

    return KerasMultiWorkerStrategy()


def _fingerprint(model: Any, run: RunDir, config: Config) -> np.ndarray:
    """Numbers every machine's run must share: settings, data, vocabulary, labels and model size."""

    def digest(text: str) -> float:
        return float(int(hashlib.sha256(text.encode()).hexdigest()[:12], 16))  # 48 bits: exact in float64

    data = run.read_manifest().get("data_sha256", "")
    return np.array(
        [
            digest(config.to_json()),
            digest(str(data)),
            len(run.read_vocab()),
            len(run.read_labels()),
            len(model.weights),
            len(model.optimizer.variables),
        ],
        dtype=np.float64,
    )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _state_numbers(state: TrainState) -> np.ndarray:
    """The chief's state as numbers to share: the best epoch's scores, not its whole logs nor the history."""
    return np.array(
        [
            state.epoch,
            state.best_epoch,
            state.wait,
            float(state.stopped_early),
            state.best.get("val_loss", 0.0),
            state.stage,
            state.stage_start,
            state.best.get("val_accuracy", 0.0),
        ],
        dtype=np.float64,
    )


def _state_from(numbers: np.ndarray) -> TrainState:
    """A worker's training state from the chief's numbers (its history stays empty: workers publish nothing).

    The best epoch's val_loss and val_accuracy are what either monitor compares the next epochs with.
    """
    epoch, best_epoch, wait = (int(round(v)) for v in numbers[:3])
    return TrainState(
        epoch=epoch,
        best_epoch=best_epoch,
        best={"val_loss": float(numbers[4]), "val_accuracy": float(numbers[7])} if best_epoch else {},
        wait=wait,
        stopped_early=bool(numbers[3]),
        history=[{} for _ in range(epoch)],
        stage=int(round(numbers[5])),
        stage_start=int(round(numbers[6])),
    )
