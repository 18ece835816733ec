"""Bad input: one ``Error: ...`` line and a non-zero exit, or the right result for odd but legitimate input.

Every case drives the real CLI. Run-directory cases hash the directory before and after: a refused
command must leave every byte of an existing run as it was.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, make_rows, write_csv
from typer.testing import CliRunner, Result

from lstmcli.cli import app
from lstmcli.rundir import locked

# ---------------------------------------------------------------------------------------------------------------
# helpers


def run_cli(runner: CliRunner, args: list[object], stdin: bytes | None = None) -> Result:
    """Invokes the CLI and fails the test on any uncaught exception (what a user would see as a traceback)."""
    result = runner.invoke(app, [str(a) for a in args], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}") from result.exception
    assert "Traceback" not in result.output
    return result


def assert_error(result: Result, message: str, exit_code: int = 1) -> None:
    """Exactly one ``Error:`` line, on stderr, holding ``message``; nothing on stdout; the exit status."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert message in errors[0], errors[0]
    assert result.stdout == ""
    assert result.exit_code == exit_code, result.output


def snapshot(path: Path) -> dict[str, str]:
    """Every file under ``path`` (or ``path`` itself) with its SHA-256; directories as ``dir``."""
    if not path.exists():
        return {}
    if path.is_file():
        return {".": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(path.rglob("*"))
    }


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def rows_text(rows: list[tuple[str, str]], header: str = "text,label", sep: str = ",") -> str:
    return header + "\n" + "".join(f"{t}{sep}{lab}\n" for t, lab in rows)


SIMPLE = [(f"the match team goal number {i}", "sports") for i in range(10)] + [
    (f"the rain storm cloud number {i}", "weather") for i in range(10)
]


# ---------------------------------------------------------------------------------------------------------------
# files and columns: `prepare FILE` fails and creates no run directory

FileMaker = Callable[[Path], Path]

