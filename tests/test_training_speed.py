"""What makes training fast without changing what it computes: sparse Adam updates of embedding tables, epochs
batched in NumPy, and checkpoints written from memory at most every ``CHECKPOINT_SECONDS``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_rows, training_batches, write_csv

from lstmcli import rundir
from lstmcli.text.batching import bucket_boundaries, count_batches, epoch_batches

TINY = {"epochs": 6, "ngram_epochs": 3, "embedding_dim": 8, "units": (8,), "dense_units": 8, "batch_size": 16}


def _fit_embedding(optimizer: object, batches: list[list[list[int]]], rows: int = 6) -> list[np.ndarray]:
    from lstmcli.nn.backend import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((3,), dtype="int32"),
            keras.layers.Embedding(rows, 4),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    for ids in batches:
        model.train_on_batch(np.array(ids), np.array([0, 1]))
    return model.get_weights()  # type: ignore[no-any-return]


def test_sparse_adam_is_adam_when_every_row_is_looked_up_once_per_batch() -> None:
    from lstmcli.nn.backend import keras
    from lstmcli.nn.optimizer import SparseAdam

    batches = [[[0, 1, 2], [3, 4, 5]], [[5, 3, 1], [0, 2, 4]], [[4, 0, 5], [2, 1, 3]]]
    dense = _fit_embedding(keras.optimizers.Adam(0.01), batches)
    sparse = _fit_embedding(SparseAdam(0.01), batches)
    for a, b in zip(dense, sparse, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_sparse_adam_moves_only_the_rows_a_batch_looks_up_and_sums_repeats() -> None:
    from lstmcli.nn.backend import keras
    from lstmcli.nn.optimizer import SparseAdam

    keras.utils.set_random_seed(1)
    table = keras.Variable(np.random.default_rng(0).normal(size=(5, 3)).astype("float32"))
    optimizer = SparseAdam(0.1)
    optimizer.build([table])
    import tensorflow as tf

    # Row 1 is looked up twice: Adam's first step moves it by lr * sign of its summed gradient, +0.5 - 2.0 < 0.
    gradient = tf.IndexedSlices(
        tf.constant([[0.5, 1.0, -1.0], [-2.0, 1.0, 1.0], [1.0, 1.0, 1.0]]), tf.constant([1, 1, 3])
    )
    before = table.numpy().copy()
    optimizer.apply([gradient], [table])
    moved = table.numpy() - before
    np.testing.assert_array_equal(moved[[0, 2, 4]], 0.0)
    np.testing.assert_allclose(moved[1], [0.1, -0.1, 0.0], atol=1e-5)  # -1.5 -> +0.1; 2.0 -> -0.1; 0 stays
    np.testing.assert_allclose(moved[3], [-0.1, -0.1, -0.1], atol=1e-5)


def test_models_train_with_sparse_adam_and_load_with_it(tmp_path: Path) -> None:
    from lstmcli.config import make_config
    from lstmcli.nn.model import build_model, load_model
    from lstmcli.nn.optimizer import SparseAdam

    model = build_model(make_config("default", embedding_dim=8, units=(8,), dense_units=8), 50, 3)
    assert isinstance(model.optimizer, SparseAdam)
    model.save(tmp_path / "m.keras")
    assert isinstance(load_model(str(tmp_path / "m.keras")).optimizer, SparseAdam)


@pytest.mark.parametrize("grouped", [True, False])
def test_epoch_batches_cover_every_row_once_in_buckets_and_reshuffle(grouped: bool) -> None:
    lengths = np.random.default_rng(3).integers(1, 40, size=1003)
    boundaries = bucket_boundaries(lengths, 40) if grouped else []
    rng = np.random.default_rng(7)
    first, second = (epoch_batches(lengths, boundaries, 64, rng) for _ in range(2))
    for batches in (first, second):
        rows = np.concatenate([r for r, _ in batches])
        assert sorted(rows.tolist()) == list(range(len(lengths)))
        assert len(batches) == count_batches(lengths, boundaries, 64)
        for r, width in batches:
            assert 1 <= len(r) <= 64 and width == lengths[r].max()
            assert len(set(np.searchsorted(boundaries, lengths[r], side="right").tolist())) == 1
    assert [r.tolist() for r, _ in first] != [r.tolist() for r, _ in second]
    again = epoch_batches(lengths, boundaries, 64, np.random.default_rng(7))
    assert [r.tolist() for r, _ in again] == [r.tolist() for r, _ in first]
    in_order = epoch_batches(lengths, boundaries, 64, None)
    assert [r.tolist() for r, _ in in_order] == [r.tolist() for r, _ in epoch_batches(lengths, boundaries, 64, None)]


class _StopAt:
    """A progress display whose Ctrl-C arrives once ``epoch`` has ended."""

    def __init__(self, epoch: int) -> None:
        self.at = epoch

    def start(self, epochs: int, initial_epoch: int, steps: int) -> None:
        pass

    def batch(self, step: int, logs: dict[str, float]) -> None:
        pass

    def epoch(self, epoch: int, logs: dict[str, float], improved: bool, stage: str = "") -> None:
        if epoch == self.at:
            raise KeyboardInterrupt


def test_epochs_that_wait_in_memory_are_written_on_ctrl_c_and_resume_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lstmcli import train
    from lstmcli.nn import fit

    saves: list[str] = []
    save = fit._save_model
    monkeypatch.setattr(fit, "CHECKPOINT_SECONDS", 1e9)
    monkeypatch.setattr(
        fit, "_save_model", lambda model, path, **kw: (saves.append(Path(path).name), save(model, path, **kw))
    )
    data = write_csv(tmp_path / "t.csv", make_rows(30))
    run_dir = tmp_path / "run"
    result = train(data, run_dir, progress=_StopAt(5), early_stopping=False, **TINY)  # type: ignore[arg-type]
    assert result.interrupted
    # Epochs 1-3 (the n-gram stage, in NumPy) were written once, at its end (the best model, the last one a link to
    # it); epochs 4 and 5 of the LSTM stage waited in memory, and Ctrl-C wrote them.
    state = json.loads((run_dir / rundir.CHECKPOINT_DIR / rundir.TRAIN_STATE).read_text())
    assert state["epoch"] == 5 and len(state["history"]) == 5
    assert saves.count(rundir.LAST_MODEL) == 1
    saves.clear()
    resumed = train(run_dir=run_dir, resume=True)
    assert [row["epoch"] for row in resumed.history] == list(range(1, 7))
    # Epoch 6 ends the last stage: the best weights go from memory into weights.npz; no Keras model is saved.
    assert saves == []


def test_a_resumed_stage_goes_on_with_its_optimizers_steps_and_moments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The LSTM stage fits a model of its own, whose optimizer the whole network's last.keras does not hold: Ctrl-C
    keeps it beside the checkpoint, and the resumed stage's Adam goes on counting its steps (not afresh)."""
    from lstmcli import train
    from lstmcli.nn import fit

    fitted: list[object] = []
    ready = fit.ready_to_fit
    monkeypatch.setattr(fit, "ready_to_fit", lambda model: (fitted.append(model), ready(model)))
    data = write_csv(tmp_path / "t.csv", make_rows(30))
    run_dir = tmp_path / "run"
    stopped = train(data, run_dir, progress=_StopAt(5), early_stopping=False, **TINY)  # type: ignore[arg-type]
    assert stopped.interrupted
    two_epochs = int(fitted[-1].optimizer.iterations.numpy())  # type: ignore[attr-defined]  # LSTM epochs 4 and 5
    assert two_epochs > 0 and rundir.RunDir(run_dir).read_stage_optimizer() is not None
    train(run_dir=run_dir, resume=True)  # epoch 6
    assert int(fitted[-1].optimizer.iterations.numpy()) == two_epochs * 3 // 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("rows", "batch", "rate"),
    [(100, 32, 0.001414), (4_000, 64, 0.002), (6_228, 128, 0.002828), (10_240, 256, 0.004), (2_000_000, 256, 0.004)],
)
def test_auto_batch_size_gives_forty_batches_an_epoch_within_32_to_256(rows: int, batch: int, rate: float) -> None:
    from lstmcli.config import make_config

    resolved = make_config("default").for_training(rows)
    assert (resolved.batch_size, resolved.learning_rate) == (batch, rate)
    assert make_config("default", batch_size=64).for_training(rows).learning_rate == 0.002  # the rate follows it
    given = make_config("default", batch_size=48, learning_rate=0.01).for_training(rows)
    assert (given.batch_size, given.learning_rate) == (48, 0.01)
    assert make_config("tutorial").for_training(rows).batch_size == 64  # the article's, whatever the rows


