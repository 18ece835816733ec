"""Every script: tokenizers on Chinese, Japanese, Cyrillic and mixed text, Unicode cleaning, emoji, and
labels written in Chinese through training, evaluation and every output format."""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, write_csv
from rich.cells import cell_len
from typer.testing import CliRunner

from lstmcli import rundir
from lstmcli.cli import app
from lstmcli.config import Config, make_config
from lstmcli.errors import ConfigError
from lstmcli.predictor import Predictor
from lstmcli.rundir import RunDir
from lstmcli.text.tokens import choose_tokenizer, clean, tokenize

WORD, CHAR, JIEBA = Config(tokenizer="word"), Config(tokenizer="char"), Config(tokenizer="jieba")

# Labels in Chinese; one has full-width letters, which cleaning would turn half-width: labels must not change.
TOPICS = {
    "书籍": ["作者", "故事", "阅读", "小说", "章节", "出版", "内容", "翻译", "插图", "读者"],
    "手机": ["屏幕", "电池", "信号", "充电", "像素", "系统", "通话", "耳机", "外观", "iPhone"],
    "酒店（Ｈｏｔｅｌ）": ["房间", "前台", "早餐", "服务", "入住", "空调", "卫生间", "位置", "床单", "wifi"],
}
LABELS = sorted(TOPICS)
PREDICT_TEXTS = [
    "这本小说的故事很感人，作者文笔好",
    "手机屏幕清晰，电池耐用",
    "房间干净，早餐丰富，前台热情",
    "iPhone 信号差",
]


def chinese_rows(n_per_class: int = 30, seed: int = 0) -> list[tuple[str, str]]:
    """Texts without spaces (a Latin word now and then), one topic per label."""
    rng = random.Random(seed)
    rows = [
        ("".join(rng.choice(words) for _ in range(rng.randint(3, 8))) + rng.choice("。！，"), label)
        for label, words in TOPICS.items()
        for _ in range(n_per_class)
    ]
    rng.shuffle(rows)
    return rows


