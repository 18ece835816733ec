"""The rules each command follows — locking, staging, presets, resume, multi-worker — for the CLI and notebooks.

``prepare``, ``train``, ``evaluate`` and ``predict`` take a run directory, a data file and settings named as
the Config fields (``epochs=3``, ``units=(64,)``), and return values. They never print; the CLI shows what they
return. TensorFlow is imported only by ``train``.

Example::

    from lstmcli import train, predict
    result = train("data.csv", "my-run", epochs=3)
    for p in predict("my-run", ["some text"]):
        print(p.label, p.probability)
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lstmcli.config import KEPT_BY_PRESETS, PREPROCESSING, PRESETS, Config, make_config
from lstmcli.errors import ConfigError
from lstmcli.rundir import RunDir, locked, resolve_run_dir, staged

if TYPE_CHECKING:
    from lstmcli.dataset.prepare import PrepareReport
    from lstmcli.decision import Decider
    from lstmcli.io.inputs import InputCounter, InputSpec
    from lstmcli.nn.fit import TrainProgress, TrainResult
    from lstmcli.nn.staging import NgramsAhead
    from lstmcli.predictor import Prediction

PathLike = str | Path
RowsProgress = Callable[[str, int, float], None]


class TrainHooks(Protocol):
    """What a display does around the steps before training (the CLI shows them; see :class:`NoHooks`)."""

    def preparing(self) -> AbstractContextManager[RowsProgress | None]:
        """Around prepare: yields its rows-per-second callback, or None."""
        ...

    def prepared(self, report: PrepareReport) -> None:
        """Prepare is done; training starts next."""

    def loading(self) -> AbstractContextManager[Any]:
        """Around TensorFlow's import, which takes seconds."""
        ...


class NoHooks:
    """Nothing shown: what a notebook gets."""

    def preparing(self) -> AbstractContextManager[RowsProgress | None]:
        return contextlib.nullcontext()

    def prepared(self, report: PrepareReport) -> None:
        pass

    def loading(self) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()


def run_dir_of(run_dir: PathLike | None) -> Path:
    """``run_dir`` if given, else ``$LSTMCLI_RUN_DIR``, else ``./lstmcli-run``."""
    return resolve_run_dir(Path(run_dir) if run_dir is not None else None)


def prepare(
    data: PathLike,
    run_dir: PathLike | None = None,
    *,
    preset: str | None = None,
    overwrite: bool = False,
    streaming: bool | None = None,
    progress: RowsProgress | None = None,
    input_format: str = "auto",
    **settings: Any,
) -> tuple[Config, PrepareReport]:
    """Cleans, tokenizes and splits a labelled table into a new run directory.

    Args:
        data: the labelled table, of a format of :mod:`lstmcli.io.formats`.
        run_dir: where the run goes (see :func:`run_dir_of`); a run already there is replaced only with
            ``overwrite``, and only once the new one is complete.
        preset: ``default`` or ``tutorial``; ``settings`` override it.
        streaming: read the file in chunks into shards; None decides by its size.
        progress: told ``(phase, rows, fraction of the file)`` while a large file streams.
        input_format: ``data``'s format; ``auto``: by its extension, else by its first line, else CSV.

    Returns:
        The resolved config (``auto`` values replaced) and what prepare read, dropped and chose.

    Raises:
        LstmcliError: the settings, the file or the run directory cannot be used.
    """
    from lstmcli.dataset.prepare import prepare as prepare_data

    config = make_config(preset or "default", **settings)
    path = run_dir_of(run_dir)
    with locked(path), staged(path, overwrite) as run:
        return prepare_data(Path(data), run, config, streaming, progress, input_format)


