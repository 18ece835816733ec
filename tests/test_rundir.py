"""The run directory records decisions once: the best epoch and its monitor, the split kind, its format."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import make_rows, write_checkpoint_models, write_csv
from typer.testing import CliRunner

from lstmcli import rundir
from lstmcli.cli import app
from lstmcli.errors import RunDirError
from lstmcli.rundir import RunDir

# Epoch 1 has the lowest val_loss, epoch 2 the highest val_accuracy: the two monitors pick different epochs.
ROWS = [
    {"epoch": 1, "loss": 0.9, "accuracy": 0.5, "val_loss": 0.5, "val_accuracy": 0.6, "seconds": 1.0, "stage": "ngrams"},
    {"epoch": 2, "loss": 0.4, "accuracy": 0.9, "val_loss": 0.7, "val_accuracy": 0.9, "seconds": 1.0, "stage": "lstm"},
]


def _trained_by_val_accuracy(runner: CliRunner, trained_run: Path, tmp_path: Path) -> Path:
    """A run whose training, monitoring val_accuracy, kept epoch 2 (published by resuming a finished checkpoint)."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    checkpoint = run_dir / rundir.CHECKPOINT_DIR
    checkpoint.mkdir()
    config = RunDir(run_dir).read_config().replace(monitor="val_accuracy", epochs=1, ngram_epochs=1)
    (checkpoint / rundir.CONFIG).write_text(config.to_json())
    write_checkpoint_models(run_dir)
    state = {
        "epoch": 2,
        "best_epoch": 2,
        "best": ROWS[1],
        "wait": 0,
        "stopped_early": False,
        "history": ROWS,
        "stage": 1,
        "stage_start": 1,
    }
    (checkpoint / rundir.TRAIN_STATE).write_text(json.dumps(state))
    result = runner.invoke(app, ["train", "--run-dir", str(run_dir), "--resume"])
    assert result.exit_code == 0, result.output
    assert "best epoch 2" in result.stderr
    return run_dir