def invoke(runner: CliRunner, args: list[object], stdin: bytes | None = None) -> object:
    result = runner.invoke(app, [str(a) for a in args], input=stdin)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def zh_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run trained with ``--tokenizer char`` on Chinese texts with Chinese labels; tests only read it."""
    base = tmp_path_factory.mktemp("zh")
    data = write_csv(base / "zh.csv", chinese_rows())
    invoke(CliRunner(), ["train", data, "--run-dir", base / "run", "--tokenizer", "char", *TINY_MODEL])
    return base / "run"


# ---------------------------------------------------------------------------------------------------------------
# tokenizers


@pytest.mark.parametrize(
    ("text", "config", "expected"),
    [
        (
            "用iPhone拍的照片很清晰，15.4寸！",
            WORD,
            ["用", "iphone", "拍", "的", "照", "片", "很", "清", "晰", ",", "15", ".", "4", "寸", "!"],
        ),
        (
            "用iPhone拍的照片很清晰",
            CHAR,
            ["用", "i", "p", "h", "o", "n", "e", "拍", "的", "照", "片", "很", "清", "晰"],
        ),
        (
            "手机屏幕很清晰，我们喜欢这个手机",
            JIEBA,
            ["手机", "屏幕", "很", "清晰", ",", "我们", "喜欢", "这个", "手机"],
        ),
        ("我们用iPhone上网", JIEBA, ["我们", "用", "iphone", "上网"]),
        (
            "このホテルはとても良かった。",
            WORD,
            ["こ", "の", "ホ", "テ", "ル", "は", "と", "て", "も", "良", "か", "っ", "た", "。"],
        ),
        ("コーヒーが好き", CHAR, ["コ", "ー", "ヒ", "ー", "が", "好", "き"]),
        ("ﾎﾃﾙ ｺｰﾋｰ", WORD, ["ホ", "テ", "ル", "コ", "ー", "ヒ", "ー"]),  # half-width katakana, NFKC
        ("ПРИВЕТ, мир! Ёлка", WORD, ["привет", ",", "мир", "!", "ёлка"]),
        ("Мир", CHAR, ["м", "и", "р"]),
        ("Привет мир", JIEBA, ["привет", "мир"]),
        ("Отель Hilton в 北京 очень 好", WORD, ["отель", "hilton", "в", "北", "京", "очень", "好"]),
        ("ΟΔΟΣ οδός", WORD, ["οδοσ", "οδόσ"]),  # Greek final sigma folds like any sigma
        ("Straße STRASSE", WORD, ["strasse", "strasse"]),
        ("नमस्ते दुनिया", WORD, ["नमस्ते", "दुनिया"]),  # vowel signs and virama stay inside the word
        ("می‌خواهم بروم", WORD, ["می\u200cخواهم", "بروم"]),  # Persian ZWNJ inside a word
        ("ภาษาไทย", WORD, ["ภ", "า", "ษ", "า", "ไ", "ท", "ย"]),  # Thai has no spaces between words either
        ("l’homme don't", WORD, ["l’homme", "don't"]),
    ],
)
def test_tokenizers_on_every_script(text: str, config: Config, expected: list[str]) -> None:
    if config.tokenizer == "jieba":
        pytest.importorskip("jieba")
    assert tokenize(text, config) == expected


def test_nfkc_makes_full_width_letters_and_digits_half_width() -> None:
    assert clean("ＡＢＣ　ｄｅｆ　１２３！", WORD) == "abc def 123!"
    assert tokenize("ｉＰｈｏｎｅ１５", WORD) == ["iphone15"]


EMOJI = {
    "skin tone": "👍🏽",
    "ZWJ family": "👨\u200d👩\u200d👧",
    "ZWJ with variation selector": "🏳️\u200d🌈",
    "variation selector": "❤️",
    "flag": "🇫🇷",
    "keycap": "1️⃣",
    "plain": "😀",
}


@pytest.mark.parametrize("name", sorted(EMOJI))
@pytest.mark.parametrize("config", [WORD, CHAR, WORD.replace(punctuation="remove")], ids=["word", "char", "no-punct"])
def test_each_emoji_is_one_token(name: str, config: Config) -> None:
    emoji = EMOJI[name]
    tokens = tokenize(f"ok{emoji}{emoji} 好", config)
    assert tokens[-3:] == [emoji, emoji, "好"]


def test_punctuation_removal_keeps_marks_inside_words() -> None:
    config = WORD.replace(punctuation="remove")
    assert tokenize("नमस्ते, दुनिया! 你好。", config) == ["नमस्ते", "दुनिया", "你", "好"]


def test_spaces_and_invisible_characters_are_never_tokens() -> None:
    text = "a\u200bb\u3000c\ufeff\u00a0d\u2028e"
    for config in (WORD, CHAR, WORD.replace(unicode_form="none")):
        assert all(t.strip() and t.isprintable() for t in tokenize(text, config)), tokenize(text, config)


@pytest.mark.parametrize(
    ("texts", "must_say", "must_not_say"),
    [
        (["这家酒店的服务很好 good", "房间太小了"], ["% of letters are Chinese", "--tokenizer jieba"], []),
        (["このホテルはとても良かった", "部屋が狭い"], ["100% of letters are Japanese"], ["jieba"]),
        (["Отличный отель", "great hotel"], ["no Chinese, Japanese"], ["jieba"]),
        (["สวัสดีครับ"], ["Thai/Lao/Khmer/Myanmar"], ["jieba"]),
        (["an English review"] * 300 + ["一个"], ["under 1% of letters are Chinese"], ["jieba"]),
    ],
)
def test_auto_picks_word_and_says_why(texts: list[str], must_say: list[str], must_not_say: list[str]) -> None:
    name, reason = choose_tokenizer(texts)
    assert name == "word"
    assert all(s in reason for s in must_say), reason
    assert not any(s in reason for s in must_not_say), reason


# ---------------------------------------------------------------------------------------------------------------
# jieba, the optional extra


def test_missing_jieba_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jieba", None)  # makes ``import jieba`` raise ImportError
    with pytest.raises(ConfigError, match=r"pip install 'lstmcli\[zh\]'"):
        tokenize("这部手机", JIEBA)


def test_prepare_with_missing_jieba_is_one_error(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jieba", None)
    data = write_csv(tmp_path / "zh.csv", chinese_rows(10))
    result = runner.invoke(app, ["prepare", str(data), "-r", str(tmp_path / "run"), "--tokenizer", "jieba"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: --tokenizer jieba needs the zh extra; install it with: pip install 'lstmcli[zh]'"
    )
    assert not (tmp_path / "run" / rundir.CONFIG).exists()


def test_predict_with_missing_jieba_fails_before_any_output(
    runner: CliRunner, tmp_path: Path, zh_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(zh_run, run_dir)
    config = RunDir(run_dir).read_config()
    (run_dir / rundir.CONFIG).write_text(config.replace(tokenizer="jieba").to_json(), encoding="utf-8")
    monkeypatch.setitem(sys.modules, "jieba", None)
    result = runner.invoke(app, ["predict", "-r", str(run_dir), "--format", "csv"], input="手机\n".encode())
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "pip install 'lstmcli[zh]'" in result.stderr


def test_prepare_with_jieba_keeps_chinese_words(runner: CliRunner, tmp_path: Path) -> None:
    pytest.importorskip("jieba")
    data = write_csv(tmp_path / "zh.csv", chinese_rows(10))
    result = invoke(runner, ["prepare", data, "-r", tmp_path / "run", "--tokenizer", "jieba"])
    assert "Tokenizer: jieba (chosen with --tokenizer)" in result.stderr
    vocab = set((tmp_path / "run" / rundir.VOCAB).read_text(encoding="utf-8").splitlines())
    assert {"屏幕", "早餐", "小说", "iphone", "wifi"} <= vocab


# ---------------------------------------------------------------------------------------------------------------
# prepare's choice, predict's faithfulness


def test_prepare_auto_reports_its_choice_on_chinese(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "zh.csv", chinese_rows(10))
    result = invoke(runner, ["prepare", data, "-r", tmp_path / "run"])
    report = json.loads((tmp_path / "run" / rundir.PREPARE_REPORT).read_text(encoding="utf-8"))
    assert report["tokenizer"] == "word"
    assert "of letters are Chinese" in report["tokenizer_reason"] and "--tokenizer jieba" in report["tokenizer_reason"]
    shown = f"Tokenizer: word, per character in scripts written without spaces ({report['tokenizer_reason']})"
    assert shown in " ".join(result.stderr.split())
    vocab = set((tmp_path / "run" / rundir.VOCAB).read_text(encoding="utf-8").splitlines())
    assert {"屏", "幕", "iphone", "wifi"} <= vocab and "屏幕" not in vocab


def test_predict_in_a_fresh_process_uses_the_saved_tokenizer(zh_run: Path) -> None:
    """A new process reads the run's settings (char tokenizer) and gives the in-process probabilities."""
    config = RunDir(zh_run).read_config()
    assert config.tokenizer == "char"
    stdin = "\n".join(PREDICT_TEXTS).encode("utf-8") + b"\n"
    proc = subprocess.run(
        [sys.executable, "-m", "lstmcli", "predict", "-r", str(zh_run), "--format", "jsonl", "--with-text"],
        input=stdin,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert [row["text"] for row in rows] == PREDICT_TEXTS
    fresh = np.array([[row["probabilities"][label] for label in LABELS] for row in rows])
    in_process = Predictor(RunDir(zh_run)).proba(PREDICT_TEXTS)
    np.testing.assert_allclose(fresh, in_process, rtol=0, atol=1e-7)
    for row, raw in zip(rows, proc.stdout.splitlines(), strict=True):
        assert f'"label": "{row["label"]}"'.encode() in raw  # written as UTF-8, not as \u escapes


# ---------------------------------------------------------------------------------------------------------------
# Chinese labels in every output


def test_labels_and_texts_are_byte_identical_in_every_format(runner: CliRunner, zh_run: Path) -> None:
    stdin = "\n".join(PREDICT_TEXTS).encode("utf-8") + b"\n"
    label_bytes = {label.encode("utf-8") for label in LABELS}
    assert json.loads((zh_run / rundir.LABELS).read_text(encoding="utf-8")) == LABELS

    tsv = invoke(runner, ["predict", "-r", zh_run, "--top-k", "3", "--with-text"], stdin).stdout_bytes
    for line, text in zip(tsv.splitlines(), PREDICT_TEXTS, strict=True):
        fields = line.split(b"\t")
        assert {fields[0], fields[2], fields[4]} == label_bytes and fields[6] == text.encode("utf-8")

    csv_out = invoke(runner, ["predict", "-r", zh_run, "--format", "csv", "--top-k", "3", "--with-text"], stdin)
    records = list(csv.reader(io.StringIO(csv_out.stdout_bytes.decode("utf-8"))))
    assert records[0] == ["label_1", "probability_1", "label_2", "probability_2", "label_3", "probability_3", "text"]
    assert [sorted(r[0:6:2]) for r in records[1:]] == [LABELS] * len(PREDICT_TEXTS)
    assert [r[6] for r in records[1:]] == PREDICT_TEXTS

    jsonl = invoke(runner, ["predict", "-r", zh_run, "--format", "jsonl", "--with-text"], stdin).stdout_bytes
    assert b"\\u" not in jsonl
    rows = [json.loads(line) for line in jsonl.decode("utf-8").splitlines()]
    assert all(sorted(row["probabilities"]) == LABELS and row["label"] in LABELS for row in rows)
    assert [row["text"] for row in rows] == PREDICT_TEXTS


def test_evaluate_json_keeps_chinese_labels(runner: CliRunner, tmp_path: Path, zh_run: Path) -> None:
    data = write_csv(tmp_path / "dev.csv", chinese_rows(4, seed=1), encoding="gbk")  # detected, then read exactly
    result = invoke(runner, ["evaluate", "-r", zh_run, "--data", data, "--json"])
    assert b"\\u" not in result.stdout_bytes
    metrics = json.loads(result.stdout_bytes.decode("utf-8"))
    assert metrics["labels"] == LABELS and sorted(metrics["per_class"]) == LABELS
    assert [row["support"] for row in metrics["per_class"].values()] == [4, 4, 4]


def test_evaluate_tables_align_with_wide_characters(runner: CliRunner, tmp_path: Path, zh_run: Path) -> None:
    """Chinese and full-width labels take two columns each; every row's borders still line up."""
    data = write_csv(tmp_path / "dev.csv", chinese_rows(4, seed=1))
    result = invoke(runner, ["evaluate", "-r", zh_run, "--data", data])
    tables = _tables(result.stdout)  # evaluate's tables are its results: stdout
    assert len(tables) == 2  # per class, confusion matrix
    for lines in tables:
        assert all(label in "\n".join(lines) for label in LABELS), "\n".join(lines)
        borders = {tuple(_border_columns(line)) for line in lines}
        assert len(borders) == 1, "\n".join(lines)


def test_tables_print_labels_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    """Brackets in a label are text, not rich markup."""
    from lstmcli.scoring import score
    from lstmcli.ui.display import show_metrics

    labels = ["[spam]", "正常", "[b]bold[/b]"]
    show_metrics(
        {
            "data": "x.csv",
            "unseen_labels": {"[new]": 1},
            **score(np.eye(3, dtype=np.float32), np.array([0, 1, 2]), labels),
        }
    )
    captured = capsys.readouterr()
    assert all(captured.out.count(label) == 3 for label in labels), captured.out  # per-class row, matrix col and row
    assert "'[new]' (1)" in captured.err  # a diagnostic


_BORDERS = set("│┃┏┓┳┡┩╇└┘┴┌┐┬├┤┼")


def _border_columns(line: str) -> list[int]:
    return [cell_len(line[:i]) for i, ch in enumerate(line) if ch in _BORDERS]


def _tables(text: str) -> list[list[str]]:
    """Runs of consecutive lines drawn with box characters (titles excluded)."""
    tables: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip()[:1] in _BORDERS:
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


def test_tutorial_preset_stays_ascii_letters_only() -> None:
    """The tutorial's cleaning drops every non-ASCII letter, as the article's regex did."""
    assert tokenize("Great 好 café 👍", make_config("tutorial")) == ["great", "caf"]