BAD_FILES: list[tuple[str, FileMaker, list[str], str]] = [
    ("missing", lambda d: d / "nope.csv", [], "file not found"),
    ("directory", lambda d: d, [], "is a directory"),
    ("empty", lambda d: write_bytes(d / "e.csv", b""), [], "is empty"),
    ("blank-lines-only", lambda d: write_bytes(d / "e.csv", b"\n \n\r\n"), [], "is empty"),
    ("header-only", lambda d: write_bytes(d / "h.csv", b"text,label\n"), [], "has a header but no rows"),
    ("binary", lambda d: write_bytes(d / "b.csv", bytes(range(256)) * 64), [], "looks like a binary file"),
    (
        "binary-without-nul",
        lambda d: write_bytes(d / "b.csv", bytes(range(1, 256)) * 64),
        [],
        "cannot tell the text encoding",
    ),
    ("gzip", lambda d: write_bytes(d / "g.csv.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + bytes(200)), [], "binary"),
    ("tsv-suffix-comma-content", lambda d: write_csv(d / "c.tsv", SIMPLE), [], "a single column"),
    (
        "colon-delimited",
        lambda d: write_bytes(d / "c.csv", rows_text(SIMPLE, "text:label", ":").encode()),
        [],
        "a single column",
    ),
    (
        "ragged-extra-field",
        lambda d: write_bytes(d / "r.csv", (rows_text(SIMPLE) + "a,b,c\n").encode()),
        [],
        "not a well-formed CSV",
    ),
    (
        "unclosed-quote",
        lambda d: write_bytes(d / "q.csv", (rows_text(SIMPLE) + '"never closed,sports\n').encode()),
        [],
        "not a well-formed CSV",
    ),
    (
        "latin1-declared-utf8",
        lambda d: write_bytes(d / "l.csv", rows_text(SIMPLE + [("café", "sports")]).encode("latin-1")),
        ["--encoding", "utf-8"],
        "pass --encoding",
    ),
    (
        "unknown-encoding",
        lambda d: write_csv(d / "t.csv", SIMPLE),
        ["--encoding", "klingon"],
        "unknown encoding 'klingon'",
    ),
    (
        "unknown-text-column",
        lambda d: write_csv(d / "t.csv", SIMPLE),
        ["--text-column", "body"],
        "column 'body' not found",
    ),
    (
        "unknown-label-column",
        lambda d: write_csv(d / "t.csv", SIMPLE),
        ["--label-column", "klass"],
        "column 'klass' not found",
    ),
    (
        "no-obvious-text-column",
        lambda d: write_csv(d / "t.csv", SIMPLE, header=("words", "label")),
        [],
        "Pass --text-column",
    ),
    (
        "no-obvious-label-column",
        lambda d: write_csv(d / "t.csv", SIMPLE, header=("text", "kind")),
        [],
        "Pass --label-column",
    ),
    (
        "same-text-and-label-column",
        lambda d: write_csv(d / "t.csv", SIMPLE),
        ["--text-column", "label"],
        "both 'label'",
    ),
    (
        "duplicate-column-names",
        lambda d: write_bytes(
            d / "t.csv", rows_text([(f"{t},x", lab) for t, lab in SIMPLE], "text,label,text").encode()
        ),
        [],
        "duplicate column names (text)",
    ),
    (
        "all-empty-text",
        lambda d: write_csv(d / "t.csv", [("", lab) for _, lab in SIMPLE]),
        [],
        "no row with both a text and a label",
    ),
    (
        "all-empty-labels",
        lambda d: write_csv(d / "t.csv", [(t, " ") for t, _ in SIMPLE]),
        [],
        "no row with both a text and a label",
    ),
    ("one-class", lambda d: write_csv(d / "t.csv", [(t, "sports") for t, _ in SIMPLE]), [], "one class only"),
    (
        "class-with-one-row",
        lambda d: write_csv(d / "t.csv", SIMPLE + [("a lone cake", "cooking")]),
        [],
        "class 'cooking' has a single row",
    ),
    (
        "too-few-rows-to-split",
        lambda d: write_csv(d / "t.csv", SIMPLE[:2] + SIMPLE[-2:]),
        [],
        "add rows or change --val-size",
    ),
]


@pytest.mark.parametrize(("maker", "args", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_file_is_refused(
    runner: CliRunner, tmp_path: Path, maker: FileMaker, args: list[str], message: str
) -> None:
    data = maker(tmp_path)
    run_dir = tmp_path / "run"
    assert_error(run_cli(runner, ["prepare", data, "--run-dir", run_dir, *args]), message)
    assert not run_dir.exists()


# ---------------------------------------------------------------------------------------------------------------
# odd but legitimate files: `prepare FILE` succeeds and reads them right

ACCENTED = {
    "sports": ["café", "équipe", "arbitre", "but", "match", "saison", "entraîneur", "joueur"],
    "weather": ["pluie", "été", "orage", "neige", "météo", "chaleur", "forêt", "brûlant"],
}
CHINESE = {
    "sports": ["比赛", "球队", "进球", "教练", "冠军", "球员"],
    "weather": ["下雨", "天气", "台风", "晴朗", "气温", "寒冷"],
}


def topic_rows(words: dict[str, list[str]], n: int = 30, extra: str = "") -> list[tuple[str, str]]:
    rows = []
    for label, vocab in words.items():
        for i in range(n):
            picked = [vocab[(i * 7 + k * 3) % len(vocab)] for k in range(6)]
            rows.append((" ".join(picked) + extra, label))
    return rows


def read_run(run_dir: Path) -> tuple[list[str], set[str], list[str]]:
    """(labels, vocabulary tokens, validation texts) of a prepared run."""
    labels = json.loads((run_dir / "labels.json").read_text(encoding="utf-8"))
    vocab = set((run_dir / "vocab.txt").read_text(encoding="utf-8").splitlines())
    texts = json.loads((run_dir / "data" / "val_texts.json").read_text(encoding="utf-8"))
    return labels, vocab, texts


def _check_tokens(*tokens: str) -> Callable[[Path], None]:
    def check(run_dir: Path) -> None:
        _, vocab, _ = read_run(run_dir)
        assert set(tokens) <= vocab, sorted(vocab)[:40]

    return check


def _check_labels(expected: list[str]) -> Callable[[Path], None]:
    def check(run_dir: Path) -> None:
        assert read_run(run_dir)[0] == expected

    return check


def _check_report(**expected: object) -> Callable[[Path], None]:
    def check(run_dir: Path) -> None:
        report = json.loads((run_dir / "prepare.json").read_text(encoding="utf-8"))
        for key, value in expected.items():
            assert report[key] == value, (key, report[key])

    return check


def _gbk_file(d: Path) -> Path:
    return write_csv(d / "zh.csv", topic_rows(CHINESE), encoding="gbk")


def _long_field_file(d: Path) -> Path:
    rows = make_rows(20)
    rows[0] = ("match " * 400_000 + "goal", rows[0][1])  # one field of 2.4 MB, the first data row
    return write_csv(d / "long.csv", rows)


def _short_rows_file(d: Path) -> Path:
    text = rows_text(SIMPLE) + "a row without its label field\n"
    return write_bytes(d / "short.csv", text.encode())


GOOD_FILES: list[tuple[str, FileMaker, list[str], Callable[[Path], None]]] = [
    (
        "numeric-labels",
        lambda d: write_csv(d / "n.csv", [(t, "1" if lab == "sports" else "10") for t, lab in SIMPLE * 2]),
        [],
        _check_labels(["1", "10"]),
    ),
    (
        "numeric-labels-keep-form",
        lambda d: write_csv(d / "n.csv", [(t, "01" if lab == "sports" else "2.0") for t, lab in SIMPLE * 2]),
        [],
        _check_labels(["01", "2.0"]),
    ),
    (
        "semicolon-delimited",
        lambda d: write_csv(d / "s.csv", SIMPLE, delimiter=";"),
        [],
        _check_tokens("match", "rain"),
    ),
    ("tab-delimited-csv-suffix", lambda d: write_csv(d / "s.csv", SIMPLE, delimiter="\t"), [], _check_tokens("match")),
    ("tsv", lambda d: write_csv(d / "s.tsv", SIMPLE, delimiter="\t"), [], _check_tokens("storm")),
    (
        "crlf-line-ends",
        lambda d: write_bytes(d / "c.csv", rows_text(SIMPLE).replace("\n", "\r\n").encode()),
        [],
        _check_labels(["sports", "weather"]),
    ),
    (
        "utf8-bom",
        lambda d: write_csv(d / "b.csv", topic_rows(ACCENTED), encoding="utf-8-sig"),
        [],
        _check_report(text_column="text", encoding="utf-8-sig"),
    ),
    (
        "utf16-bom",
        lambda d: write_csv(d / "u.csv", topic_rows(ACCENTED), encoding="utf-16"),
        [],
        _check_tokens("café", "été", "forêt"),
    ),
    (
        "latin-1",
        lambda d: write_csv(d / "l.csv", topic_rows(ACCENTED), encoding="latin-1"),
        [],
        _check_tokens("café", "été", "entraîneur", "brûlant"),
    ),
    (
        "cp1252",
        lambda d: write_csv(d / "w.csv", topic_rows(ACCENTED, extra=" “cost” 5€ l’œuvre"), encoding="cp1252"),
        [],
        _check_tokens("café", "€", "“", "l’œuvre"),
    ),
    ("gbk", _gbk_file, [], _check_tokens("赛", "球", "雨")),
    ("gbk-declared", _gbk_file, ["--encoding", "gbk"], _check_tokens("赛", "球", "雨")),
    ("field-of-megabytes", _long_field_file, [], _check_report(rows_read=60)),
    (
        "quoted-newlines-and-delimiters",
        lambda d: write_csv(d / "q.csv", [(f'{t},\n"quoted"', lab) for t, lab in SIMPLE]),
        [],
        _check_tokens("quoted", ","),
    ),
    (
        "header-case-and-spaces",
        lambda d: write_csv(d / "h.csv", SIMPLE, header=(" Text ", "LABEL")),
        [],
        _check_report(text_column=" Text ", label_column="LABEL"),
    ),
    (
        "some-empty-rows-dropped",
        lambda d: write_csv(d / "e.csv", SIMPLE + [("", "sports"), ("no label", "")]),
        [],
        _check_report(dropped={"empty text": 1, "empty label": 1}),
    ),
    ("row-missing-its-label-field", _short_rows_file, [], _check_report(dropped={"empty text": 0, "empty label": 1})),
]


@pytest.mark.parametrize(("maker", "args", "check"), [c[1:] for c in GOOD_FILES], ids=[c[0] for c in GOOD_FILES])
def test_odd_but_legitimate_file(
    runner: CliRunner, tmp_path: Path, maker: FileMaker, args: list[str], check: Callable[[Path], None]
) -> None:
    data = maker(tmp_path)
    run_dir = tmp_path / "run"
    result = run_cli(runner, ["prepare", data, "--run-dir", run_dir, *args])
    assert result.exit_code == 0, result.output
    check(run_dir)


# ---------------------------------------------------------------------------------------------------------------
# options


BAD_OPTIONS: list[tuple[str, list[str], str, int]] = [
    ("epochs-0", ["train", "{csv}", "--epochs", "0"], "--epochs must be a positive integer; received 0", 1),
    ("epochs-negative", ["train", "{csv}", "--epochs", "-3"], "--epochs must be a positive integer; received -3", 1),
    ("epochs-not-a-number", ["train", "{csv}", "--epochs", "many"], "Invalid value for '--epochs'", 2),
    ("batch-size-negative", ["train", "{csv}", "-b", "-1"], "--batch-size must be a positive integer or 'auto'", 1),
    ("batch-size-0", ["train", "{csv}", "-b", "0"], "--batch-size must be a positive integer or 'auto'; received 0", 1),
    ("batch-size-word", ["train", "{csv}", "-b", "big"], "--batch-size expects a positive integer or 'auto'", 1),
    ("max-len-0", ["prepare", "{csv}", "--max-len", "0"], "--max-len must be a positive integer or 'auto'", 1),
    ("max-len-negative", ["train", "{csv}", "--max-len", "-5"], "--max-len must be a positive integer or 'auto'", 1),
    ("max-len-word", ["prepare", "{csv}", "--max-len", "long"], "--max-len expects a positive integer or 'auto'", 1),
    ("vocab-size-0", ["prepare", "{csv}", "--vocab-size", "0"], "--vocab-size must be a positive integer", 1),
    ("vocab-size-negative", ["train", "{csv}", "--vocab-size", "-100"], "--vocab-size must be a positive integer", 1),
    ("vocab-size-2", ["prepare", "{csv}", "--vocab-size", "2"], "--vocab-size must be at least 3", 1),
    ("val-size-0", ["prepare", "{csv}", "--val-size", "0"], "--val-size must be between 0 and 1", 1),
    ("val-size-1", ["prepare", "{csv}", "--val-size", "1"], "--val-size must be between 0 and 1", 1),
    ("val-size-negative", ["train", "{csv}", "--val-size", "-0.2"], "--val-size must be between 0 and 1", 1),
    ("val-size-above-1", ["prepare", "{csv}", "--val-size", "1.5"], "--val-size must be between 0 and 1", 1),
    ("seed-negative", ["train", "{csv}", "--seed", "-1"], "--seed must be between 0 and 4294967295", 1),
    ("seed-too-large", ["prepare", "{csv}", "--seed", "4294967296"], "--seed must be between 0 and 4294967295", 1),
    ("min-count-0", ["prepare", "{csv}", "--min-count", "0"], "--min-count must be a positive integer", 1),
    (
        "unknown-preset",
        ["train", "{csv}", "--preset", "huge"],
        "unknown preset 'huge'; presets are: default, tutorial",
        1,
    ),
    ("unknown-preset-prepare", ["prepare", "{csv}", "--preset", "huge"], "unknown preset 'huge'", 1),
    ("unknown-tokenizer", ["prepare", "{csv}", "--tokenizer", "bpe"], "tokenizer must be one of", 1),
    ("unknown-padding", ["prepare", "{csv}", "--padding", "middle"], "padding must be one of pre, post", 1),
    ("units-zero", ["train", "{csv}", "--units", "0"], "--units must be positive integers", 1),
    ("units-words", ["train", "{csv}", "--units", "big"], "--units expects comma-separated integers", 1),
    ("ngram-order-4", ["train", "{csv}", "--ngram-order", "4"], "--ngram-order must be 2 (bigrams) or 3", 1),
    ("ngram-mode-unknown", ["train", "{csv}", "--ngram-mode", "both"], "ngram-mode must be one of staged, joint", 1),
    ("ngram-epochs-zero", ["train", "{csv}", "--ngram-epochs", "0"], "--ngram-epochs must be a positive integer", 1),
    ("dropout-1", ["train", "{csv}", "--dropout", "1"], "--dropout must be in [0, 1)", 1),
    ("learning-rate-negative", ["train", "{csv}", "--lr", "-0.1"], "--learning-rate must be 0 (auto) or positive", 1),
    ("patience-0", ["train", "{csv}", "--patience", "0"], "--patience must be a positive integer", 1),
    ("resume-with-csv", ["train", "{csv}", "--resume"], "--resume continues the run already in --run-dir", 1),
    (
        "unknown-format",
        ["predict", "{txt}", "--format", "xml"],
        "unknown format 'xml'; formats are: tsv, csv, jsonl",
        1,
    ),
    ("top-k-0", ["predict", "{txt}", "--top-k", "0"], "--top-k must be at least 1", 1),
]


@pytest.mark.parametrize(("args", "message", "code"), [c[1:] for c in BAD_OPTIONS], ids=[c[0] for c in BAD_OPTIONS])
def test_bad_option_is_refused(
    runner: CliRunner, tmp_path: Path, trained_run: Path, args: list[str], message: str, code: int
) -> None:
    """Options are checked before any work: the run directory (a trained run) is left as it was."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    before = snapshot(run_dir)
    files = {
        "{csv}": str(write_csv(tmp_path / "t.csv", make_rows(10))),
        "{txt}": str(write_bytes(tmp_path / "in.txt", b"goal team\n")),
    }
    args = [files.get(a, a) for a in args]
    result = run_cli(runner, [*args, "--run-dir", run_dir, *(["--overwrite"] if args[0] != "predict" else [])])
    if code == 2:  # a usage error, reported by Click itself
        assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.stderr
    else:
        assert_error(result, message, code)
    assert snapshot(run_dir) == before


# ---------------------------------------------------------------------------------------------------------------
# run directories: each case damages a copy of a trained run, runs a command, and checks nothing changed

Damage = Callable[[Path], None]


def _remove(name: str) -> Damage:
    return lambda run: (run / name).unlink()


def _overwrite(name: str, data: bytes) -> Damage:
    return lambda run: (run / name).write_bytes(data)


def _truncate(name: str, keep: float = 0.5) -> Damage:
    def damage(run: Path) -> None:
        data = (run / name).read_bytes()
        (run / name).write_bytes(data[: int(len(data) * keep)])

    return damage


def _edit_json(name: str, edit: Callable[[object], object]) -> Damage:
    def damage(run: Path) -> None:
        data = json.loads((run / name).read_text(encoding="utf-8"))
        (run / name).write_text(json.dumps(edit(data)), encoding="utf-8")

    return damage


def _set_key(key: str, value: object) -> Callable[[object], object]:
    def edit(data: object) -> object:
        assert isinstance(data, dict)
        return {**data, key: value}

    return edit


def _npz(name: str, arrays: dict[str, np.ndarray]) -> Damage:
    def damage(run: Path) -> None:
        with (run / name).open("wb") as fh:
            np.savez(fh, **arrays)

    return damage


def _shrink_weight(key: str) -> Damage:
    def damage(run: Path) -> None:
        with np.load(run / "weights.npz") as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays[key] = arrays[key][..., :-1]
        with (run / "weights.npz").open("wb") as fh:
            np.savez(fh, **arrays)

    return damage


def _pickled_array(name: str) -> Damage:
    """An object array: loading it would unpickle, which lstmcli must refuse."""

    def damage(run: Path) -> None:
        with (run / name).open("wb") as fh:
            if name.endswith(".npz"):
                np.savez(fh, embedding=np.array([{"x": 1}], dtype=object))
            else:
                np.save(fh, np.array([{"x": 1}], dtype=object), allow_pickle=True)

    return damage


def _untrain(run: Path) -> None:
    for name in ("model.keras", "weights.npz", "history.json"):
        (run / name).unlink(missing_ok=True)


def _to_file(run: Path) -> None:
    shutil.rmtree(run)
    run.write_text("not a directory\n")


def _nothing(run: Path) -> None:
    pass


def _resume_state(state: bytes | None, last_model: bytes = b"junk") -> Damage:
    def damage(run: Path) -> None:
        (run / "checkpoint").mkdir()
        if state is not None:
            (run / "checkpoint" / "state.json").write_bytes(state)
        (run / "checkpoint" / "last.keras").write_bytes(last_model)
        (run / "checkpoint" / "config.json").write_bytes((run / "config.json").read_bytes())

    return damage


GOOD_STATE = json.dumps(
    {
        "epoch": 1,
        "best_epoch": 1,
        "best": {"val_loss": 1.0},
        "wait": 0,
        "stopped_early": False,
        "history": [{"epoch": 1, "loss": 1.0, "val_loss": 1.0}],
    }
).encode()

PREDICT = ["predict", "{txt}"]
EVALUATE = ["evaluate"]
RUNDIR_CASES: list[tuple[str, Damage, list[str], str]] = [
    ("missing-dir-predict", shutil.rmtree, PREDICT, "does not exist"),
    ("missing-dir-evaluate", shutil.rmtree, EVALUATE, "does not exist"),
    ("missing-dir-train", shutil.rmtree, ["train"], "does not exist"),
    ("file-not-dir-predict", _to_file, PREDICT, "is a file"),
    ("file-not-dir-prepare", _to_file, ["prepare", "{csv}", "--overwrite"], "is a file"),
    ("file-not-dir-train", _to_file, ["train", "{csv}"], "is a file"),
    ("never-trained-predict", _untrain, PREDICT, "holds no trained model"),
    ("never-trained-evaluate", _untrain, EVALUATE, "holds no trained model"),
    ("never-trained-resume", _untrain, ["train", "--resume"], "nothing to resume"),
    ("weights-missing", _remove("weights.npz"), PREDICT, "holds no trained model"),
    ("vocab-missing", _remove("vocab.txt"), PREDICT, "missing vocab.txt"),
    ("config-missing", _remove("config.json"), EVALUATE, "missing config.json"),
    ("labels-missing", _remove("labels.json"), PREDICT, "missing labels.json"),
    ("manifest-missing", _remove("manifest.json"), PREDICT, "missing manifest.json"),
    ("config-missing-train", _remove("config.json"), ["train", "--overwrite"], "missing config.json"),
    ("weights-truncated", _truncate("weights.npz"), PREDICT, "weights.npz is damaged"),
    ("weights-truncated-evaluate", _truncate("weights.npz", 0.9), EVALUATE, "weights.npz is damaged"),
    ("weights-garbage", _overwrite("weights.npz", b"PK\x03\x04" + b"\xff" * 300), PREDICT, "weights.npz is damaged"),
    ("weights-text", _overwrite("weights.npz", b"hello\n"), PREDICT, "weights.npz is damaged"),
    ("weights-empty", _overwrite("weights.npz", b""), PREDICT, "weights.npz is damaged"),
    ("weights-wrong-arrays", _npz("weights.npz", {"something": np.zeros(3)}), PREDICT, "weights.npz"),
    ("weights-wrong-shape", _shrink_weight("output_kernel"), PREDICT, "weights.npz"),
    ("weights-pickled", _pickled_array("weights.npz"), PREDICT, "weights.npz is damaged"),
    ("config-garbage", _overwrite("config.json", b"\x00\x01garbage"), PREDICT, "config.json"),
    ("config-truncated", _truncate("config.json"), PREDICT, "config.json: config is not valid JSON"),
    ("config-not-object", _overwrite("config.json", b"[1, 2]"), PREDICT, "config is not a JSON object"),
    (
        "config-unknown-setting",
        _edit_json("config.json", _set_key("colour", "blue")),
        PREDICT,
        "unknown settings: colour",
    ),
    ("config-wrong-type", _edit_json("config.json", _set_key("max_len", "long")), PREDICT, "'max_len' should be int"),
    ("config-out-of-range", _edit_json("config.json", _set_key("epochs", -1)), EVALUATE, "--epochs must be a positive"),
    ("config-unresolved-max-len", _edit_json("config.json", _set_key("max_len", 0)), PREDICT, "config.json"),
    (
        "config-other-architecture",
        _edit_json("config.json", _set_key("bidirectional", False)),
        PREDICT,
        "weights.npz does not fit config.json",
    ),
    ("vocab-damaged", _overwrite("vocab.txt", b"hello\nworld\n"), PREDICT, "vocab.txt is damaged"),
    ("vocab-not-utf8", _overwrite("vocab.txt", b"<pad>\n<unk>\n\xff\xfe\xfa\n"), PREDICT, "vocab.txt is damaged"),
    (
        "vocab-larger-than-model",
        lambda run: (run / "vocab.txt").write_text(
            (run / "vocab.txt").read_text(encoding="utf-8") + "".join(f"extra{i}\n" for i in range(50)),
            encoding="utf-8",
        ),
        PREDICT,
        "vocab.txt",
    ),
    ("labels-damaged", _overwrite("labels.json", b'{"a": 1}'), PREDICT, "labels.json is damaged"),
    ("labels-one-fewer", _edit_json("labels.json", lambda labels: labels[:-1]), PREDICT, "train the run again"),
    ("manifest-garbage", _overwrite("manifest.json", b"{not json"), PREDICT, "manifest.json is damaged"),
    (
        "manifest-format-string",
        _edit_json("manifest.json", _set_key("format", "1")),
        PREDICT,
        "manifest.json is damaged",
    ),
    (
        "manifest-newer-format",
        _edit_json("manifest.json", _set_key("format", 99)),
        PREDICT,
        "this lstmcli reads format 2. Upgrade lstmcli",
    ),
    (
        "manifest-newer-format-train",
        _edit_json("manifest.json", _set_key("format", 99)),
        ["train", "--overwrite"],
        "Upgrade lstmcli",
    ),
    (
        "manifest-newer-format-evaluate",
        _edit_json("manifest.json", _set_key("format", 99)),
        EVALUATE,
        "Upgrade lstmcli",
    ),
    ("val-data-missing", _remove("data/val_x.npy"), EVALUATE, "val_x.npy is missing"),
    ("val-data-truncated", _truncate("data/val_x.npy"), EVALUATE, "val_x.npy is damaged"),
    ("val-data-pickled", _pickled_array("data/val_x.npy"), EVALUATE, "val_x.npy is damaged"),
    (
        "val-labels-wrong-length",
        lambda run: np.save(run / "data" / "val_y.npy", np.zeros(3, dtype=np.int32)),
        EVALUATE,
        "run 'lstmcli prepare' again",
    ),
    ("train-data-truncated", _truncate("data/train_x.npy"), ["train", "--overwrite"], "train_x.npy is damaged"),
    ("eval-data-missing", _nothing, ["evaluate", "--data", "{missing}"], "file not found"),
    ("eval-data-no-label-column", _nothing, ["evaluate", "--data", "{unlabelled}"], "has no label column"),
    ("eval-data-no-text-column", _nothing, ["evaluate", "--data", "{untitled}"], "Rename its text column to 'text'"),
    ("eval-data-only-unseen-labels", _nothing, ["evaluate", "--data", "{unseen}"], "has a label the model knows"),
    ("predict-input-missing", _nothing, ["predict", "{missing}"], "input file not found"),
    ("prepare-over-a-run", _nothing, ["prepare", "{csv}"], "pass --overwrite to replace it"),
    ("train-csv-over-a-run", _nothing, ["train", "{csv}"], "pass --overwrite to replace it"),
    ("train-again", _nothing, ["train"], "pass --overwrite to train it again"),
    ("resume-finished-run", _nothing, ["train", "--resume"], "is complete (3 of 3 epochs), so there is nothing"),
    ("resume-state-missing", _resume_state(None), ["train", "--resume"], "nothing to resume"),
    ("resume-state-garbage", _resume_state(b"{{{"), ["train", "--resume"], "state.json is damaged"),
    ("resume-state-incomplete", _resume_state(b'{"epoch": 1}'), ["train", "--resume"], "state.json is damaged"),
    ("resume-model-garbage", _resume_state(GOOD_STATE), ["train", "--resume"], "last.keras is damaged"),
    ("prepare-bad-csv-overwrite", _nothing, ["prepare", "{one_class}", "--overwrite"], "one class only"),
    ("train-bad-csv-overwrite", _nothing, ["train", "{one_class}", "--overwrite"], "one class only"),
    ("preprocessing-flag-without-csv", _nothing, ["train", "--max-len", "9"], "pass the CSV too"),
]


def _files(tmp_path: Path) -> dict[str, str]:
    rows = make_rows(10)
    return {
        "{csv}": str(write_csv(tmp_path / "t.csv", rows)),
        "{txt}": str(write_bytes(tmp_path / "in.txt", b"goal team\nrain\n")),
        "{missing}": str(tmp_path / "missing.csv"),
        "{unlabelled}": str(write_csv(tmp_path / "u.csv", [(t, "x") for t, _ in rows], header=("text", "note"))),
        "{untitled}": str(write_csv(tmp_path / "w.csv", rows, header=("words", "label"))),
        "{unseen}": str(write_csv(tmp_path / "x.csv", [(t, "politics") for t, _ in rows])),
        "{one_class}": str(write_csv(tmp_path / "o.csv", [(t, "sports") for t, _ in rows])),
    }


@pytest.mark.parametrize(("damage", "args", "message"), [c[1:] for c in RUNDIR_CASES], ids=[c[0] for c in RUNDIR_CASES])
def test_bad_run_dir_is_refused_and_left_alone(
    runner: CliRunner, tmp_path: Path, trained_run: Path, damage: Damage, args: list[str], message: str
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    damage(run_dir)
    before = snapshot(run_dir)
    files = _files(tmp_path)
    result = run_cli(runner, [*(files.get(a, a) for a in args), "--run-dir", run_dir])
    assert_error(result, message)
    assert snapshot(run_dir) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".run")) in ([], [".run.lock"])


def test_resume_of_a_complete_training_says_so_and_how_to_train_longer(
    runner: CliRunner, tmp_path: Path, trained_run: Path
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    result = run_cli(runner, ["train", "--run-dir", run_dir, "--resume"])
    assert_error(result, f"the training in {run_dir} is complete (3 of 3 epochs), so there is nothing to resume")
    assert f"lstmcli train --run-dir {run_dir} --overwrite --epochs 6" in result.stderr
    assert "no interrupted training found" not in result.stderr


def test_a_run_predicts_from_weights_npz_alone(runner: CliRunner, tmp_path: Path, trained_run: Path) -> None:
    """Prediction runs on weights.npz alone: a run keeps no Keras model beside it."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    assert not (run_dir / "model.keras").exists()
    result = run_cli(
        runner, ["predict", write_bytes(tmp_path / "in.txt", b"goal team\n\nrain storm\n"), "--run-dir", run_dir]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[1] == "\t"
    assert all(line.split("\t")[0] in {"sports", "weather", "cooking"} for line in (lines[0], lines[2]))


def test_evaluate_reports_unseen_labels(runner: CliRunner, tmp_path: Path, trained_run: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    rows = make_rows(5) + [("vote election parliament", "politics")] * 3
    data = write_csv(tmp_path / "mixed.csv", rows)
    result = run_cli(runner, ["evaluate", "--data", data, "--run-dir", run_dir, "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["unseen_labels"] == {"politics": 3}
    assert metrics["n"] == 15


def test_evaluate_with_numeric_labels(runner: CliRunner, tmp_path: Path) -> None:
    """Labels that look like numbers stay strings end to end: '01' in the data is '01' in the metrics."""
    rows = [(t, {"sports": "01", "weather": "2", "cooking": "3.0"}[lab]) for t, lab in make_rows(20)]
    data = write_csv(tmp_path / "n.csv", rows)
    run_dir = tmp_path / "run"
    assert run_cli(runner, ["train", data, "--run-dir", run_dir, *TINY_MODEL]).exit_code == 0
    result = run_cli(runner, ["evaluate", "--data", data, "--run-dir", run_dir, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["labels"] == ["01", "2", "3.0"]


def test_predict_replaces_and_counts_invalid_utf8(runner: CliRunner, tmp_path: Path, trained_run: Path) -> None:
    data = write_bytes(tmp_path / "in.txt", b"team goal \xff score\nrain \xc3\x28 storm\nsunny wind\n")
    result = run_cli(runner, ["predict", data, "--run-dir", trained_run, "--with-text"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("team goal \ufffd score")
    assert "Warning: 2 invalid byte sequences" in result.stderr and "--encoding" in result.stderr


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "gb18030", "utf-16"])
def test_predict_reads_other_encodings(runner: CliRunner, tmp_path: Path, trained_run: Path, encoding: str) -> None:
    """Input in another encoding is detected (or declared) and gives one line per input line."""
    texts = (
        ["the match café goal", "rain été storm", "oven recipe crème"]
        if encoding in ("latin-1", "cp1252")
        else ["比赛 match goal", "下雨 rain storm", "recipe oven 晚饭"]
    )
    data = write_bytes(tmp_path / "in.txt", ("\n".join(texts * 20) + "\n").encode(encoding))
    result = run_cli(runner, ["predict", data, "--run-dir", trained_run, "--with-text", "--encoding", encoding])
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[-1] for line in result.stdout.splitlines()] == texts * 20


def test_predict_unknown_encoding(runner: CliRunner, tmp_path: Path, trained_run: Path) -> None:
    data = write_bytes(tmp_path / "in.txt", b"goal\n")
    result = run_cli(runner, ["predict", data, "--run-dir", trained_run, "--encoding", "klingon"])
    assert_error(result, "unknown encoding 'klingon'")


def test_predict_binary_input_is_refused_or_replaced(runner: CliRunner, tmp_path: Path, trained_run: Path) -> None:
    """Binary input never crashes: every line still gets a result line, and the bad bytes are counted."""
    data = write_bytes(tmp_path / "in.bin", bytes(range(1, 256)) * 8)
    result = run_cli(runner, ["predict", data, "--run-dir", trained_run])
    assert result.exit_code == 0, result.output
    assert "invalid byte sequences" in result.stderr


def test_locked_run_dir_names_the_holder(runner: CliRunner, tmp_path: Path, trained_run: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    before = snapshot(run_dir)
    data = write_csv(tmp_path / "t.csv", make_rows(10))
    with locked(run_dir):
        result = run_cli(runner, ["prepare", data, "--run-dir", run_dir, "--overwrite"])
    assert_error(result, "is in use by another lstmcli process (pid ")
    assert snapshot(run_dir) == before


def test_lock_held_by_another_process(runner: CliRunner, tmp_path: Path, trained_run: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    before = snapshot(run_dir)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from lstmcli.rundir import locked\n"
            "with locked(pathlib.Path(sys.argv[1])):\n    print('held', flush=True); sys.stdin.read()",
            str(run_dir),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = run_cli(runner, ["train", "--run-dir", run_dir, "--overwrite", "--epochs", "1"])
        assert_error(result, f"(pid {holder.pid})")
    finally:
        holder.communicate("")
    assert snapshot(run_dir) == before


def test_encoding_error_names_the_option(runner: CliRunner, tmp_path: Path) -> None:
    """Bytes that no encoding explains are refused with a pointer to --encoding, never guessed silently wrong."""
    data = write_bytes(tmp_path / "odd.csv", codecs.BOM_UTF8 + b"text,label\n" + b"\xff\xfe\xfd,a\n" * 5)
    result = run_cli(runner, ["prepare", data, "--run-dir", tmp_path / "run"])
    assert_error(result, "--encoding")


# ---------------------------------------------------------------------------------------------------------------
# loading never runs code from the run directory


def test_every_np_load_refuses_pickles() -> None:
    """An .npy/.npz from a run directory is data only: every np.load in the package says allow_pickle=False."""
    import ast

    package = Path(__file__).resolve().parents[1] / "lstmcli"
    unsafe = []
    for source in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "np.load":
                flags = {kw.arg: ast.unparse(kw.value) for kw in node.keywords}
                if flags.get("allow_pickle") != "False":
                    unsafe.append(f"{source.name}:{node.lineno}")
    assert unsafe == []


def test_resume_refuses_a_model_that_would_run_code(runner: CliRunner, tmp_path: Path, trained_run: Path) -> None:
    """A checkpoint holding a Lambda layer (Python bytecode) is refused by Keras's safe mode, never executed."""
    from lstmcli.nn.backend import keras

    marker = tmp_path / "code-ran"
    inputs = keras.Input(shape=(None,), dtype="int32")
    touch = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")  # no closure to save
    outputs = keras.layers.Lambda(touch)(inputs)
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    _resume_state(GOOD_STATE)(run_dir)
    keras.Model(inputs, outputs).save(run_dir / "checkpoint" / "last.keras")
    marker.unlink(missing_ok=True)
    before = snapshot(run_dir)
    result = run_cli(runner, ["train", "--resume", "--run-dir", run_dir])
    assert_error(result, "last.keras is damaged")
    assert not marker.exists()
    assert snapshot(run_dir) == before
