"""The linear n-gram stage run before TensorFlow is imported (in prepare's child process) and replayed by the
trainer: the same published model as when the trainer runs it, and run again where its settings differ."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import make_rows, write_csv

from lstmcli.nn import linear
from lstmcli.nn.staging import NgramsAhead, fit_ahead
from lstmcli.rundir import RunDir
from lstmcli.workflow import prepare

SMALL = {"embedding_dim": 8, "units": (8,), "dense_units": 8, "batch_size": 16, "epochs": 3, "ngram_epochs": 2}


def _prepared(path: Path, **settings: Any) -> RunDir:
    data = write_csv(path.parent / f"{path.name}.csv", make_rows())
    prepare(data, path, embeddings="none", **{**SMALL, **settings})
    return RunDir(path)


def _trained(run: RunDir, ahead: NgramsAhead | None = None) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    from lstmcli.nn.fit import train

    train(run, run.read_config(), ngrams_ahead=ahead)
    history = [{k: v for k, v in row.items() if k != "seconds"} for row in run.read_history()]
    return dict(run.read_weights()), history


def _refuse_linear_epochs(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the trainer ran the n-gram stage again instead of replaying it")


def test_the_stage_run_ahead_and_replayed_publishes_the_same_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain_weights, plain_history = _trained(_prepared(tmp_path / "plain"))
    run = _prepared(tmp_path / "ahead")
    ahead = fit_ahead(run, run.read_config())
    assert ahead is not None and len(ahead.logs) == SMALL["ngram_epochs"]
    monkeypatch.setattr(linear, "epochs", _refuse_linear_epochs)
    weights, history = _trained(run, ahead)
    assert history == plain_history
    assert weights.keys() == plain_weights.keys()
    assert all(np.array_equal(weights[name], plain_weights[name]) for name in weights)
    assert ahead.best is None  # let go once replayed: not held through the LSTM stage


def test_a_stage_run_with_other_settings_is_trained_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain_weights, _ = _trained(_prepared(tmp_path / "plain"))
    run = _prepared(tmp_path / "other")
    ahead = fit_ahead(run, run.read_config())
    assert ahead is not None
    calls: list[int] = []
    real = linear.epochs

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(linear, "epochs", counted)
    other = dataclasses.replace(ahead, config=ahead.config.replace(batch_size=32))  # as if two replicas shared it
    weights, _ = _trained(run, other)
    assert calls == [1]
    assert all(np.array_equal(weights[name], plain_weights[name]) for name in weights)


@pytest.mark.parametrize("settings", [{"ngram_mode": "joint"}, {"ngram_buckets": 0}])
def test_no_stage_ahead_where_the_linear_model_does_not_train_it(tmp_path: Path, settings: dict[str, Any]) -> None:
    run = _prepared(tmp_path / "run", **settings)
    assert fit_ahead(run, run.read_config()) is None


def test_the_stage_ahead_needs_no_tensorflow() -> None:
    code = "import sys, lstmcli.nn.staging; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
