"""Issue 15: the frictions a new user hits in pipelines, and the signals and faults a real shell sends.

Options go through CliRunner; signals, pipes and a full disk through real ``python -m lstmcli`` processes.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import TINY_MODEL, make_rows, write_csv
from typer.testing import CliRunner

from lstmcli import rundir
from lstmcli.cli import app

ROOT = Path(__file__).resolve().parents[1]


def lstmcli(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lstmcli", *map(str, args)], capture_output=True, text=True, cwd=ROOT, **kwargs
    )  # type: ignore[call-overload]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error: ")]


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("binary")
    rows = [(text, "spam" if label == "sports" else "ham") for text, label in make_rows() if label != "cooking"]
    data = write_csv(base / "binary.csv", rows)
    result = CliRunner().invoke(app, ["train", str(data), "-r", str(base / "run"), *TINY_MODEL])
    assert result.exit_code == 0, result.output
    return base / "run"


# --- 1. predict and evaluate --data read tables ---


def test_predict_labels_each_row_of_a_csv_not_its_lines(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    rows = [("a1", "rain and storm, all day\nand night", "weather"), ("a2", "the goal of the match", "sports")]
    data = tmp_path / "test.csv"
    with data.open("w", newline="") as fh:
        csv.writer(fh).writerows([("id", "text", "label"), *rows])
    result = runner.invoke(app, ["predict", "-r", str(trained_run), str(data), "--keep-columns", "id", "--with-text"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2  # no line for the header, one per row even with a newline inside a cell
    assert [line.split("\t")[2] for line in lines] == ["a1", "a2"]
    assert lines[0].split("\t")[3] == "rain and storm, all day and night"

    result = runner.invoke(app, ["predict", "-r", str(trained_run), str(data), "-f", "csv", "--keep-columns", "id"])
    assert result.stdout.splitlines()[0] == "label,probability,id"


def test_predict_tsv_jsonl_stdin_and_headerless(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    tsv = tmp_path / "in.tsv"
    tsv.write_text("review\tid\nbake the flour\t7\n")
    result = runner.invoke(app, ["predict", "-r", str(trained_run), str(tsv), "-f", "jsonl", "--keep-columns", "id"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == "7"  # 'review' picked as prepare picks a text column

    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"n": 1, "body": "storm and wind"}\n{"n": 2, "body": "goal"}\n')
    result = runner.invoke(app, ["predict", "-r", str(trained_run), str(jsonl), "--text-column", "body", "-f", "jsonl"])
    assert [json.loads(line)["label"] for line in result.stdout.splitlines()] != []
    assert len(result.stdout.splitlines()) == 2

    args = ["predict", "-r", str(trained_run), "--input-format", "csv", "--no-header", "--keep-columns", "1", "-"]
    result = runner.invoke(app, args, input="x1,bake the flour in the oven\nx2,rain\n")
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[2] for line in result.stdout.splitlines()] == ["x1", "x2"]  # text: the longer column

    result = runner.invoke(app, ["predict", "-r", str(trained_run), str(tsv), "--text-column", "nope"])
    assert result.exit_code == 1 and "columns are: review, id" in result.stderr


def test_evaluate_data_takes_columns_and_json_lines(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "t.csv", make_rows(5, seed=3), header=("message", "topic"))
    result = runner.invoke(app, ["evaluate", "-r", str(trained_run), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output  # obvious names, as prepare picks them
    assert json.loads(result.stdout)["n"] == 15
    data = write_csv(tmp_path / "odd.csv", make_rows(5, seed=3), header=("words", "kind"))
    args = ["evaluate", "-r", str(trained_run), "--data", str(data), "--text-column", "words", "--label-column", "kind"]
    assert json.loads(runner.invoke(app, [*args, "--json"]).stdout)["n"] == 15
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in make_rows(4, seed=5)))
    result = runner.invoke(app, ["evaluate", "-r", str(trained_run), "--data", str(jsonl), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 12


# --- 2. results on stdout, diagnostics on stderr; --json everywhere ---


def test_results_on_stdout_and_json_for_prepare_and_train(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "-r", str(trained_run)])
    assert result.exit_code == 0 and "accuracy" in result.stdout and "Confusion matrix" in result.stdout
    assert "accuracy" not in result.stderr

    data = write_csv(tmp_path / "d.csv", make_rows(20))
    result = runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "p"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows_read"] == 60 and "Read 60 rows" in result.stderr
    result = runner.invoke(app, ["train", str(data), "-r", str(tmp_path / "t"), *TINY_MODEL, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["best_epoch"] >= 1 and summary["prepare"]["rows_read"] == 60 and "epoch" in result.stderr


# --- 3. plain, unwrapped lines when stderr is not a terminal ---


def test_log_lines_are_whole_when_stderr_is_a_file(tmp_path: Path) -> None:
    deep = tmp_path / ("a-rather-long-directory-name-" * 4) / "run"
    data = write_csv(tmp_path / "d.csv", make_rows(20))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = lstmcli("train", data, "-r", deep, *TINY_MODEL, env=env)
    assert done.returncode == 0, done.stderr
    epochs = [line for line in done.stderr.splitlines() if line.startswith("epoch")]
    assert len(epochs) == 2 and all("val_acc" in line and "best, saved" in line for line in epochs)
    assert f"Saved the best model to {deep}" in done.stderr  # longer than 80 columns, on one line
    refused = lstmcli("train", data, "-r", deep, env=env)
    assert refused.returncode == 1 and len(error_lines(refused.stderr)) == 1
    assert f"run directory {deep} already holds a run" in error_lines(refused.stderr)[0]


def test_train_shows_prepares_report_while_tensorflow_imports(tmp_path: Path) -> None:
    """A whole process: prepare's report is printed while TensorFlow still imports on a thread, whose C++
    start-up lines go to /dev/null: the report reaches stderr all the same, and those lines do not."""
    data = write_csv(tmp_path / "d.csv", make_rows(20))
    done = lstmcli("train", data, "-r", tmp_path / "run", *TINY_MODEL, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"Read 60 rows from {data}" in done.stderr and "Vocabulary: " in done.stderr
    assert done.stderr.index("Vocabulary: ") < done.stderr.index("epoch   1")
    assert "absl" not in done.stderr and "cuda" not in done.stderr.lower()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_train_in_a_terminal_draws_its_status_lines_and_ends(tmp_path: Path) -> None:
    """A whole process on a pseudo-terminal, where rich draws live lines and stands in for sys.stderr meanwhile:
    the console's lines once came back to it through that stand-in without end ("Loading TensorFlow..." forever)."""
    import select

    data = write_csv(tmp_path / "d.csv", make_rows(20))
    primary, secondary = os.openpty()
    args = [sys.executable, "-m", "lstmcli", "train", str(data), "-r", str(tmp_path / "run"), *TINY_MODEL]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, cwd=ROOT)
    os.close(secondary)
    out, deadline = b"", time.monotonic() + 120
    while time.monotonic() < deadline and len(out) < 2_000_000:
        if select.select([primary], [], [], 0.5)[0]:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the process has ended and closed the terminal
                chunk = b""
            if not chunk and proc.poll() is not None:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    if proc.poll() is None:
        proc.kill()
    os.close(primary)
    text = out.decode("utf-8", "replace")
    assert proc.wait(timeout=60) == 0, text[-2000:]
    assert "Read 60 rows" in text and "Loading TensorFlow" in text and "Saved the best model" in text


