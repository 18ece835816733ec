"""``lstmcli export``: the exported graph gives the NumPy path's probabilities (ONNX Runtime, tf.saved_model)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, make_rows, write_csv
from typer.testing import CliRunner

from lstmcli.cli import app
from lstmcli.export import export_run, feed_batches
from lstmcli.predictor import Predictor
from lstmcli.rundir import RunDir

onnxruntime = pytest.importorskip("onnxruntime")

# Texts the model never saw, one longer than max_len, one with no known token, one empty.
TEXTS = [text for text, _ in make_rows(10, seed=7)] + ["goal " * 40 + "rain", "zzz qqq", ""]


def onnx_proba(path: Path, predictor: Predictor, texts: list[str]) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path / "model.onnx"), providers=["CPUExecutionProvider"])
    ids = predictor.encode(texts)
    out = np.zeros((len(ids), len(predictor.labels)), np.float32)
    for rows, batch in feed_batches(ids, predictor.config):
        out[rows] = session.run(["probabilities"], {"ids": batch.astype(np.int32)})[0]
    return out


@pytest.fixture(scope="module")
def preset_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny runs of the other presets and modes (few n-gram buckets: the export is the same graph, quicker)."""
    base = tmp_path_factory.mktemp("presets")
    data = write_csv(base / "tiny.csv", make_rows())
    options = {
        "tutorial": ["--preset", "tutorial", "--units", "8,8"],
        "no-ngrams": ["--ngram-buckets", "0"],
        "joint": ["--ngram-mode", "joint", "--ngram-buckets", "500"],
        "unmasked-grouped": ["--no-mask", "--ngram-buckets", "500", "--pooling", "last"],
    }
    runs = {}
    for name, extra in options.items():
        result = CliRunner().invoke(app, ["train", str(data), "-r", str(base / name), *TINY_MODEL, *extra])
        assert result.exit_code == 0, result.output
        runs[name] = base / name
    return runs


