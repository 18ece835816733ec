"""Prepare in a child process beside TensorFlow's import: what it returns, reports and raises comes back; a parent
that stops waiting kills and reaps it; ``lstmcli train DATA.csv`` runs its prepare and n-gram stage there, SIGTERM
included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import make_rows, model_flags, write_csv

from lstmcli.dataset.child import can_fork, run_in_child
from lstmcli.errors import ConfigError, LstmcliError
from lstmcli.rundir import RunDir

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="prepare forks only on Linux")


def _nothing() -> None:
    pass


def test_the_result_and_the_progress_come_back_from_another_process() -> None:
    rows: list[tuple[Any, ...]] = []
    started: list[bool] = []

    def work(progress: Any) -> tuple[int, np.ndarray]:
        progress("reading", 10, 0.5)
        progress("reading", 20, 1.0)
        return os.getpid(), np.arange(3)

    pid, values = run_in_child(work, lambda *row: rows.append(row), lambda: started.append(True))
    assert pid != os.getpid()
    assert values.tolist() == [0, 1, 2]
    assert rows == [("reading", 10, 0.5), ("reading", 20, 1.0)] and started == [True]
    assert run_in_child(lambda progress: progress, None, _nothing) is None  # no display: no callback either


def test_a_library_error_is_raised_here_as_it_was_raised_there() -> None:
    def work(progress: Any) -> None:
        raise ConfigError("column 'txt' not found; columns are: text, label")

    with pytest.raises(ConfigError, match=r"^column 'txt' not found; columns are: text, label$"):
        run_in_child(work, None, _nothing)


def test_a_bug_comes_back_with_the_childs_traceback() -> None:
    def work(progress: Any) -> None:
        {}["missing"]  # noqa: B018

    with pytest.raises(RuntimeError, match="prepare failed in its child process") as caught:
        run_in_child(work, None, _nothing)
    assert "KeyError: 'missing'" in str(caught.value) and "in work" in str(caught.value)


def test_a_library_error_that_cannot_be_pickled_keeps_its_message() -> None:
    class Local(ConfigError):  # a class defined in a function cannot be pickled
        pass

    def work(progress: Any) -> None:
        raise Local("--units takes positive numbers")

    with pytest.raises(LstmcliError, match=r"^--units takes positive numbers$"):
        run_in_child(work, None, _nothing)


def test_an_os_error_keeps_its_errno_and_file(tmp_path: Path) -> None:
    def work(progress: Any) -> None:
        (tmp_path / "missing" / "data.csv").read_text()

    with pytest.raises(FileNotFoundError) as caught:
        run_in_child(work, None, _nothing)
    assert caught.value.errno == 2 and caught.value.filename == str(tmp_path / "missing" / "data.csv")


def test_a_child_that_dies_is_an_error_not_a_hang() -> None:
    def work(progress: Any) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(LstmcliError, match=r"prepare stopped without finishing \(.* status -9\)"):
        run_in_child(work, None, _nothing)


def test_ctrl_c_in_the_child_is_ctrl_c_here() -> None:
    def work(progress: Any) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_in_child(work, None, _nothing)


def test_a_parent_that_stops_waiting_kills_and_reaps_the_child(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"

    def work(progress: Any) -> None:
        marker.write_text(str(os.getpid()))
        progress("reading", 1, 0.1)
        time.sleep(60)

    def interrupted(*row: Any) -> None:  # Ctrl-C arrives here while the child still works
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_in_child(work, interrupted, _nothing)
    assert time.monotonic() - started < 30
    assert not Path(f"/proc/{marker.read_text()}").exists()  # killed and reaped: not even a zombie is left


def test_no_fork_while_another_thread_runs() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not can_fork()
    finally:
        release.set()
        thread.join()


# `lstmcli train DATA.csv` with prepare replaced by one that records its process and, given a second argument,
# waits there: the test sends SIGTERM to the command meanwhile.
_TRAIN = """
import os, sys, time
import lstmcli.dataset.prepare as prepare
import lstmcli.nn.linear as linear

real, marker, wait = prepare.prepare, sys.argv.pop(1), sys.argv.pop(1) == "wait"

def recorded(*args, **kwargs):
    with open(marker + ".new", "w") as out:
        out.write(f"{os.getpid()} {os.getppid()}")
    os.replace(marker + ".new", marker)
    if wait:
        time.sleep(60)
    return real(*args, **kwargs)

def epochs(*args, **kwargs):  # which process trains the linear n-gram stage
    with open(marker + ".ngrams", "a") as out:
        out.write(f"{os.getpid()}\\n")
    return real_epochs(*args, **kwargs)

prepare.prepare = recorded
linear.epochs, real_epochs = epochs, linear.epochs
from lstmcli.cli import main
sys.argv = ["lstmcli", *sys.argv[1:]]
main()
"""


def _train(tmp_path: Path, wait: bool) -> subprocess.Popen[bytes]:
    data = write_csv(tmp_path / "tiny.csv", make_rows())
    args = [str(tmp_path / "pids"), "wait" if wait else "go", "train", str(data), "-r", str(tmp_path / "run")]
    args += [*model_flags(epochs=2, ngram_epochs=1), "--embeddings", "none"]
    return subprocess.Popen([sys.executable, "-c", _TRAIN, *args], stderr=subprocess.PIPE)


def test_train_from_a_csv_prepares_in_a_child_process(tmp_path: Path) -> None:
    command = _train(tmp_path, wait=False)
    _, stderr = command.communicate(timeout=300)
    assert command.returncode == 0, stderr.decode()
    child, parent = (int(pid) for pid in (tmp_path / "pids").read_text().split())
    assert parent == command.pid and child != command.pid
    assert RunDir(tmp_path / "run").is_trained()
    # The n-gram stage trained there too, once; the trainer replayed its epochs.
    assert (tmp_path / "pids.ngrams").read_text().split() == [str(child)]
    stages = [row.get("stage") for row in RunDir(tmp_path / "run").read_history()]
    assert stages == ["ngrams", "lstm"]


def test_sigterm_during_the_childs_prepare_leaves_no_run_and_no_process(tmp_path: Path) -> None:
    command = _train(tmp_path, wait=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "pids").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int((tmp_path / "pids").read_text().split()[0])
    command.send_signal(signal.SIGTERM)
    _, stderr = command.communicate(timeout=60)
    assert command.returncode == 143, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert not (tmp_path / "run").exists()
    assert not Path(f"/proc/{child}").exists()


def test_the_training_process_leaves_reading_and_splitting_the_table_to_the_child(tmp_path: Path) -> None:
    """pandas, pyarrow and scikit-learn load in the child that prepares, never in the process that trains: they would
    hold back the start of TensorFlow's import, which runs beside prepare."""
    data = write_csv(tmp_path / "d.csv", make_rows())
    args = ["train", str(data), "-r", str(tmp_path / "run"), *model_flags()]
    code = (
        "import atexit, sys; from lstmcli.cli import main; "
        "atexit.register(lambda: print(sorted(m for m in ('pandas', 'pyarrow', 'sklearn') if m in sys.modules))); "
        f"sys.argv = ['lstmcli', *{args!r}]; main()"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