# --- 4. exit codes; SIGTERM as Ctrl-C; pointing to --resume ---


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_training_saves_the_best_model(tmp_path: Path, signum: int, status: int) -> None:
    data = write_csv(tmp_path / "d.csv", make_rows(30))
    run_dir = tmp_path / "run"
    args = ["train", data, "-r", run_dir, *TINY_MODEL, "--epochs", "500", "--no-early-stopping", "--ngram-buckets", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lstmcli", *map(str, args)], stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("epoch   2") or time.monotonic() > deadline:
            break
    proc.send_signal(signum)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == status, "".join(seen) + rest
    assert "continue with: lstmcli train --run-dir" in rest and "--resume" in rest
    assert (run_dir / rundir.WEIGHTS).is_file()  # the best model so far is published


def test_a_checkpoint_without_a_model_points_to_resume(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    (run_dir / rundir.WEIGHTS).unlink()
    (run_dir / rundir.CHECKPOINT_DIR).mkdir()
    for name in (rundir.TRAIN_STATE, rundir.LAST_MODEL):
        (run_dir / rundir.CHECKPOINT_DIR / name).write_text("{}")
    result = runner.invoke(app, ["predict", "-r", str(run_dir)], input="goal\n")
    assert result.exit_code == 1
    assert f"continue it with 'lstmcli train --run-dir {run_dir} --resume'" in result.stderr


# --- 5. pipe-shaped output ---


def test_format_label_and_a_file_column(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["predict", "-r", str(trained_run), "-f", "label"], input="goal team\n\nrain storm\n")
    labels = json.loads((trained_run / rundir.LABELS).read_text())
    lines = result.stdout.split("\n")[:-1]
    assert len(lines) == 3 and lines[1] == "" and {lines[0], lines[2]} <= set(labels)
    (tmp_path / "a.txt").write_text("rain\nstorm\n")
    (tmp_path / "b.txt").write_text("goal\n")
    result = runner.invoke(app, ["predict", "-r", str(trained_run), str(tmp_path / "a.txt"), str(tmp_path / "b.txt")])
    files = [line.split("\t")[2] for line in result.stdout.splitlines()]
    assert files == [str(tmp_path / "a.txt"), str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]


def test_threshold_binary_and_multiclass(runner: CliRunner, binary_run: Path, trained_run: Path) -> None:
    base = ["predict", "-r", str(binary_run), "-f", "jsonl"]
    rows = [json.loads(line) for line in runner.invoke(app, base, input="goal team\nrain\n").stdout.splitlines()]
    for threshold in (0.0, 1.0):
        result = runner.invoke(app, [*base, "--threshold", str(threshold)], input="goal team\nrain\n")
        chosen = [json.loads(line)["label"] for line in result.stdout.splitlines()]
        assert chosen == (["spam", "spam"] if threshold == 0.0 else ["ham", "ham"])  # spam: the second label
    assert {r["label"] for r in rows} <= {"ham", "spam"}
    result = runner.invoke(app, ["predict", "-r", str(trained_run), "--threshold", "1"], input="goal\n")
    assert result.stdout.split("\t")[0] == ""  # below P: no label, its probability kept
    result = runner.invoke(app, ["predict", "-r", str(trained_run), "--threshold", "1.5"], input="goal\n")
    assert result.exit_code == 1 and "--threshold must be a probability between 0 and 1" in result.stderr


# --- 6. binary input ---


@pytest.mark.parametrize("lines", [600, 2048 + 5])
def test_predict_writes_every_line_and_ends(trained_run: Path, tmp_path: Path, lines: int) -> None:
    """A whole process: 600 lines label in one batch, its groups on a thread pool the main thread started (idle
    once done, its workers wait for work: the process must still end); 2,053 stream through the reading and
    network threads."""
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"goal scored in the match {i}\n" for i in range(lines)))
    done = lstmcli("predict", texts, "-r", trained_run, "-f", "label", timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == lines and done.stderr == ""


def test_predict_refuses_a_binary_file(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    data = tmp_path / "prog"
    data.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)) * 4)
    result = runner.invoke(app, ["predict", "-r", str(trained_run), str(data)])
    assert result.exit_code == 1 and result.stdout == ""
    assert error_lines(result.stderr) == [
        f"Error: {data} looks like a binary file (it contains NUL bytes); expected text"
    ]