def test_a_trained_run_records_the_batch_size_and_rate_it_trained_with(tmp_path: Path) -> None:
    from lstmcli import train
    from lstmcli.rundir import RunDir

    data = write_csv(tmp_path / "t.csv", make_rows(30))
    settings = {k: v for k, v in TINY.items() if k != "batch_size"}
    train(data, tmp_path / "run", epochs=2, ngram_epochs=1, **{k: v for k, v in settings.items() if "epochs" not in k})
    run = RunDir(tmp_path / "run")
    record = run.read_training()
    assert record is not None and (record.batch_size, record.learning_rate) == (32, 0.001414)  # the smallest batch
    # config.json keeps auto: trained again with another batch size, the rate follows it
    assert (run.read_config().batch_size, run.read_config().learning_rate) == (0, 0.0)
    train(run_dir=tmp_path / "run", overwrite=True, epochs=2, ngram_epochs=1, batch_size=64)
    record = run.read_training()
    assert record is not None and (record.batch_size, record.learning_rate) == (64, 0.002)


def test_epochs_1_on_streamed_data_trains_one_epoch_in_all(tmp_path: Path) -> None:
    from lstmcli import train
    from lstmcli.rundir import RunDir

    data = write_csv(tmp_path / "t.csv", make_rows(30))
    settings = {k: v for k, v in TINY.items() if "epochs" not in k}
    result = train(data, tmp_path / "run", streaming=True, epochs=1, **settings)
    assert RunDir(tmp_path / "run").is_sharded()
    assert result.epochs_run == 1 and [row["stage"] for row in result.history] == ["ngrams"]


