"""The skip-gram pretraining of ``--unlabeled`` keeps its epochs: Ctrl-C, SIGTERM or a kill loses at most one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from lstmcli.cli import app
from lstmcli.config import make_config
from lstmcli.dataset import unlabeled
from lstmcli.rundir import RunDir

DIM = 8


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's cache in tmp_path; every epoch saved (they take milliseconds here)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(unlabeled, "SAVE_EVERY", 0.0)
    return tmp_path / "cache" / "lstmcli" / "pretraining"


def _more(tmp_path: Path) -> Path:
    more = tmp_path / "more.txt"
    more.write_text("".join(f"{text}\n" for text, _ in make_rows(40, seed=3)), encoding="utf-8")
    return more


def _learn(more: Path, stop_after: int = 0) -> unlabeled.Learned:
    """Vectors learned from ``more`` and a few training texts; Ctrl-C after epoch ``stop_after`` if not 0."""

    def progress(phase: str, epoch: int, done: float) -> None:
        if epoch == stop_after:
            raise KeyboardInterrupt

    config = make_config("default", tokenizer="word")
    train = [["goal", "team", "match"], ["rain", "storm", "wind"], ["bake", "oven", "flour"]] * 5
    return unlabeled.learn_vectors([str(more)], config, train, DIM, progress, more.parent)


def test_an_interrupted_pretraining_continues_from_its_last_epoch(cache: Path, tmp_path: Path) -> None:
    more = _more(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        _learn(more, stop_after=3)
    (kept,) = cache.iterdir()
    assert (kept / "tokens.txt").is_file() and [p.name for p in kept.glob("model-*")] == ["model-3"]
    learned = _learn(more)
    assert learned.report["resumed_from_epoch"] == 3
    assert learned.vectors.matrix.shape[1] == DIM and learned.report["epochs"] > 3
    assert list(cache.iterdir()) == []  # learned: nothing left to keep


def test_a_changed_unlabeled_file_starts_afresh(cache: Path, tmp_path: Path) -> None:
    more = _more(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        _learn(more, stop_after=2)
    with more.open("a", encoding="utf-8") as fh:
        fh.write("one more line of text about the storm\n")
    learned = _learn(more)
    assert "resumed_from_epoch" not in learned.report


def test_a_damaged_saved_model_starts_afresh(cache: Path, tmp_path: Path) -> None:
    more = _more(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        _learn(more, stop_after=2)
    (kept,) = cache.iterdir()
    for saved in (kept / "model-2").iterdir():
        saved.write_bytes(b"\0" * 10)
    assert "resumed_from_epoch" not in _learn(more).report


_KILLED_AFTER_EPOCH_3 = """
import os, signal, sys
from lstmcli.dataset import unlabeled
unlabeled.SAVE_EVERY = 0.0
saved = unlabeled.Passes.epoch_ended
def epoch_ended(self, model, epochs):
    saved(self, model, epochs)
    if epochs == 3:
        os.kill(os.getpid(), signal.SIGKILL)
unlabeled.Passes.epoch_ended = epoch_ended
from lstmcli.cli import main
sys.argv = ["lstmcli", *sys.argv[1:]]
main()
"""


def test_a_prepare_killed_mid_pretraining_continues_when_run_again(
    cache: Path, tmp_path: Path, runner: CliRunner
) -> None:
    data = write_csv(tmp_path / "tiny.csv", make_rows())
    args = [
        "prepare",
        str(data),
        "-r",
        str(tmp_path / "run"),
        "--embeddings",
        "none",
        "--unlabeled",
        str(_more(tmp_path)),
    ]
    killed = subprocess.run([sys.executable, "-c", _KILLED_AFTER_EPOCH_3, *args], env=os.environ, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()
    assert not RunDir(tmp_path / "run").is_prepared()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = RunDir(tmp_path / "run").read_prepare_report()
    assert report is not None
    (learned,) = report["embeddings"]["sources"]
    assert learned["resumed_from_epoch"] == 3 and "continued after epoch 3" in result.output
    assert list(cache.iterdir()) == []
