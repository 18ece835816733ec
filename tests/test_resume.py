"""Nothing lost: atomic writes, staged overwrites, the run-directory lock, and resuming a killed training.

The kill tests run the real command line in a subprocess and stop it with SIGKILL or SIGINT once the
checkpoint shows a finished epoch, then resume it and compare with what an uninterrupted run ends with.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY_MODEL, make_rows, model_flags, write_checkpoint_models, write_csv
from typer.testing import CliRunner, Result

from lstmcli import rundir
from lstmcli.cli import app
from lstmcli.rundir import RunDir, atomic_write, locked, staged

NGRAM_EPOCHS, LSTM_EPOCHS = 2, 2
EPOCHS = NGRAM_EPOCHS + LSTM_EPOCHS  # --epochs counts both stages: stopping early in the first crosses both
# Small batches make an epoch last long enough (several steps) to stop the process between two epochs.
KILL_MODEL = [*model_flags(EPOCHS, NGRAM_EPOCHS, batch_size=8), "--no-early-stopping"]
START_TIMEOUT = 300  # seconds for TensorFlow to load and the first epoch to end on a busy machine


def run_cli(runner: CliRunner, args: list[object]) -> Result:
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}") from result.exception
    return result


def snapshot(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(path.rglob("*"))
    }


def strays(run_dir: Path) -> list[str]:
    """Staging and temporary files left beside or inside a run directory (the lock file is expected)."""
    beside = [p.name for p in run_dir.parent.glob(f".{run_dir.name}.*") if p.name != f".{run_dir.name}.lock"]
    inside = [p.name for p in run_dir.rglob(".tmp-*")] if run_dir.is_dir() else []
    return beside + inside


@pytest.fixture
def prepared(runner: CliRunner, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    result = run_cli(runner, ["prepare", write_csv(tmp_path / "old.csv", make_rows(10)), "--run-dir", run_dir])
    assert result.exit_code == 0, result.output
    return run_dir


# ---------------------------------------------------------------------------------------------------------------
# atomic writes


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_text("old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_every_file_in_the_run_directory_arrives_by_rename(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prepare, train and evaluate write nothing in place: each file is renamed from a temporary one."""
    renamed: set[Path] = set()
    real_replace = os.replace

    def spy(src: str | Path, dst: str | Path) -> None:
        assert Path(src).name.startswith(".tmp-"), src
        renamed.add(Path(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    # Prepared here, not in a forked child, whose renames this process's spy never sees (the suite had imported
    # TensorFlow before this test, which rules the child out; alone, the test found no rename of prepare's files).
    monkeypatch.setattr("lstmcli.dataset.child.can_fork", lambda: False)
    run_dir = tmp_path / "run"
    data = write_csv(tmp_path / "t.csv", make_rows(10))
    assert run_cli(runner, ["train", data, "--run-dir", run_dir, *TINY_MODEL]).exit_code == 0
    assert run_cli(runner, ["evaluate", "--run-dir", run_dir]).exit_code == 0
    written = {p for p in run_dir.rglob("*") if p.is_file()}
    assert {rundir.METRICS, rundir.WEIGHTS, rundir.MANIFEST} <= {p.name for p in written}
    assert written <= renamed, sorted(str(p) for p in written - renamed)
    assert strays(run_dir) == []


# ---------------------------------------------------------------------------------------------------------------
# staged overwrite


def test_overwrite_replaces_the_run_once_complete(runner: CliRunner, tmp_path: Path, prepared: Path) -> None:
    rows = [(text, "new-" + label) for text, label in make_rows(10)]
    result = run_cli(runner, ["prepare", write_csv(tmp_path / "new.csv", rows), "--run-dir", prepared, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert json.loads((prepared / rundir.LABELS).read_text()) == ["new-cooking", "new-sports", "new-weather"]
    assert strays(prepared) == []


def test_overwrite_that_fails_midway_keeps_the_old_run(
    runner: CliRunner, tmp_path: Path, prepared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C after the new run's arrays and vocabulary are written: the old run is untouched."""
    before = snapshot(prepared)

    def interrupted(self: RunDir, data_file: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(RunDir, "write_manifest", interrupted)
    result = run_cli(
        runner, ["prepare", write_csv(tmp_path / "new.csv", make_rows(12)), "--run-dir", prepared, "--overwrite"]
    )
    assert result.exit_code == 130 and "Interrupted." in result.stderr
    assert snapshot(prepared) == before
    assert strays(prepared) == []


@pytest.mark.parametrize("existed", [False, True], ids=["new-dir", "empty-dir"])
def test_failed_prepare_into_a_fresh_dir_leaves_nothing(
    runner: CliRunner, tmp_path: Path, existed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    if existed:
        run_dir.mkdir()

    def interrupted(self: RunDir, data_file: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(RunDir, "write_manifest", interrupted)
    result = run_cli(runner, ["prepare", write_csv(tmp_path / "t.csv", make_rows(10)), "--run-dir", run_dir])
    assert result.exit_code == 130
    assert run_dir.is_dir() == existed
    assert not existed or list(run_dir.iterdir()) == []


def test_leftovers_of_an_interrupted_prepare_are_replaced(runner: CliRunner, tmp_path: Path, prepared: Path) -> None:
    """A prepare killed before its manifest leaves files no command can use; the next prepare replaces them."""
    (prepared / rundir.MANIFEST).unlink()
    result = run_cli(runner, ["prepare", write_csv(tmp_path / "t.csv", make_rows(10)), "--run-dir", prepared])
    assert result.exit_code == 0, result.output
    assert RunDir(prepared).is_prepared()


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["plain", "overwrite"])
def test_directory_with_other_files_is_never_replaced(runner: CliRunner, tmp_path: Path, overwrite: list[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    (home / rundir.VOCAB).write_text("<pad>\n<unk>\n")
    before = snapshot(home)
    result = run_cli(runner, ["prepare", write_csv(tmp_path / "t.csv", make_rows(10)), "--run-dir", home, *overwrite])
    assert result.exit_code == 1
    assert "Error: run directory" in result.stderr and "holds files lstmcli did not write (thesis.tex)" in result.stderr
    assert snapshot(home) == before


def test_swap_killed_between_renames_is_recovered(runner: CliRunner, tmp_path: Path, prepared: Path) -> None:
    """Killed after the old run was moved aside but before the new one moved in: the old run comes back."""
    before = snapshot(prepared)
    aside = prepared.parent / f".{prepared.name}.old-99999"
    os.replace(prepared, aside)
    orphan = prepared.parent / f".{prepared.name}.new-99999"
    orphan.mkdir()
    (orphan / rundir.CONFIG).write_text("{}")
    result = run_cli(runner, ["prepare", write_csv(tmp_path / "t.csv", make_rows(10)), "--run-dir", prepared])
    assert result.exit_code == 1 and "pass --overwrite" in result.stderr
    assert snapshot(prepared) == before
    assert strays(prepared) == []


def test_staged_refuses_a_run_without_overwrite(prepared: Path) -> None:
    before = snapshot(prepared)
    with pytest.raises(rundir.RunDirError, match="pass --overwrite"), staged(prepared, overwrite=False):
        pass
    assert snapshot(prepared) == before


# ---------------------------------------------------------------------------------------------------------------
# lock


def test_lock_is_released_after_a_command(runner: CliRunner, tmp_path: Path, prepared: Path) -> None:
    data = write_csv(tmp_path / "t.csv", make_rows(10))
    for _ in range(2):
        assert run_cli(runner, ["prepare", data, "--run-dir", prepared, "--overwrite"]).exit_code == 0
    with locked(prepared):
        pass


def test_lock_names_holder_pid(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    message = rf"in use by another lstmcli process \(pid {os.getpid()}\)"
    with locked(run_dir), pytest.raises(rundir.RunDirError, match=message), locked(run_dir):
        pass


# ---------------------------------------------------------------------------------------------------------------
# kill -9 and Ctrl-C in the middle of training, then --resume


def _python() -> str:
    venv = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _lstmcli(*args: object) -> list[str]:
    return [_python(), "-m", "lstmcli", *(str(a) for a in args)]


def _epochs_done(run_dir: Path) -> int:
    try:
        return int(json.loads((run_dir / rundir.CHECKPOINT_DIR / rundir.TRAIN_STATE).read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def _train_until_first_epoch(tmp_path: Path, run_dir: Path) -> subprocess.Popen[bytes]:
    """Starts a real training and returns once the checkpoint holds at least one finished epoch."""
    data = write_csv(tmp_path / "t.csv", make_rows(40))
    log = (tmp_path / "train.log").open("wb")
    # A shell that started us in the background may have left SIGINT ignored, which the child would inherit
    # (Python then installs no Ctrl-C handler): restore the default so the child behaves as in a terminal.
    process = subprocess.Popen(
        _lstmcli("train", data, "--run-dir", run_dir, *KILL_MODEL),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + START_TIMEOUT
    while _epochs_done(run_dir) < 1:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"training ended or stalled before its first epoch: {(tmp_path / 'train.log').read_text()}")
        time.sleep(0.02)
    return process


def _resume_and_check(run_dir: Path, stopped_at: int) -> None:
    assert 1 <= stopped_at < EPOCHS, "the process was stopped too late to test resuming"
    resumed = subprocess.run(
        _lstmcli("train", "--run-dir", run_dir, "--resume"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    history = json.loads((run_dir / rundir.HISTORY).read_text())
    assert [row["epoch"] for row in history] == list(range(1, EPOCHS + 1))
    assert [row["stage"] for row in history] == ["ngrams"] * NGRAM_EPOCHS + ["lstm"] * LSTM_EPOCHS
    assert (run_dir / rundir.WEIGHTS).is_file() and not (run_dir / rundir.MODEL).exists()
    assert not (run_dir / rundir.CHECKPOINT_DIR).exists()
    # The published model is the best epoch's (its LSTM logits weighed on validation, nn/blend.py): scoring it
    # again gives the validation loss training recorded for it.
    scored = subprocess.run(
        _lstmcli("evaluate", "--run-dir", run_dir, "--json"), capture_output=True, text=True, timeout=300
    )
    assert scored.returncode == 0, scored.stderr
    record = json.loads((run_dir / rundir.TRAINING).read_text())
    expected = record["parts"]["published"]["loss"] if record.get("parts") else _best_row(run_dir, history)["val_loss"]
    assert json.loads(scored.stdout)["loss"] == pytest.approx(expected, rel=1e-3, abs=1e-4)


def _best_row(run_dir: Path, history: list[dict[str, float]]) -> dict[str, float]:
    """The epoch the run's ``monitor`` setting picks: lowest val_loss, or highest val_accuracy then lowest val_loss."""
    monitor = json.loads((run_dir / rundir.CONFIG).read_text()).get("monitor", "val_loss")
    if monitor == "val_loss":
        return min(history, key=lambda row: row["val_loss"])
    return max(history, key=lambda row: (row["val_accuracy"], -row["val_loss"]))


def test_kill_9_then_resume_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = _train_until_first_epoch(tmp_path, run_dir)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    stopped_at = _epochs_done(run_dir)
    assert not (run_dir / rundir.WEIGHTS).exists()  # killed: nothing was published
    _resume_and_check(run_dir, stopped_at)


def test_ctrl_c_saves_the_best_model_then_resume_finishes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = _train_until_first_epoch(tmp_path, run_dir)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=300) == 130  # interrupted, not done: the best model is saved all the same
    output = (tmp_path / "train.log").read_text()
    assert "Training interrupted" in output and "--resume" in output and "Traceback" not in output
    stopped_at = _epochs_done(run_dir)
    history = json.loads((run_dir / rundir.HISTORY).read_text())
    assert len(history) == stopped_at  # the best model so far is published, usable at once
    assert (run_dir / rundir.WEIGHTS).is_file()
    _resume_and_check(run_dir, stopped_at)


def test_resume_keeps_the_interrupted_trainings_settings(runner: CliRunner, tmp_path: Path, trained_run: Path) -> None:
    """config.json changes only when a new model is published: an interrupted --overwrite keeps the old one."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    old_config = (run_dir / rundir.CONFIG).read_bytes()
    checkpoint = run_dir / rundir.CHECKPOINT_DIR
    checkpoint.mkdir()
    new_config = RunDir(run_dir).read_config().replace(epochs=3)
    RunDir(run_dir).write_checkpoint_config(new_config)
    write_checkpoint_models(run_dir)
    rows = [{"epoch": epoch, "loss": 9.0, "accuracy": 0.1, "val_loss": 9.0, "val_accuracy": 0.0} for epoch in (1, 2)]
    state = {
        "epoch": 2,
        "best_epoch": 2,
        "best": rows[1],
        "wait": 0,
        "stopped_early": False,
        "history": rows,
        "stage": 1,
        "stage_start": 0,
    }  # in the LSTM's stage, which ends at epoch 0 + 3
    (checkpoint / rundir.TRAIN_STATE).write_text(json.dumps(state))
    assert (run_dir / rundir.CONFIG).read_bytes() == old_config
    result = run_cli(runner, ["train", "--run-dir", run_dir, "--resume"])
    assert result.exit_code == 0, result.output
    assert [row["epoch"] for row in json.loads((run_dir / rundir.HISTORY).read_text())] == [1, 2, 3]
    assert RunDir(run_dir).read_config().epochs == 3