def test_fit_takes_the_sparse_path_a_row_no_batch_looks_up_stays_put() -> None:
    from lstmcli.nn.backend import keras
    from lstmcli.nn.optimizer import SparseAdam

    def rows_after(optimizer: object) -> np.ndarray:
        keras.utils.set_random_seed(1)
        model = keras.Sequential(
            [
                keras.Input((2,), dtype="int32"),
                keras.layers.Embedding(6, 4),
                keras.layers.Flatten(),
                keras.layers.Dense(2),
            ]
        )
        model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.train_on_batch(np.array([[0, 1], [2, 3]]), np.array([0, 1]))
        before = model.get_weights()[0].copy()
        model.train_on_batch(np.array([[4, 5], [4, 5]]), np.array([0, 1]))  # rows 0-3 not looked up
        return model.get_weights()[0][:4] - before[:4]  # type: ignore[no-any-return]

    assert np.abs(rows_after(keras.optimizers.Adam(0.01))).max() > 1e-4  # dense Adam's momentum moves them
    np.testing.assert_array_equal(rows_after(SparseAdam(0.01)), 0.0)


def test_the_tutorial_keeps_keras_adam_and_nothing_is_xla_compiled() -> None:
    from lstmcli.config import make_config
    from lstmcli.nn.backend import keras
    from lstmcli.nn.model import build_model
    from lstmcli.nn.optimizer import SparseAdam

    tutorial = build_model(make_config("tutorial", embedding_dim=8, units=(8, 8)), 50, 3)
    assert type(tutorial.optimizer) is keras.optimizers.Adam and not tutorial.jit_compile
    default = build_model(make_config("default", embedding_dim=8, units=(8,), dense_units=8), 50, 3)
    assert isinstance(default.optimizer, SparseAdam) and not default.jit_compile