def train(
    data: PathLike | None = None,
    run_dir: PathLike | None = None,
    *,
    preset: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    streaming: bool | None = None,
    strategy: str = "auto",
    progress: TrainProgress | None = None,
    hooks: TrainHooks | None = None,
    input_format: str = "auto",
    **settings: Any,
) -> TrainResult:
    """Trains a run: from a CSV (prepared first, into a new run), or on the run directory's prepared data.

    Args:
        data: a labelled table to prepare first, or None to train the prepared run in ``run_dir``.
        preset: without ``data``, a preset whose model and training settings replace the run's own.
        resume: continue the interrupted training in ``run_dir`` (no ``data``).
        overwrite: train again a run directory that already holds a trained model.
        strategy: ``auto``, ``one``, ``mirrored`` or ``multi-worker`` (a prepared run, on every machine).
        progress: receives batch and epoch updates.
        hooks: what a display does around the steps before training (see :class:`TrainHooks`).
        input_format: ``data``'s format, as :func:`prepare` takes it.
        settings: Config fields; preprocessing ones need ``data``.

    Raises:
        LstmcliError: the settings contradict each other, or the data or run directory cannot be used.
    """
    from lstmcli.nn.distribute import check_strategy

    check_strategy(strategy)
    hooks = hooks or NoHooks()
    if strategy == "multi-worker" and data is not None:
        raise ConfigError(
            "--strategy multi-worker trains a prepared run: run 'lstmcli prepare DATA.csv' on every "
            "machine (or share the run directory), then the same 'lstmcli train --strategy "
            "multi-worker' on each"
        )
    if data is None and input_format != "auto":
        raise ConfigError("--input-format says how to read the data file: pass it too (lstmcli train DATA ...)")
    if data is None:
        return _train_prepared(run_dir_of(run_dir), preset, settings, overwrite, resume, strategy, progress, hooks)
    if resume:
        raise ConfigError("--resume continues the run already in --run-dir; leave out the CSV")
    config = make_config(preset or "default", **settings)  # bad settings fail before any work
    path = run_dir_of(run_dir)
    with locked(path), staged(path, overwrite) as run:

        def prepare_run(rows: RowsProgress | None) -> tuple[Config, PrepareReport]:
            from lstmcli.dataset.prepare import prepare as prepare_data  # in the child: pandas, 0.2 s and 78 MiB

            return prepare_data(Path(data), run, config, streaming, rows, input_format)

        with hooks.preparing() as rows:
            config, report, ngrams = _prepare_beside_import(prepare_run, rows, run, strategy)
        hooks.prepared(report)
        return _fit(run, config, False, progress, strategy, hooks, ngrams)


def _prepare_beside_import(
    prepare_run: Callable[[RowsProgress | None], tuple[Config, PrepareReport]],
    rows: RowsProgress | None,
    run: RunDir,
    strategy: str,
) -> tuple[Config, PrepareReport, NgramsAhead | None]:
    """Prepares while the trainer (TensorFlow: seconds) imports: where forking is safe, prepare and then the
    linear n-gram stage run in a child process (:mod:`lstmcli.dataset.child`: they overlap the import on two
    cores, and the trainer replays the stage's epochs); else prepare runs here, the import on a thread. Prepare's
    module (pandas, pyarrow) is imported where it runs: here it would delay the import's start by 0.2 s and stay
    resident (78 MiB) through the training, where the process's memory peaks."""
    from lstmcli.dataset.child import can_fork, run_in_child

    if not can_fork():
        _import_trainer_meanwhile()
        return (*prepare_run(rows), None)

    def prepare_and_fit_ngrams(progress: RowsProgress | None) -> tuple[Config, PrepareReport, NgramsAhead | None]:
        from lstmcli.nn.staging import fit_ahead

        config, report = prepare_run(progress)
        return config, report, fit_ahead(run, config) if strategy in ("auto", "one") else None

    return run_in_child(prepare_and_fit_ngrams, rows, _import_trainer_meanwhile)


def _train_prepared(
    path: Path,
    preset: str | None,
    settings: dict[str, Any],
    overwrite: bool,
    resume: bool,
    strategy: str,
    progress: TrainProgress | None,
    hooks: TrainHooks,
) -> TrainResult:
    from lstmcli.nn.distribute import writes_run_dir

    given = [k for k in settings if k in PREPROCESSING]
    if given:
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"{names} change preprocessing: pass the CSV too (lstmcli train DATA.csv ...)")
    run = RunDir(path)
    run.check("prepared")
    # A worker other than the chief never writes the run, which it may share with the chief: no lock.
    with locked(path) if writes_run_dir(strategy) else contextlib.nullcontext():
        if run.is_trained() and not (overwrite or resume):
            raise ConfigError(
                f"run directory {path} already holds a trained model; pass --overwrite to train it "
                "again, or --resume to continue an interrupted training"
            )
        if resume and run.is_trained() and not (run.has_checkpoint() or run.has_checkpoint_config()):
            raise ConfigError(_complete(run, path))
        config = _training_config(run, resume, preset, settings)
        return _fit(run, config, resume, progress, strategy, hooks)


def _complete(run: RunDir, path: Path) -> str:
    """What ``--resume`` says of a training that ended without interruption, and how to train longer."""
    config, record = run.read_config(), run.read_training()
    ran = f"{record.epochs_run} of {config.epochs} epochs" if record else "it ended"
    if record and record.epochs_run < config.epochs and config.early_stopping:
        ran = f"stopped early after {record.epochs_run} of {config.epochs} epochs"
        longer = f"--patience {config.patience * 2}, or --no-early-stopping"
    else:
        longer = f"--epochs {config.epochs * 2}"
    return (
        f"the training in {path} is complete ({ran}), so there is nothing to resume; to train longer, train it "
        f"again from the start: lstmcli train --run-dir {path} --overwrite {longer}"
    )


