"""Shared fixtures: tiny labelled data made here, and one tiny trained run reused by many tests."""

from __future__ import annotations

import csv
import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lstmcli.cli import app

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

# Small, clearly separable topics: a one-epoch model already learns something from them.
TOPICS = {
    "sports": ["match", "goal", "team", "coach", "league", "score", "player", "season", "win", "stadium"],
    "weather": ["rain", "storm", "sunny", "forecast", "wind", "snow", "cloud", "temperature", "cold", "humid"],
    "cooking": ["recipe", "oven", "bake", "flour", "sauce", "garlic", "pan", "dinner", "salt", "boil"],
}


def model_flags(epochs: int = 2, ngram_epochs: int = 1, batch_size: int = 16, size: int = 8) -> list[str]:
    """``train``'s flags for a tiny model of layers of ``size``: by default one epoch of each stage."""
    flags = {"epochs": epochs, "ngram-epochs": ngram_epochs, "embedding-dim": size, "units": size}
    return [part for name, value in {**flags, "dense-units": size, "batch-size": batch_size}.items()
            for part in (f"--{name}", str(value))]  # fmt: skip


TINY_MODEL = model_flags()


def make_rows(n_per_class: int = 40, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for label, words in TOPICS.items():
        for _ in range(n_per_class):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(4, 12)))
            rows.append((f"The {text}, really!", label))
    rng.shuffle(rows)
    return rows


def write_csv(
    path: Path,
    rows: list[tuple[str, str]],
    header: tuple[str, str] = ("text", "label"),
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session", autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Packaged vectors are converted into a cache of the test session's own, never the user's."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "tiny.csv", make_rows())


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory trained on tiny data, one epoch of the n-gram stage and two of the LSTM's (one epoch at the
    constant rate of a run this small leaves the LSTM nothing, and the blend would publish the n-gram part
    alone); tests must not write into it."""
    base = tmp_path_factory.mktemp("trained")
    data = write_csv(base / "tiny.csv", make_rows())
    run_dir = base / "run"
    result = CliRunner().invoke(app, ["train", str(data), "--run-dir", str(run_dir), *model_flags(epochs=3)])
    assert result.exit_code == 0, result.output
    return run_dir


def keras_model(run_dir: Path) -> Any:
    """The run's published network as a Keras model, built from its config and weights.npz as export builds it."""
    from lstmcli.nn.model import model_from_weights
    from lstmcli.rundir import RunDir

    run = RunDir(run_dir)
    return model_from_weights(run.read_weights(), run.read_config(), len(run.read_vocab()), len(run.read_labels()))


def training_batches(tmp_path: Path, streaming: bool, batch_size: int = 16) -> tuple[Any, int, int]:
    """Prepares the tiny rows in memory or streamed; returns the training pipeline train would fit on (batches of
    ``batch_size``), its batches per epoch and the training rows."""
    from lstmcli.nn.data import make_dataset, shard_dataset
    from lstmcli.rundir import RunDir

    data = write_csv(tmp_path / "tiny.csv", make_rows())
    flag = "--streaming" if streaming else "--in-memory"
    result = CliRunner().invoke(app, ["prepare", str(data), "-r", str(tmp_path / "run"), flag])
    assert result.exit_code == 0, result.output
    run = RunDir(tmp_path / "run")
    config = run.read_config().replace(batch_size=batch_size)
    if streaming:
        dataset, steps = shard_dataset(run, "train", config, shuffle=True)
    else:
        prepared = run.read_prepared()
        dataset, steps = make_dataset(prepared.train_x, prepared.train_y, config, shuffle=True)
    report = run.read_prepare_report()
    assert report is not None
    return dataset, steps, report["train_rows"]


def write_checkpoint_models(run_dir: Path) -> None:
    """Writes the run's published network as its checkpoint's last and best Keras models, as a training leaves them."""
    from lstmcli import rundir

    checkpoint = run_dir / rundir.CHECKPOINT_DIR
    checkpoint.mkdir(exist_ok=True)
    keras_model(run_dir).save(str(checkpoint / rundir.LAST_MODEL))
    shutil.copyfile(checkpoint / rundir.LAST_MODEL, checkpoint / rundir.BEST_MODEL)


def shared_dataset(name: str) -> Path:
    """A corpus from ../shared/datasets: fails in CI when missing, skips on a user's fresh clone."""
    path = SHARED_DATASETS / name
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing; CI always has ../shared/datasets")
        pytest.skip(f"{path} not found (the benchmark corpora sit beside the project in ../shared)")
    return path