def test_a_resumed_training_shuffles_its_epochs_as_an_uninterrupted_one() -> None:
    from lstmcli.config import make_config
    from lstmcli.nn.data import make_dataset

    x = np.random.default_rng(0).integers(1, 50, size=(200, 12)).astype(np.int32)
    y = np.arange(200, dtype=np.int32) % 3
    config = make_config("default", batch_size=16)

    def epochs(first: int, n: int) -> list[list[int]]:
        ds, _ = make_dataset(x, y, config, shuffle=True, first_epoch=first)
        return [[int(v) for _, labels in ds for v in labels.numpy()] for _ in range(n)]

    whole = epochs(0, 3)
    assert whole[0] != whole[1] != whole[2]
    assert epochs(2, 1) == whole[2:]  # resumed after two epochs: the third epoch's order


def test_the_lstm_stage_runs_one_cycle_of_the_rate_then_the_runs_rate() -> None:
    from lstmcli.config import make_config
    from lstmcli.nn import fit
    from lstmcli.rundir import TrainState

    config = make_config("default", learning_rate=0.002)
    schedule = fit._Schedule(config, steps=10, state=TrainState(stage_start=3), epochs=fit.LSTM_EPOCHS)
    rates = [schedule.at(done) for done in np.linspace(0.0, 1.0, 101)]
    top = int(np.argmax(rates))
    assert rates[0] == pytest.approx(0.002) and rates[top] == pytest.approx(0.002 * fit.PEAK)
    assert top == round(100 * fit.WARM_UP)
    assert all(a <= b for a, b in zip(rates[:top], rates[1 : top + 1], strict=True))  # up, then down
    assert all(a >= b for a, b in zip(rates[top:], rates[top + 1 :], strict=False))
    assert rates[-1] == pytest.approx(0.002 * fit.PEAK * fit.LAST_SHARE)


@pytest.mark.parametrize(
    ("last", "best", "monitor", "learning"),
    [
        ({"val_loss": 0.56, "val_accuracy": 0.77}, {"val_loss": 0.61, "val_accuracy": 0.75}, "val_loss", True),
        ({"val_loss": 0.45, "val_accuracy": 0.80}, {"val_loss": 0.42, "val_accuracy": 0.81}, "val_loss", False),
        ({"val_loss": 0.45, "val_accuracy": 0.82}, {"val_loss": 0.42, "val_accuracy": 0.81}, "val_accuracy", True),
        ({"val_loss": 0.40, "val_accuracy": 0.81}, {"val_loss": 0.42, "val_accuracy": 0.81}, "val_accuracy", True),
        ({"val_loss": 0.42, "val_accuracy": 0.81}, {"val_loss": 0.42, "val_accuracy": 0.81}, "val_loss", False),
        ({"val_loss": 0.40, "val_accuracy": 0.90}, {}, "val_loss", False),  # no epoch before it in the stage
    ],
)
def test_a_cycle_still_learning_is_one_whose_last_epoch_is_its_best_on_the_monitored_score(
    last: dict[str, float], best: dict[str, float], monitor: str, learning: bool
) -> None:
    from lstmcli.nn import fit

    assert fit.still_learning(last, best, monitor) is learning


def _lstm_rates(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float]]:
    """Records the LSTM stage's learning rate at each of its epochs' ends (the epoch's last batch's)."""
    from lstmcli.nn import fit

    rates: list[tuple[int, float]] = []
    end = fit._Schedule.on_epoch_end

    def recorded(self: fit._Schedule, epoch: int, logs: dict[str, float] | None = None) -> None:
        rates.append((epoch + 1, round(float(self.model.optimizer.learning_rate.numpy()), 8)))
        end(self, epoch, logs)

    monkeypatch.setattr(fit._Schedule, "on_epoch_end", recorded)
    return rates


