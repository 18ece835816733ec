"""The library alone, as a notebook uses it: no CliRunner, no command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_rows, write_csv

from lstmcli.errors import ConfigError, RunDirError

TINY = {"epochs": 2, "ngram_epochs": 1, "embedding_dim": 8, "units": (8,), "dense_units": 8, "batch_size": 16}


def test_public_names_are_the_functions_not_submodules() -> None:
    import lstmcli
    from lstmcli import Predictor, evaluate, predict, prepare, train

    for func in (prepare, train, evaluate, predict):
        assert callable(func) and func.__module__ == "lstmcli.workflow", func
    assert isinstance(Predictor, type)
    assert lstmcli.__all__ and all(hasattr(lstmcli, name) for name in lstmcli.__all__)


def test_every_command_has_an_entry_point_that_returns_values(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import lstmcli
    from lstmcli import Predictor, RunDir, create_app, explain_texts, export_run, run_info, run_report

    for module in ("explain", "info", "export", "serve"):  # the submodules, imported: the names still hold
        __import__(f"lstmcli.{module}")
    assert lstmcli.run_info is run_info and callable(lstmcli.explain_texts)
    run = RunDir(trained_run)
    assert run_info(run)["labels"] == ["cooking", "sports", "weather"]
    report = run_report(run, 2)
    assert report["metrics"]["n"] == run_info(run)["data"]["val_rows"] and len(report["wrong"]) <= 2
    assert json.loads(json.dumps(report))["wrong"] == report["wrong"]  # plain values
    explained = list(explain_texts(Predictor(run), ["the match and the goal"], "occlusion"))
    assert explained[0].label in report["labels"] and len(explained[0].tokens) == len(explained[0].scores)
    result = export_run(run, "onnx", tmp_path / "onnx")
    assert result.max_abs_diff <= result.tolerance and (tmp_path / "onnx" / "model.onnx").is_file()
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    with TestClient(create_app(trained_run)) as client:
        answer = client.post("/predict", json={"texts": ["rain and storm"]}).json()
    assert answer["predictions"][0]["label"] in report["labels"]
    assert capsys.readouterr() == ("", "")  # nothing printed


def test_prepare_train_evaluate_predict_in_a_notebook(tmp_path: Path) -> None:
    from lstmcli import Predictor, RunDir, evaluate, predict, prepare, train

    data = write_csv(tmp_path / "tiny.csv", make_rows())
    config, report = prepare(data, tmp_path / "run", max_len=12)
    assert config.max_len == 12 and report.train_rows + report.val_rows == 120
    result = train(run_dir=tmp_path / "run", **TINY)
    assert result.epochs_run == 2 and (tmp_path / "run" / "weights.npz").is_file()
    metrics = evaluate(tmp_path / "run")
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["n"] == report.val_rows
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["accuracy"] == metrics["accuracy"]
    texts = ["the goal of the match", "", "rain and storm"]
    predictions = list(predict(tmp_path / "run", texts))
    assert [p.text for p in predictions] == [texts[0], None, texts[2]] and predictions[1].label is None
    predictor = Predictor(RunDir(tmp_path / "run"))
    assert predictions[0].label in predictor.labels


def test_library_keeps_the_rules_the_cli_keeps(tmp_path: Path) -> None:
    from lstmcli import train

    data = write_csv(tmp_path / "tiny.csv", make_rows())
    with pytest.raises(ConfigError, match="--resume continues the run"):
        train(data, tmp_path / "run", resume=True)
    with pytest.raises(RunDirError, match="does not exist"):
        train(run_dir=tmp_path / "nowhere")
    train(data, tmp_path / "run", **TINY)
    with pytest.raises(ConfigError, match="--max-len change preprocessing"):
        train(run_dir=tmp_path / "run", max_len=5)
    with pytest.raises(ConfigError, match="already holds a trained model"):
        train(run_dir=tmp_path / "run", **TINY)


def test_training_a_prepared_run_with_a_preset_records_that_preset(tmp_path: Path) -> None:
    """Before: after prepare, train --preset tutorial built the tutorial model but saved preset "default"."""
    from lstmcli import RunDir, prepare, train

    data = write_csv(tmp_path / "tiny.csv", make_rows())
    prepare(data, tmp_path / "run")
    train(run_dir=tmp_path / "run", preset="tutorial", epochs=1, units=(4, 4), embedding_dim=4)
    config = RunDir(tmp_path / "run").read_config()
    assert config.preset == "tutorial"
    assert config.activation == "relu" and not config.bidirectional and config.ngram_buckets == 0
    assert config.units == (4, 4)  # the user's settings still win over the preset's


@pytest.mark.parametrize(("epochs", "stages"), [(1, ["ngrams"]), (3, ["ngrams", "ngrams", "lstm"])])
def test_epochs_bound_all_stages_together(tmp_path: Path, epochs: int, stages: list[str]) -> None:
    """Before, --epochs bounded the LSTM stage alone: --epochs 2 could run 12 epochs."""
    from lstmcli import RunDir, train

    data = write_csv(tmp_path / "tiny.csv", make_rows())
    small = {k: v for k, v in TINY.items() if k not in ("epochs", "ngram_epochs")}
    result = train(data, tmp_path / "run", epochs=epochs, early_stopping=False, **small)
    history = RunDir(tmp_path / "run").read_history()
    assert result.epochs_run == epochs and [row["stage"] for row in history] == stages


def test_balanced_class_weights_weigh_classes_inversely_to_their_counts(tmp_path: Path) -> None:
    from lstmcli import RunDir, prepare, train
    from lstmcli.nn.staging import class_weights

    rows = [row for row in make_rows(40) if row[1] != "cooking"] + [r for r in make_rows(40) if r[1] == "cooking"][:10]
    data = write_csv(tmp_path / "skewed.csv", rows)
    config, _ = prepare(data, tmp_path / "run", val_size=0.2)
    run = RunDir(tmp_path / "run")
    assert class_weights(run, config, 3) is None
    weights = class_weights(run, config.replace(class_weight="balanced"), 3)
    counts = np.bincount(run.read_prepared().train_y, minlength=3)
    assert weights is not None and np.allclose([weights[i] * counts[i] for i in range(3)], counts.sum() / 3)
    assert weights[run.read_labels().index("cooking")] > 2 * weights[run.read_labels().index("sports")]
    train(run_dir=tmp_path / "run", class_weight="balanced", **TINY)
    assert run.read_config().class_weight == "balanced"