# --- 7. CSV errors that say the fix ---


def test_csv_errors_name_the_fix(runner: CliRunner, tmp_path: Path) -> None:
    headerless = tmp_path / "h.csv"
    headerless.write_text("".join(f'"{t}",{lab}\n' for t, lab in make_rows(10)))
    headerless.write_text('"a stirring , funny film",sports\n' + headerless.read_text())
    result = runner.invoke(app, ["prepare", str(headerless), "-r", str(tmp_path / "r1")])
    assert result.exit_code == 1 and "pass --no-header" in result.stderr
    result = runner.invoke(app, ["prepare", str(headerless), "-r", str(tmp_path / "r2"), "--no-header"])
    assert result.exit_code == 0, result.output
    assert "text column '1', label column '2'" in result.stderr

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "text,label\na stirring, funny, film,positive\n" + "".join(f"{t},{lab}\n" for t, lab in make_rows(5))
    )
    result = runner.invoke(app, ["prepare", str(bad), "-r", str(tmp_path / "r3")])
    assert result.exit_code == 1 and "Expected 2 fields in line 2, saw 4" in result.stderr

    swapped = write_csv(tmp_path / "s.csv", [(lab, text) for text, lab in make_rows(10)])
    result = runner.invoke(app, ["prepare", str(swapped), "-r", str(tmp_path / "r4")])
    assert result.exit_code == 1 and "look swapped" in result.stderr
    assert "pass --text-column label --label-column text" in result.stderr