def test_the_lstm_stage_ends_with_its_cycle_once_it_stops_learning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lstmcli import train
    from lstmcli.nn import fit

    monkeypatch.setattr(fit, "LSTM_EPOCHS", 2)
    monkeypatch.setattr(fit, "CYCLE_MIN_ROWS", 0)
    asked: list[tuple[dict[str, float], dict[str, float], str]] = []
    monkeypatch.setattr(fit, "still_learning", lambda *args: asked.append(args) or False)
    data = write_csv(tmp_path / "t.csv", make_rows(20))
    result = train(data, tmp_path / "run", early_stopping=False, **{**TINY, "ngram_epochs": 2})  # type: ignore[arg-type]
    assert [row["stage"] for row in result.history] == ["ngrams", "ngrams", "lstm", "lstm"]  # --epochs 6 allowed more
    lstm = [row for row in result.history if row["stage"] == "lstm"]
    # asked once, at the cycle's last epoch: its logs against the stage's best epoch before it, on the run's monitor
    (last, best, monitor), first = asked[0], lstm[0]
    assert len(asked) == 1 and monitor == "val_loss"
    assert last["val_loss"] == pytest.approx(lstm[1]["val_loss"]) and best["val_loss"] == first["val_loss"]
    assert not result.stopped_early and result.epochs_run == 4


def test_a_cycle_still_learning_goes_on_at_the_runs_rate_and_resumes_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the cycle the stage runs at the run's rate up to --epochs; a run interrupted in the cycle or after it
    resumes on the same rates, epoch by epoch, as one that ran through."""
    from lstmcli import train
    from lstmcli.nn import fit

    monkeypatch.setattr(fit, "LSTM_EPOCHS", 2)
    monkeypatch.setattr(fit, "CYCLE_MIN_ROWS", 0)
    monkeypatch.setattr(fit, "still_learning", lambda *args: True)
    rates = _lstm_rates(monkeypatch)
    data = write_csv(tmp_path / "t.csv", make_rows(20))
    settings = {**TINY, "epochs": 7, "ngram_epochs": 2}
    whole = train(data, tmp_path / "whole", early_stopping=False, **settings)  # type: ignore[arg-type]
    assert [row["stage"] for row in whole.history] == ["ngrams"] * 2 + ["lstm"] * 5
    through, rate = list(rates), _run_rate(tmp_path / "whole")
    assert [r for _, r in through[2:]] == [rate] * 3  # after the cycle: the run's rate
    assert through[0][1] > rate * fit.PEAK / 2 and through[1][1] < rate  # the cycle: up to the peak, then down
    for stop in (3, 5):  # in the cycle, and after it
        rates.clear()
        run_dir = tmp_path / f"stopped-{stop}"
        stopped = train(data, run_dir, progress=_StopAt(stop), early_stopping=False, **settings)  # type: ignore[arg-type]
        assert stopped.interrupted
        resumed = train(run_dir=run_dir, resume=True)
        assert [row["epoch"] for row in resumed.history] == list(range(1, 8))
        assert rates == through


def test_with_few_training_rows_the_lstm_stage_keeps_its_rate_for_every_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below CYCLE_MIN_ROWS rows no cycle: the run's rate from the stage's first epoch to --epochs (or early
    stopping), and the cycle's end decides nothing."""
    from lstmcli import train
    from lstmcli.nn import fit

    monkeypatch.setattr(fit, "LSTM_EPOCHS", 2)
    monkeypatch.setattr(fit, "still_learning", lambda *args: pytest.fail("no cycle, nothing to decide"))
    rates = _lstm_rates(monkeypatch)
    data = write_csv(tmp_path / "t.csv", make_rows(20))
    result = train(data, tmp_path / "run", early_stopping=False, **{**TINY, "ngram_epochs": 2})  # type: ignore[arg-type]
    stages = [row["stage"] for row in result.history]
    assert stages == ["ngrams", "ngrams"] + ["lstm"] * (TINY["epochs"] - 2)  # type: ignore[operator]
    assert [r for _, r in rates] == [_run_rate(tmp_path / "run")] * (TINY["epochs"] - 2)  # type: ignore[operator]


def _run_rate(run_dir: Path) -> float:
    from lstmcli.rundir import RunDir

    record = RunDir(run_dir).read_training()
    assert record is not None
    return round(record.learning_rate, 8)


