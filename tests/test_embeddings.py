"""--embeddings: pretrained vectors start the token embeddings, extend the vocabulary, and fail early when wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import TOPICS, make_rows, write_csv
from typer.testing import CliRunner

from lstmcli.cli import app
from lstmcli.predictor import Predictor
from lstmcli.rundir import RunDir
from lstmcli.text.vocab import OOV_ID

DIM = 6
TINY = ["--epochs", "2", "--ngram-epochs", "1", "--units", "4", "--dense-units", "4", "--batch-size", "16"]


def _vectors(path: Path, extra: tuple[str, ...] = ("tornado", "umpire")) -> Path:
    rng = np.random.default_rng(0)
    words = [w for topic in TOPICS.values() for w in topic] + ["the", "really"] + list(extra)
    lines = [
        f"{w.upper() if i % 3 == 0 else w} " + " ".join(f"{v:.4f}" for v in rng.normal(0, 0.5, DIM))
        for i, w in enumerate(words)
    ]
    path.write_text(f"{len(lines)} {DIM}\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_prepare_reports_coverage_and_keeps_the_vectors_words(runner: CliRunner, tmp_path: Path) -> None:
    data, vectors = write_csv(tmp_path / "tiny.csv", make_rows()), _vectors(tmp_path / "vec.vec")
    result = runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "run"), "--embeddings", str(vectors)])
    assert result.exit_code == 0, result.output
    run = RunDir(tmp_path / "run")
    report = run.read_prepare_report()
    assert report is not None and report["embeddings"]["dim"] == DIM and report["embeddings"]["added_words"] == 2
    assert 0.8 < report["embeddings"]["vocab_share"] < 1.0  # punctuation tokens have no vector
    assert "vectors for" in result.output and "2 words of the vectors added" in result.output
    vocab, matrix = run.read_vocab(), run.read_embeddings()
    assert run.read_config().embedding_dim == DIM and matrix is not None and matrix.shape == (len(vocab), DIM)
    assert "tornado" in vocab.tokens and not matrix[0].any()  # upper-case "GOAL" matched as "goal": case-folded
    assert "goal" in vocab.tokens


@pytest.mark.parametrize("freeze", [True, False])
def test_vectors_start_the_embeddings_and_help_unseen_words(runner: CliRunner, tmp_path: Path, freeze: bool) -> None:
    data, vectors = write_csv(tmp_path / "tiny.csv", make_rows()), _vectors(tmp_path / "vec.txt")
    flag = "--freeze-embeddings" if freeze else "--tune-embeddings"
    args = ["train", str(data), "-r", str(tmp_path / "run"), "--embeddings", str(vectors), flag, *TINY]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    run = RunDir(tmp_path / "run")
    start, weights = run.read_embeddings(), run.read_weights()
    assert start is not None
    assert np.array_equal(weights["embedding"], start) == freeze
    assert not np.array_equal(weights["ngram_embedding"], start)  # the n-gram classifier learns its own
    predictor = Predictor(run)
    ids = predictor.encode(["tornado umpire"])
    assert OOV_ID not in ids[ids > 0]  # words only the vectors know keep their own vectors at prediction
    unseen = predictor.vocab.ids(["tornado"])[0]
    assert np.array_equal(weights["embedding"][unseen], start[unseen])  # never trained: still the vector


def test_a_dimension_that_contradicts_embedding_dim_fails_before_any_work(runner: CliRunner, tmp_path: Path) -> None:
    data, vectors = write_csv(tmp_path / "tiny.csv", make_rows()), _vectors(tmp_path / "vec.vec")
    args = ["train", str(data), "-r", str(tmp_path / "run"), "--embeddings", str(vectors), "--embedding-dim", "8"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    message = result.output.strip()
    assert message.startswith("Error: ") and "\n" not in message
    assert "vec.vec line 1" in message and "pass --embedding-dim 6" in message  # the header's dim
    assert not (tmp_path / "run").exists()


def test_a_malformed_vectors_file_is_one_line_naming_file_and_line(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "tiny.csv", make_rows())
    bad = tmp_path / "bad.txt"
    bad.write_text("goal 0.1 0.2 0.3\nteam 0.1 0.2\n", encoding="utf-8")
    result = runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "run"), "--embeddings", str(bad)])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert "bad.txt line 2" in result.output


def test_embeddings_change_preprocessing_so_they_need_the_csv(runner: CliRunner, trained_run: Path, tmp_path) -> None:
    result = runner.invoke(app, ["train", "-r", str(trained_run), "--embeddings", str(_vectors(tmp_path / "v.vec"))])
    assert result.exit_code == 1 and "--embeddings change preprocessing" in result.output


def test_a_trained_run_keeps_its_start_vectors_once_and_trains_again_from_them(
    runner: CliRunner, tmp_path: Path
) -> None:
    data, vectors = write_csv(tmp_path / "tiny.csv", make_rows()), _vectors(tmp_path / "vec.txt")
    run_dir = tmp_path / "run"
    assert runner.invoke(app, ["prepare", str(data), "-r", str(run_dir), "--embeddings", str(vectors)]).exit_code == 0
    run = RunDir(run_dir)
    start = run.read_embeddings()
    assert start is not None and (run_dir / "data" / "embeddings.npy").is_file()
    for args in ([*TINY], ["--overwrite", *TINY]):  # trained, then trained again from what data/ kept
        result = runner.invoke(app, ["train", "-r", str(run_dir), *args])
        assert result.exit_code == 0, result.output
        assert not (run_dir / "data" / "embeddings.npy").exists()  # data/ keeps only the rows training moved
        kept = run.read_embeddings()
        assert kept is not None and np.array_equal(kept.view(np.uint32), start.view(np.uint32)), args
        unseen = run.read_vocab().ids(["tornado"])[0]
        assert np.array_equal(run.read_weights()["embedding"][unseen], start[unseen])  # started from the vectors


def test_start_vectors_are_held_at_float16_precision_and_their_untouched_rows_stored_so(
    runner: CliRunner, tmp_path: Path
) -> None:
    extra = tuple(f"word{i}" for i in range(400))  # words no training text holds: training never moves their rows
    data, vectors = write_csv(tmp_path / "tiny.csv", make_rows()), _vectors(tmp_path / "vec.txt", extra)
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(data), "-r", str(run_dir), "--embeddings", str(vectors), *TINY])
    assert result.exit_code == 0, result.output
    run = RunDir(run_dir)
    start, published = run.read_embeddings(), run.read_weights()["embedding"]
    assert start is not None and published.dtype == np.float32
    assert np.array_equal(start.astype(np.float16).astype(np.float32), start)
    given = np.array([float(v) for v in (tmp_path / "vec.txt").read_text().splitlines()[-1].split()[1:]])
    row = start[run.read_vocab().ids([extra[-1]])[0]]
    np.testing.assert_allclose(row, given, rtol=2**-11, atol=0)  # rounded, not moved
    unseen = run.read_vocab().ids(list(extra))
    assert np.array_equal(published[unseen], start[unseen])
    assert "embedding@half" in np.load(run_dir / "weights.npz").files


def test_half_precision_keeps_numbers_float16_cannot_hold() -> None:
    from lstmcli.dataset.embeddings import half_precision

    out = half_precision(np.array([[0.1, -1e6, np.inf, 3.0]], np.float64))
    assert out.dtype == np.float32
    assert out[0, 0] == np.float32(np.float16(0.1)) and out[0, 1] == -1e6 and out[0, 2] == np.inf and out[0, 3] == 3.0
