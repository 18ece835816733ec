"""End-to-end quality on a real corpus from ../shared/datasets: the default preset learns, not just runs."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import shared_dataset
from typer.testing import CliRunner

from lstmcli.cli import app


def test_default_preset_learns_sms_spam(runner: CliRunner, tmp_path: Path) -> None:
    corpus = shared_dataset("sms_spam")
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(corpus / "train.csv"), "-r", str(run_dir), "--epochs", "12"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", "-r", str(run_dir), "--data", str(corpus / "test.csv"), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    # 86.6% of the test messages are ham: a model that learned nothing scores that, and macro-F1 about 0.46.
    assert metrics["n"] == 1114
    assert metrics["accuracy"] > 0.95 and metrics["macro_f1"] > 0.9