# --- 8. OSErrors a user can cause ---

FAULT = """
import errno, os, sys
real, calls = os.fsync, [0]
def fsync(fd):
    calls[0] += 1
    if calls[0] >= {after}:
        raise OSError(errno.{code}, os.strerror(errno.{code}))
    return real(fd)
os.fsync = fsync
from lstmcli.cli import main
sys.argv = ["lstmcli", *sys.argv[1:]]
main()
"""


def with_fault(code: str, after: int, *args: object) -> subprocess.CompletedProcess[str]:
    program = textwrap.dedent(FAULT.format(code=code, after=after))
    return subprocess.run([sys.executable, "-c", program, *map(str, args)], capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("code", ["ENOSPC", "EROFS", "EACCES"])
def test_a_failed_write_is_one_line_and_leaves_nothing(tmp_path: Path, code: str) -> None:
    data = write_csv(tmp_path / "d.csv", make_rows(20))
    done = with_fault(code, 3, "prepare", data, "-r", tmp_path / "run")
    assert done.returncode == 1, done.stderr
    assert len(error_lines(done.stderr)) == 1 and "Traceback" not in done.stderr
    assert error_lines(done.stderr)[0].startswith(f"Error: cannot write {tmp_path / 'run'}")
    assert os.strerror(getattr(__import__("errno"), code)).lower() in done.stderr
    assert not (tmp_path / "run").exists()  # a new run that failed is removed


def test_a_full_disk_during_overwrite_keeps_the_old_run(tmp_path: Path, trained_run: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    before = sorted(p.name for p in run_dir.rglob("*"))
    data = write_csv(tmp_path / "d.csv", make_rows(20))
    done = with_fault("ENOSPC", 2, "prepare", data, "-r", run_dir, "--overwrite")
    assert done.returncode == 1 and "no space left on device" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in run_dir.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".run.new")] == []


def test_a_run_dir_under_a_file_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "d.csv", make_rows(20))
    (tmp_path / "file").write_text("x")
    result = runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "file" / "run")])
    assert result.exit_code == 1 and len(error_lines(result.stderr)) == 1
    assert "file exists; a file is in the way" in result.stderr


# --- 9. the small ones ---


def test_small_frictions(runner: CliRunner, tmp_path: Path) -> None:
    from lstmcli.cli.options import PARSERS

    assert PARSERS["monitor"]("val_acc") == "val_accuracy"
    data = write_csv(tmp_path / "d.csv", make_rows(20))
    result = runner.invoke(app, ["train", str(data), "-r", str(tmp_path / "r"), "--units", "0"])
    assert result.exit_code == 1 and "received 0" in result.stderr and "(0,)" not in result.stderr
    for command in ("predict", "explain"):
        help_text = runner.invoke(app, [command, "--help"]).stdout
        assert "encoding of the input" in help_text and "of the CSV" not in help_text


def test_a_closed_pipe_on_stderr_is_not_a_failure(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "d.csv", make_rows(20))
    shell = f"{sys.executable} -m lstmcli prepare {data} -r {tmp_path / 'run'} 2>&1 | head -1; exit ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Read 60 rows") and (tmp_path / "run" / rundir.MANIFEST).is_file()


def test_chinese_tokenizer_report_says_per_character(runner: CliRunner, tmp_path: Path) -> None:
    rows = [("这款手机很好用" if i % 2 else "质量太差了不推荐", "pos" if i % 2 else "neg") for i in range(40)]
    data = write_csv(tmp_path / "zh.csv", rows)
    result = runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "Tokenizer: word, per character" in result.stderr


def test_no_empty_epoch_bar_after_the_last_epoch() -> None:
    from lstmcli.ui.display import RichProgress

    progress = RichProgress()
    progress.start(epochs=2, initial_epoch=0, steps=3)
    progress.batch(3, {"loss": 0.5})
    progress.epoch(1, {"loss": 0.5, "val_loss": 0.4}, improved=True)
    tasks = {task.description: task.visible for task in progress.progress.tasks}
    progress.stop()
    assert tasks == {"run": True, "epoch 2": False}