def test_the_lstm_stage_traces_its_training_step_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The optimizer's and the metric's variables exist before fit: created in the first step, TensorFlow would
    trace that step a second time to lift them out (a second or more of the first epoch)."""
    from lstmcli import train
    from lstmcli.nn.backend import keras

    traced: list[str] = []
    step = keras.Model.train_step

    def counted(self: object, data: object) -> object:
        traced.append(self.name)  # type: ignore[attr-defined]
        return step(self, data)

    monkeypatch.setattr(keras.Model, "train_step", counted)
    data = write_csv(tmp_path / "t.csv", make_rows(20))
    train(data, tmp_path / "run", early_stopping=False, **{**TINY, "ngram_epochs": 2})  # type: ignore[arg-type]
    assert traced == ["lstmcli_lstm"]  # the n-gram stage trains in NumPy; the LSTM stage's step traced once


def test_the_linear_stage_end_saves_the_keras_model_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The n-gram stage's best is the checkpoint's best and last model at once: one save, its last a link to it,
    and the next stage adds no save before its own epochs (the last stage's best is published from memory)."""
    from lstmcli import train
    from lstmcli.nn import fit

    saved: list[str] = []
    save = fit._save_model

    def counted(model: object, path: Path, optimizer: bool = True) -> None:
        saved.append(path.name)
        save(model, path, optimizer)  # type: ignore[arg-type]

    monkeypatch.setattr(fit, "_save_model", counted)
    params: list[int] = []
    start = fit._Checkpoint.on_epoch_begin

    def first_lstm_epoch(self: fit._Checkpoint, epoch: int, logs: object = None) -> None:
        if not params:  # the checkpoint the LSTM stage starts from, as a crash there would leave it
            run = self.run
            params.append(fit.load_model(str(run.last_model_path())).count_params())
            assert run.read_train_state().stage == 1 and run.has_checkpoint()
        start(self, epoch, logs)  # type: ignore[arg-type]

    monkeypatch.setattr(fit._Checkpoint, "on_epoch_begin", first_lstm_epoch)
    data = write_csv(tmp_path / "t.csv", make_rows(20))
    train(data, tmp_path / "run", early_stopping=False, **{**TINY, "ngram_epochs": 2})  # type: ignore[arg-type]
    assert saved == ["best.keras"]
    assert params and params[0] > 0


def test_an_epoch_that_improves_copies_the_weights_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between checkpoint writes an epoch's weights wait in memory; an improving epoch is both the best and the last,
    so they are copied once, not twice (a copy of the whole network, tables included)."""
    from lstmcli import train
    from lstmcli.nn import fit
    from lstmcli.nn.backend import keras

    copies: list[int] = []
    get_weights = keras.Model.get_weights

    def counted(self: object) -> object:
        copies.append(1)
        return get_weights(self)

    monkeypatch.setattr(fit, "CHECKPOINT_SECONDS", 1e9)
    monkeypatch.setattr(keras.Model, "get_weights", counted)
    data = write_csv(tmp_path / "t.csv", make_rows(20))
    result = train(data, tmp_path / "run", early_stopping=False, **{**TINY, "ngram_epochs": 2})  # type: ignore[arg-type]
    lstm_epochs = sum(1 for row in result.history if row["stage"] == "lstm")
    assert lstm_epochs == 4 and len(copies) <= lstm_epochs  # the first LSTM epoch always improves


@pytest.mark.parametrize(("code", "status", "stderr"), [(3, 3, ""), (None, 0, ""), ("gone wrong", 1, "gone wrong")])
def test_a_finished_command_ends_without_finalization_but_loses_nothing(code: object, status: int, stderr: str) -> None:
    """What Python's finalization would still do for others is done before the process ends at once: a running
    thread finishes, an idle thread pool's workers are told to end (they would wait for work forever), exit
    handlers run, buffered output is written."""
    script = f"""