def test_info_report_and_curves_name_the_epoch_training_kept(
    runner: CliRunner, trained_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = _trained_by_val_accuracy(runner, trained_run, tmp_path)
    info = json.loads(runner.invoke(app, ["info", "-r", str(run_dir), "--json"]).stdout)
    assert info["training"]["best_epoch"] == 2
    assert info["training"]["monitor"] == "val_accuracy"
    assert info["training"]["best_stage"] == "lstm"
    page_path = tmp_path / "page.html"
    assert runner.invoke(app, ["report", "-r", str(run_dir), "--out", str(page_path)]).exit_code == 0
    page = page_path.read_text(encoding="utf-8")
    assert "x the LSTM (best epoch 2: " in page and "epoch chosen by the highest val_accuracy" in page
    from matplotlib.axes import Axes

    marked: list[float] = []
    original = Axes.axvline
    monkeypatch.setattr(Axes, "axvline", lambda ax, x=0, *a, **k: marked.append(x) or original(ax, x, *a, **k))
    assert runner.invoke(app, ["evaluate", "-r", str(run_dir), "--plots"]).exit_code == 0
    assert marked and set(marked) == {2}


def test_a_run_without_a_training_record_falls_back_to_the_lowest_val_loss(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.write_history(ROWS)
    record = run.read_training()
    assert record is not None and (record.best_epoch, record.monitor) == (1, "val_loss")
    assert RunDir(tmp_path / "empty").read_training() is None


def test_a_stale_training_record_is_ignored(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.write_history(ROWS)
    run.write_training(rundir.TrainingRecord(best_epoch=2, monitor="val_accuracy", epochs_run=2))
    assert run.read_training() == rundir.TrainingRecord(2, "val_accuracy", 2)
    run.write_history(ROWS[:1])  # retrained by an lstmcli that writes no record: the history wins
    assert run.read_training() == rundir.TrainingRecord(1, "val_loss", 1)


def test_a_streamed_prepare_says_its_split_is_hashed(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "t.csv", make_rows())
    result = runner.invoke(
        app, ["prepare", str(data), "-r", str(tmp_path / "run"), "--streaming"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "validation (hashed)" in result.stderr and "stratified)" not in result.stderr
    report = RunDir(tmp_path / "run").read_prepare_report()
    assert report is not None and report["split"] == "hashed"


def test_an_older_prepare_report_without_a_split_kind_reads_by_its_mode(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.write_prepare_report({"mode": "streaming", "rows_read": 3})
    assert run.read_prepare_report() == {"mode": "streaming", "rows_read": 3, "split": "hashed"}
    run.write_prepare_report({"rows_read": 3})
    assert run.read_prepare_report() == {"rows_read": 3, "split": "stratified"}


def test_report_data_section_names_the_split_kind() -> None:
    from lstmcli.ui.report import split_text

    assert split_text({"train_rows": 9, "val_rows": 1, "split": "hashed"}) == "9 train, 1 validation (hashed)"
    assert split_text({"train_rows": 9, "val_rows": 1}) == "9 train, 1 validation (stratified)"


# --- the typed store ---


def test_train_state_round_trips_and_rejects_damage() -> None:
    state = rundir.TrainState(epoch=2, best_epoch=2, best=dict(ROWS[1]), history=[dict(r) for r in ROWS], stage=1)
    assert rundir.TrainState.from_json(state.to_json()) == state
    older = json.loads(state.to_json())
    del older["stage"], older["stage_start"]  # written before staged training
    assert rundir.TrainState.from_json(json.dumps(older)).stage == 0
    for damaged in ("{{{", '{"epoch": 1}', json.dumps({**json.loads(state.to_json()), "best_epoch": 3})):
        with pytest.raises(ValueError):
            rundir.TrainState.from_json(damaged)


def test_damaged_train_state_names_the_file(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.write_train_state(rundir.TrainState(epoch=1, best_epoch=1, best={"val_loss": 1.0}, history=[{"epoch": 1}]))
    assert run.read_train_state().epoch == 1
    (tmp_path / rundir.CHECKPOINT_DIR / rundir.TRAIN_STATE).write_text('{"epoch": 1}')
    with pytest.raises(RunDirError, match=r"state.json is damaged; train again with --overwrite"):
        run.read_train_state()


def test_a_newer_format_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / rundir.MANIFEST).write_text(json.dumps({"format": rundir.FORMAT + 1, "versions": {"lstmcli": "9.0"}}))
    with pytest.raises(RunDirError, match=rf"lstmcli 9.0 \(format {rundir.FORMAT + 1}\); this lstmcli reads format"):
        RunDir(tmp_path).read_manifest()


def test_an_older_shard_index_with_its_own_format_number_still_reads(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    parts = {
        p: {"rows": 1, "length_counts": [0, 1], "shards": [run.write_shard(p, 0, np.ones((1, 1)), np.zeros(1))]}
        for p in rundir.SHARD_PARTS
    }
    (tmp_path / rundir.SHARD_INDEX).write_text(json.dumps({"format": 1, "max_len": 1, "parts": parts}))
    assert run.read_shard_index()["max_len"] == 1
    run.write_shard_index(1, parts)
    assert "format" not in json.loads((tmp_path / rundir.SHARD_INDEX).read_text())
    assert [len(y) for _, y in run.shard_arrays("val")] == [1]


def test_no_module_outside_rundir_builds_a_path_in_a_run() -> None:
    assert not hasattr(RunDir, "__truediv__")


@pytest.mark.parametrize("layout", ["one a line", "written whole", "one line"])
def test_validation_texts_are_read_by_row_a_line_at_a_time(tmp_path: Path, layout: str) -> None:
    texts = ["plain", 'a "quoted", text', "two\nlines", "[", "", "last"]
    run = RunDir(tmp_path)
    if layout == "one a line":
        writer = run.open_val_texts()
        for text in texts:
            writer.add(text)
        writer.close()
    else:
        path = tmp_path / rundir.DATA_DIR / rundir.VAL_TEXTS
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(texts, indent=2 if layout == "written whole" else None), encoding="utf-8")
    assert run.read_val_texts_at([5, 1, 3, 9]) == ({1: texts[1], 3: "[", 5: "last"}, len(texts))
    assert run.read_val_texts_at([]) == ({}, len(texts))
    assert RunDir(tmp_path / "none").read_val_texts_at([0]) == ({}, 0)


def test_a_trained_run_keeps_each_start_vector_once(tmp_path: Path) -> None:
    """Published, the token embeddings hold the start rows training left alone; data/ keeps only the others."""
    (tmp_path / rundir.DATA_DIR).mkdir()
    run, rng = RunDir(tmp_path), np.random.default_rng(0)
    start = rng.normal(size=(50, 4)).astype(np.float32)
    start[5] = 0.0
    trained = start.copy()
    trained[[3, 7]] += 1.0
    trained[5] = -0.0  # equal as a number, not bit for bit: kept
    run.write_embeddings(start)
    run.write_weights({"embedding": trained, "output_bias": np.ones(3, np.float32)}, started_from="embedding")
    whole, moved = tmp_path / rundir.DATA_DIR / rundir.EMBEDDINGS, tmp_path / rundir.DATA_DIR / rundir.EMBEDDINGS_MOVED
    assert not whole.exists() and run.has_embeddings()
    assert np.load(moved)["rows"].tolist() == [3, 5, 7]
    assert np.array_equal(run.read_embeddings().view(np.uint32), start.view(np.uint32))  # type: ignore[union-attr]
    assert np.array_equal(run.read_weights()["embedding"].view(np.uint32), trained.view(np.uint32))
    # Trained again: the start vectors read through the weights they were kept beside, then beside the new ones.
    again = start.copy()
    again[1] += 2.0
    run.write_weights({"embedding": again}, started_from="embedding")
    assert np.load(moved)["rows"].tolist() == [1]
    assert np.array_equal(run.read_embeddings(), start)  # type: ignore[arg-type]
    # Embeddings of another size (train --embedding-dim): the whole start vectors are kept again.
    run.write_weights({"embedding": np.zeros((50, 8), np.float32)}, started_from="embedding")
    assert whole.is_file() and not moved.exists() and np.array_equal(run.read_embeddings(), start)  # type: ignore[arg-type]


def test_start_rows_beside_weights_they_were_not_kept_with_are_refused(tmp_path: Path) -> None:
    (tmp_path / rundir.DATA_DIR).mkdir()
    run = RunDir(tmp_path)
    start = np.arange(40, dtype=np.float32).reshape(10, 4)
    run.write_embeddings(start)
    run.write_weights({"embedding": start + 1}, started_from="embedding")
    np.savez(tmp_path / rundir.WEIGHTS, embedding=start + 2)  # replaced by something that is not lstmcli
    with pytest.raises(RunDirError, match="does not fit"):
        run.read_embeddings()


def test_weights_mostly_of_zeros_are_deflated_and_read_back_exactly(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    table = np.zeros((20_000, 4), np.float32)
    table[::97] = 1.5
    dense = np.random.default_rng(1).normal(size=(2_000, 4)).astype(np.float32)
    run.write_weights({"ngram_table": table, "embedding": dense})
    members = {m.filename: m for m in zipfile.ZipFile(tmp_path / rundir.WEIGHTS).infolist()}
    assert members["ngram_table.npy"].compress_type == zipfile.ZIP_DEFLATED
    assert members["ngram_table.npy"].compress_size < table.nbytes // 20
    assert members["embedding.npy"].compress_type == zipfile.ZIP_STORED
    weights = run.read_weights()
    assert np.array_equal(weights["ngram_table"], table) and np.array_equal(weights["embedding"], dense)


def test_ids_of_a_small_vocabulary_are_written_in_half_the_bytes_and_read_as_int32(tmp_path: Path) -> None:
    (tmp_path / rundir.DATA_DIR).mkdir()
    tokens = ["<pad>", "<unk>", *(f"t{i}" for i in range(2, 70_000))]
    (tmp_path / rundir.VOCAB).write_text("\n".join(tokens) + "\n", encoding="utf-8")
    (tmp_path / rundir.LABELS).write_text(json.dumps(["a", "b"]), encoding="utf-8")
    run, y = RunDir(tmp_path), np.array([0, 1, 1], np.int32)
    for top, stored in ((65_535, np.uint16), (65_536, np.int32)):
        x = np.array([[top, 3, 0], [2, 0, 0], [5, 6, 7]], np.int32)
        run.write_prepared(rundir.Prepared(x, y, x[:2], y[:2]), ["a text", "another"])
        assert np.load(tmp_path / rundir.DATA_DIR / "train_x.npy").dtype == stored
        prepared = run.read_prepared()
        assert prepared.train_x.dtype == np.int32 and np.array_equal(prepared.train_x, x)
        assert prepared.val_x.dtype == np.int32 and np.array_equal(prepared.val_x, x[:2])


def test_a_matrix_most_of_whose_rows_float16_holds_is_kept_halved_and_read_back_bit_for_bit(tmp_path: Path) -> None:
    """The token embeddings' untouched rows are start vectors at float16's precision: kept in two bytes a number,
    the rows training moved in four, read back exactly (published weights, and the start rows data/ keeps)."""
    (tmp_path / rundir.DATA_DIR).mkdir()
    run, rng = RunDir(tmp_path), np.random.default_rng(2)
    start = rng.normal(0, 0.4, size=(3_000, 8)).astype(np.float16).astype(np.float32)
    start[10] = [-0.0, 0.0, 1e-7, -65504.0, 6e-5, 0.1, 2.0, 3.0]  # float16 holds these (1e-7 and 0.1 as rounded)
    start[10] = start[10].astype(np.float16).astype(np.float32)
    trained = start.copy()
    trained[[2, 3, 500]] += np.float32(1e-3)  # moved by training: float16 no longer holds them
    trained[7, 0] = 1e6  # beyond float16's range
    trained.view(np.uint32)[9, 1] = 0x7FC00001  # a NaN whose payload float16 cannot keep
    run.write_embeddings(start)
    run.write_weights({"embedding": trained, "output_bias": np.ones(3, np.float32)}, started_from="embedding")
    members = {m.filename: m for m in zipfile.ZipFile(tmp_path / rundir.WEIGHTS).infolist()}
    assert {"embedding@half.npy", "embedding@rows.npy", "embedding@float32.npy"} <= set(members)
    assert "embedding.npy" not in members
    assert sum(m.file_size for n, m in members.items() if n.startswith("embedding")) < trained.nbytes * 0.51
    assert np.load(tmp_path / rundir.WEIGHTS)["embedding@rows"].tolist() == [2, 3, 7, 9, 500]
    assert np.array_equal(run.read_weights()["embedding"].view(np.uint32), trained.view(np.uint32))
    assert np.array_equal(run.read_embeddings().view(np.uint32), start.view(np.uint32))  # type: ignore[union-attr]
    assert np.load(tmp_path / rundir.DATA_DIR / rundir.EMBEDDINGS_MOVED)["rows"].tolist() == [2, 3, 7, 9, 500]


def test_a_matrix_float16_does_not_hold_is_kept_whole(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    dense = np.random.default_rng(3).normal(size=(2_000, 8)).astype(np.float32)
    dense[:1_000] = dense[:1_000].astype(np.float16)  # half of the rows: halving would save too little
    run.write_weights({"embedding": dense})
    assert [m.filename for m in zipfile.ZipFile(tmp_path / rundir.WEIGHTS).infolist()] == ["embedding.npy"]
    assert np.array_equal(run.read_weights()["embedding"], dense)


def test_a_damaged_halved_matrix_is_one_line_naming_the_file(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.write_weights({"embedding": np.ones((2_000, 8), np.float32)})
    with np.load(tmp_path / rundir.WEIGHTS) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["embedding@rows"] = np.array([5_000], np.int32)  # a row the matrix does not have
    arrays["embedding@float32"] = np.ones((1, 8), np.float32)
    np.savez(tmp_path / rundir.WEIGHTS, **arrays)
    with pytest.raises(RunDirError, match="weights.npz is damaged"):
        run.read_weights()


def test_a_run_prepared_by_an_earlier_version_is_of_this_format_once_trained(tmp_path: Path) -> None:
    """An earlier version refuses, by name, a run whose weights it could not read (halved matrices)."""
    run = RunDir(tmp_path)
    manifest = {"format": 1, "versions": {"lstmcli": "0.0.9"}, "data_file": "d.csv", "data_sha256": "ab"}
    (tmp_path / rundir.MANIFEST).write_text(json.dumps(manifest))
    assert run.read_manifest()["format"] == 1  # it reads as it was
    run.write_weights({"output_bias": np.ones(3, np.float32)})
    assert run.read_manifest() == {**manifest, "format": rundir.FORMAT} and rundir.FORMAT == 2