def _training_config(run: RunDir, resume: bool, preset: str | None, settings: dict[str, Any]) -> Config:
    """The prepared run's config (the interrupted training's own, when resuming) with a preset and settings."""
    config = run.read_checkpoint_config() if resume and run.has_checkpoint_config() else run.read_config()
    if preset is not None:
        values = preset_training(preset)
        if "embedding_dim" not in PRESETS[preset] and run.has_embeddings():
            del values["embedding_dim"]  # the start vectors' size, as prepare resolved it
        config = config.replace(**values)
    return config.replace(**settings)


def preset_training(preset: str) -> dict[str, Any]:
    """Every model and training setting of a preset, and its name: what re-applying it to a prepared run sets.

    Raises:
        ConfigError: the preset is unknown.
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset '{preset}'; presets are: {', '.join(PRESETS)}")
    kept = KEPT_BY_PRESETS  # the preprocessing settings, the seed and the n-gram hash
    values = {f.name: f.default for f in dataclasses.fields(Config) if f.name not in kept}
    return {**values, **{k: v for k, v in PRESETS[preset].items() if k not in kept}, "preset": preset}


def _import_trainer_meanwhile() -> None:
    """Starts importing the trainer (TensorFlow: seconds) on a thread while the data file is read and prepared;
    :func:`_fit`'s import of it then waits for that one. A failure is left for that import to raise."""

    def load() -> None:
        with contextlib.suppress(BaseException):
            import lstmcli.nn.fit  # noqa: F401

    threading.Thread(target=load, name="import-tensorflow", daemon=True).start()


def _fit(
    run: RunDir,
    config: Config,
    resume: bool,
    progress: TrainProgress | None,
    strategy: str,
    hooks: TrainHooks,
    ngrams: NgramsAhead | None = None,
) -> TrainResult:
    with hooks.loading():
        from lstmcli.nn.fit import train as fit
    return fit(run, config, resume=resume, progress=progress, strategy=strategy, ngrams_ahead=ngrams)


def evaluate(
    run_dir: PathLike | None = None, data: PathLike | None = None, encoding: str = "auto", **table: Any
) -> dict[str, Any]:
    """Scores a trained run on its validation part, or on another labelled table, and saves the metrics.

    Args:
        table: how to read ``data`` (see :func:`lstmcli.scoring.evaluate`): ``text_column``, ``label_column``
            (default: the run's, else obvious names), ``input_format`` (``auto``, or a format of
            :mod:`lstmcli.io.formats`) and ``header`` (None: as the run was prepared); and a multi-label run's
            ``decision``: ``threshold``, ``top_k`` and ``min_labels`` (None: as trained).

    Returns:
        ``accuracy``, ``loss``, ``macro_f1``, ``per_class``, ``confusion_matrix``, ``labels``, ``n``, ...

    Raises:
        LstmcliError: the run holds no trained model, or the data cannot be read.
    """
    from lstmcli.scoring import evaluate as score_run

    run = RunDir(run_dir_of(run_dir))
    metrics = score_run(run, Path(data) if data is not None else None, encoding, **table)
    run.write_metrics(metrics)
    return metrics


def predict_inputs(
    run_dir: PathLike | None, inputs: list[Path], spec: InputSpec, counter: InputCounter
) -> tuple[Decider, Iterator[tuple[Prediction, tuple[str, ...]]]]:
    """Labels the texts of files, directories, stdin or tables (see :class:`lstmcli.io.inputs.InputSpec`).

    Returns:
        The run's labelling rule (its labels, and a multi-label run's thresholds), and each text's prediction
        with the values of ``spec.keep_columns`` in its row, in input order, streaming.

    Raises:
        LstmcliError: the run holds no trained model, or an input cannot be read.
    """
    from lstmcli.io.inputs import read_rows
    from lstmcli.predictor import Predictor, predict_texts

    spec.check()
    predictor = Predictor(RunDir(run_dir_of(run_dir)))
    rows = read_rows(inputs, dataclasses.replace(spec, trained_column=predictor.config.text_column), counter)
    kept: collections.deque[tuple[str, ...]] = collections.deque()

    def texts() -> Iterator[tuple[str, str]]:
        for row in rows:
            kept.append(row.kept)  # predict_texts yields one prediction per text, in order
            yield row.source, row.text

    return predictor.decider, ((pred, kept.popleft()) for pred in predict_texts(predictor, texts()))


def predict(run_dir: PathLike | None, texts: Iterable[str]) -> Iterator[Prediction]:
    """Labels texts with a trained run, in order, streaming in batches (NumPy only, no TensorFlow).

    Raises:
        LstmcliError: the run holds no trained model.
    """
    from lstmcli.predictor import Predictor, predict_texts

    predictor = Predictor(RunDir(run_dir_of(run_dir)))
    return predict_texts(predictor, (("", text) for text in texts))