import atexit, threading, time
from concurrent.futures import ThreadPoolExecutor
from lstmcli.cli import _end_now
atexit.register(lambda: print("handler ran"))
threading.Thread(target=lambda: (time.sleep(0.3), print("thread done"))).start()
pool = ThreadPoolExecutor(2)  # kept, as lstmcli keeps its pools: idle workers that only its end tells to stop
pool.submit(print, "pool ran").result()
print("buffered", end="")
_end_now({code!r})
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == status
    assert done.stdout.startswith("pool ran\nbuffered")
    assert "thread done" in done.stdout and "handler ran" in done.stdout
    assert done.stderr.strip() == stderr


def test_the_trainers_import_leaves_kerass_optional_integrations_out() -> None:
    # In a fresh process: Keras would import scikit-learn, SciPy, matplotlib and pandas as it is imported
    # (about a second); the trainer has no use for them through Keras, and imports them when it does.
    code = (
        "import sys\n"
        "import lstmcli.nn.backend as b\n"
        "print(sorted(m for m in b.KERAS_EXTRAS if m in sys.modules))\n"
        "import sklearn.model_selection, pandas\n"  # importable as usual afterwards
        "print(b.keras.layers.LSTM(2)(b.keras.ops.ones((1, 3, 2))).shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "(1, 2)"]


def test_a_module_left_out_of_one_threads_import_is_imported_by_another_thread_meanwhile(tmp_path: Path) -> None:
    import threading

    from lstmcli.nn.backend import _left_out

    (tmp_path / "leftout_probe.py").write_text("VALUE = 1\n")
    sys.path.insert(0, str(tmp_path))
    seen: list[object] = []
    try:
        with _left_out(frozenset({"leftout_probe"})):
            with pytest.raises(ModuleNotFoundError, match="left out"):
                import leftout_probe  # noqa: F401
            other = threading.Thread(target=lambda: seen.append(__import__("leftout_probe").VALUE))
            other.start()
            other.join()
        assert seen == [1]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("leftout_probe", None)


@pytest.mark.parametrize("streaming", [False, True])
def test_training_batches_come_without_tf_datas_autotuning(tmp_path: Path, streaming: bool) -> None:
    # Autotuning's model thread made dropping an iterator (fit drops one every epoch) wait up to a second.
    dataset, steps, _ = training_batches(tmp_path, streaming)
    assert dataset.options().autotune.enabled is False
    assert len(list(dataset)) == steps  # every batch still comes, once


def test_a_signal_whose_exception_keras_or_tensorflow_swallows_still_stops_the_fit() -> None:
    """TensorFlow's eager fast path and Keras's log conversion run Python code inside ``try/except`` that dropped
    what a signal handler raised there (a SIGTERM after an epoch's line was lost so, one time in 20): while Keras
    fits, a signal is raised at the next batch, in the fit's own callback, so the fit stops there."""
    import os
    import signal

    from lstmcli.errors import Terminated
    from lstmcli.nn.backend import keras
    from lstmcli.nn.fit import _Interrupts

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    class Swallowing(keras.callbacks.Callback):  # as TensorFlow's fast path: a signal landing in its try is lost
        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            if epoch == 0:
                try:
                    os.kill(os.getpid(), signal.SIGTERM)  # its handler runs before the next line, in this try
                except BaseException:  # noqa: BLE001
                    pass

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    epochs: list[int] = []
    ended = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: epochs.append(epoch))
    interrupts = _Interrupts()
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        with pytest.raises(Terminated), interrupts.kept():
            model.fit(
                np.ones((8, 3)), np.ones((8, 2)), epochs=5, verbose=0, callbacks=[interrupts, Swallowing(), ended]
            )
            interrupts.raise_caught()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert epochs == [0]  # stopped at the second epoch's first batch


def test_the_consoles_copy_of_stderr_is_flushed_when_the_process_ends_at_once() -> None:
    """The console writes to a copy of stderr (``keep_stderr``): a line it has not ended yet still arrives."""
    script = (
        "from lstmcli.ui.console import QuietStderr, keep_stderr\n"
        "from lstmcli.cli import _end_now\n"
        "keep_stderr()\n"
        "QuietStderr().write('no line end yet')\n"
        "_end_now(0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "no line end yet"