def test_onnx_export_of_the_default_run_matches_predictor(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "onnx"
    result = CliRunner().invoke(app, ["export", "-r", str(trained_run), "--format", "onnx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Exported onnx to {out} (" in result.output and "MiB)" in result.output
    assert "max abs difference" in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "config.json",
        "export.json",
        "labels.json",
        "model.onnx",
        "vocab.txt",
    ]
    info = json.loads((out / "export.json").read_text())
    assert info["check"]["max_abs_diff"] <= 1e-5 and info["check"]["texts"] > 0 and info["network"] == "full"
    predictor = Predictor(RunDir(trained_run))
    np.testing.assert_allclose(onnx_proba(out, predictor, TEXTS), predictor.proba(TEXTS), atol=1e-5)
    readme = (out / "README.md").read_text()
    side = "**front**" if predictor.config.padding == "pre" else "**end**"
    assert f"`max_len` = {predictor.config.max_len}" in readme and side in readme


def test_onnx_export_needs_neither_tensorflow_nor_tf2onnx(trained_run: Path, tmp_path: Path) -> None:
    """The core install exports ONNX: the graph is built from weights.npz, as the ONNX Runtime engine's."""
    out = tmp_path / "onnx"
    code = (
        "import sys\n"
        "for name in ('tensorflow', 'keras', 'tf2onnx'):\n"
        "    sys.modules[name] = None  # importing any of them now fails\n"
        "from lstmcli.cli import main\n"
        f"sys.argv = ['lstmcli', 'export', '-r', {str(trained_run)!r}, '-f', 'onnx', '-o', {str(out)!r}]\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Exported onnx to" in result.stderr
    predictor = Predictor(RunDir(trained_run))
    np.testing.assert_allclose(onnx_proba(out, predictor, TEXTS), predictor.proba(TEXTS), atol=1e-5)


def test_savedmodel_export_matches_predictor(trained_run: Path, tmp_path: Path) -> None:
    from lstmcli.nn.backend import tf

    out = tmp_path / "sm"
    result = CliRunner().invoke(app, ["export", "-r", str(trained_run), "-f", "savedmodel", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "1" / "saved_model.pb").is_file() and (out / "vocab.txt").is_file()
    predictor = Predictor(RunDir(trained_run))
    loaded = tf.saved_model.load(str(out / "1"))
    ids = predictor.encode(TEXTS)
    np.testing.assert_allclose(loaded.serve(tf.constant(ids)).numpy(), predictor.proba(TEXTS), atol=1e-5)
    served = loaded.signatures["serving_default"](ids=tf.constant(ids))["output_0"].numpy()
    np.testing.assert_allclose(served, predictor.proba(TEXTS), atol=1e-5)


def test_a_run_of_an_earlier_version_exports_its_weights_as_a_savedmodel(tmp_path: Path) -> None:
    """A run written beside a model.keras, its n-gram tables unfolded, exports from weights.npz all the same."""
    from lstmcli.nn.backend import tf

    run = RunDir(shutil.copytree(Path(__file__).parent / "data" / "staged-run-2df0d69", tmp_path / "run"))
    (run.path / "model.keras").unlink()  # not read: the export is built from the config and weights.npz
    result = export_run(run, "savedmodel", tmp_path / "sm")
    predictor = Predictor(run)
    loaded = tf.saved_model.load(str(result.path / "1"))
    ids = predictor.encode(TEXTS)
    np.testing.assert_allclose(loaded.serve(tf.constant(ids)).numpy(), predictor.proba(TEXTS), atol=1e-5)


@pytest.mark.parametrize("name", ["tutorial", "no-ngrams", "joint", "unmasked-grouped"])
def test_onnx_export_of_every_preset_matches_predictor(preset_runs: dict[str, Path], name: str, tmp_path: Path) -> None:
    run = RunDir(preset_runs[name])
    result = export_run(run, "onnx", tmp_path / name)
    predictor = Predictor(run)
    assert result.max_abs_diff <= 1e-5 and result.bytes > 0
    np.testing.assert_allclose(onnx_proba(result.path, predictor, TEXTS), predictor.proba(TEXTS), atol=1e-5)
    if name == "unmasked-grouped":
        assert "**unpadded**" in (result.path / "README.md").read_text()


def test_a_silent_lstm_exports_the_ngram_classifier_alone(trained_run: Path, tmp_path: Path) -> None:
    """A staged run whose LSTM stage never won publishes a zero output layer: the export drops the LSTM."""
    from lstmcli.nn.spec import network_spec

    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir, ignore=shutil.ignore_patterns("export"))
    run = RunDir(run_dir)
    weights, output = run.read_weights(), network_spec(run.read_config()).output
    run.write_weights({**weights, **{key: np.zeros_like(weights[key]) for key in (output.kernel, output.bias)}})
    predictor = Predictor(run)
    assert predictor.network.lstm_silent
    result = export_run(run, "onnx", tmp_path / "out")
    assert json.loads((result.path / "export.json").read_text())["network"] == "n-gram classifier alone"
    np.testing.assert_allclose(onnx_proba(result.path, predictor, TEXTS), predictor.proba(TEXTS), atol=1e-5)


def test_export_errors_are_one_line(trained_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["export", "-r", str(trained_run), "--format", "tflite"])
    assert result.exit_code == 1 and result.output == "Error: unknown format 'tflite'; formats are: savedmodel, onnx\n"
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("mine")
    result = runner.invoke(app, ["export", "-r", str(trained_run), "-f", "onnx", "-o", str(tmp_path / "taken")])
    assert result.exit_code == 1 and "already holds files; pass --overwrite" in result.output
    assert (tmp_path / "taken" / "file.txt").read_text() == "mine"
    result = runner.invoke(app, ["export", "-r", str(tmp_path / "none"), "-f", "onnx"])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_the_readmes_python_feeds_the_export_as_predict_does(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snippet the export's README gives runs as written, in a directory holding config.json and vocab.txt."""
    from lstmcli import export

    snippet = export.README.split("```python\n")[1].split("```")[0]
    monkeypatch.chdir(trained_run)  # it holds config.json and vocab.txt, as the export does
    scope: dict[str, object] = {"texts": TEXTS}
    exec(textwrap.dedent(snippet), scope)
    predictor = Predictor(RunDir(trained_run))
    np.testing.assert_array_equal(scope["ids"], predictor.encode(TEXTS))
