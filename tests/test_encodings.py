"""Text encodings: CSV files and predict input in UTF-8 (with or without BOM), UTF-16, GBK, GB18030, Big5 and
cp1252 are read exactly, whether detected or given with --encoding; short files are told apart too."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest
from conftest import write_csv
from typer.testing import CliRunner

from lstmcli import rundir
from lstmcli.cli import app
from lstmcli.io.encoding import sniff_encoding
from lstmcli.io.tables import read_labelled

SIMPLIFIED = [
    ("这家酒店很好，服务周到", "正面"),
    ("房间太小了，不推荐", "负面"),
    ("物流很快，包装完好", "正面"),
    ("质量差，用了两天就坏了", "负面"),
    ("性价比高，值得购买", "正面"),
    ("客服态度恶劣，再也不买", "负面"),
]
TRADITIONAL = [
    ("這家酒店很好，服務周到", "正面"),
    ("房間太小了，不推薦", "負面"),
    ("物流很快，包裝完好", "正面"),
    ("質量差，用了兩天就壞了", "負面"),
    ("性價比高，值得購買", "正面"),
    ("客服態度惡劣，再也不買", "負面"),
]
# GB18030 beyond GBK: an emoji and a CJK Extension B character take four bytes.
GB18030_ONLY = [("包装完好😀，很满意", "正面"), ("名字里有𠀀字", "负面"), *SIMPLIFIED[2:]]
WESTERN = [
    ("“Great café”, loved it", "positif"),
    ("The crème brûlée was awful — never again", "négatif"),
    ("It’s a “naïve” résumé… but fine", "positif"),
    ("Déçu: 5 € for cold soup", "négatif"),
    ("Très bien, merci", "positif"),
    ("Ça ne marche pas", "négatif"),
]

# (file encoding, rows, the encoding the report names when detected)
CASES = {
    "utf-8": ("utf-8", SIMPLIFIED, "utf-8"),
    "utf-8-bom": ("utf-8-sig", SIMPLIFIED, "utf-8-sig"),
    "utf-16-le-bom": ("utf-16", SIMPLIFIED, "utf-16"),
    "utf-16-be-bom": ("utf-16-be-bom", WESTERN, "utf-16"),
    "gbk": ("gbk", SIMPLIFIED, "gb18030"),
    "gb18030": ("gb18030", GB18030_ONLY, "gb18030"),
    "big5": ("big5", TRADITIONAL, "big5"),
    "cp1252": ("cp1252", WESTERN, "cp1252"),
}


def encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-16-be-bom":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    return text.encode(encoding)


def csv_file(path: Path, case: str) -> tuple[Path, list[tuple[str, str]]]:
    encoding, rows, _ = CASES[case]
    plain = write_csv(path.with_suffix(".utf8"), rows)
    path.write_bytes(encode(plain.read_text(encoding="utf-8"), encoding))
    return path, rows


@pytest.mark.parametrize("case", sorted(CASES))
def test_csv_is_read_exactly(tmp_path: Path, case: str) -> None:
    path, rows = csv_file(tmp_path / "data.csv", case)
    data = read_labelled(path)
    assert data.encoding == CASES[case][2]
    assert list(zip(data.texts, data.labels, strict=True)) == rows


@pytest.mark.parametrize("case", sorted(CASES))
def test_prepare_reports_the_detected_encoding(runner: CliRunner, tmp_path: Path, case: str) -> None:
    path, rows = csv_file(tmp_path / "data.csv", case)
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["prepare", str(path), "-r", str(run_dir), "--val-size", "0.5"])
    assert result.exit_code == 0, result.output
    expected = CASES[case][2]
    assert f"({expected}); text column 'text'" in " ".join(result.stderr.split())
    assert json.loads((run_dir / rundir.PREPARE_REPORT).read_text(encoding="utf-8"))["encoding"] == expected
    assert json.loads((run_dir / rundir.LABELS).read_text(encoding="utf-8")) == sorted({label for _, label in rows})
    val_texts = json.loads((run_dir / rundir.DATA_DIR / "val_texts.json").read_text(encoding="utf-8"))
    assert len(val_texts) == 3 and set(val_texts) <= {text for text, _ in rows}


@pytest.mark.parametrize(
    ("case", "given", "reported"),
    [
        ("gbk", "gbk", "gbk"),
        ("gbk", "GB2312", "gb2312"),
        ("big5", "big5", "big5"),
        ("cp1252", "windows-1252", "cp1252"),
        ("utf-16-le-bom", "utf-16", "utf-16"),
        ("utf-8-bom", "utf-8-sig", "utf-8-sig"),
    ],
)
def test_prepare_with_a_given_encoding(runner: CliRunner, tmp_path: Path, case: str, given: str, reported: str) -> None:
    path, rows = csv_file(tmp_path / "data.csv", case)
    assert list(zip(*_read(path, given), strict=True)) == rows
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["prepare", str(path), "-r", str(run_dir), "--val-size", "0.5", "--encoding", given])
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / rundir.PREPARE_REPORT).read_text(encoding="utf-8"))["encoding"] == reported


def _read(path: Path, encoding: str) -> tuple[list[str], list[str]]:
    data = read_labelled(path, encoding=encoding)
    return data.texts, data.labels


@pytest.mark.parametrize("declared", [False, True], ids=["detected", "declared"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_predict_input_is_read_exactly(
    runner: CliRunner, tmp_path: Path, trained_run: Path, case: str, declared: bool
) -> None:
    encoding, rows, _ = CASES[case]
    texts = [text for text, _ in rows]
    path = tmp_path / "input.txt"
    path.write_bytes(encode("\n".join(texts) + "\n", encoding))
    flags = ["--encoding", "utf-16" if encoding == "utf-16-be-bom" else encoding] if declared else []
    result = runner.invoke(app, ["predict", str(path), "-r", str(trained_run), "--with-text", *flags])
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[-1] for line in result.stdout.splitlines()] == texts
    assert "invalid byte" not in result.stderr


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("text,label\n很好,正面\n", "gbk", "gb18030"),
        ("text,label\n手機很好,正面\n", "big5", "big5"),
        ("text,label\n这本书很好看,书籍\n", "gbk", "gb18030"),
        ("text,label\n這本書很好看,書籍\n", "big5", "big5"),
        ("I loved the café\n", "cp1252", "cp1252"),
        ("“Quoted” text\n", "cp1252", "cp1252"),
        ("Très bien — à bientôt\n", "cp1252", "cp1252"),
        ("このホテルはとても良かった\n", "cp932", "cp932"),
        ("Отличный отель, ужасный сервис\n", "cp1251", "cp1251"),
        ("이 호텔은 정말 좋았어요\n", "cp949", "cp949"),
    ],
)
def test_short_samples_are_told_apart(text: str, encoding: str, expected: str) -> None:
    assert sniff_encoding(text.encode(encoding), complete=True) == expected


def test_a_sample_cut_inside_a_character_is_still_recognised() -> None:
    gbk = ("text,label\n" + "这家酒店很好，服务周到,正面\n" * 3).encode("gbk")
    assert sniff_encoding(gbk[:-4], complete=False) == "gb18030"  # ends on the first byte of a character
    assert sniff_encoding("好".encode()[:2], complete=False) == "utf-8"


def test_damaged_utf8_stays_utf8() -> None:
    """A stray byte in UTF-8 or ASCII text is damage to report, not a sign of another encoding."""
    assert sniff_encoding("café crème ".encode() * 5 + b"\xff ok", complete=True) == "utf-8"
    assert sniff_encoding(b"team goal \xff score\nrain \xc3\x28 storm\n", complete=True) == "utf-8"


def test_binary_bytes_have_no_encoding() -> None:
    assert sniff_encoding(bytes(range(1, 256)) * 8, complete=True) is None


def test_detection_is_reported_when_utf8_fails_late(runner: CliRunner, tmp_path: Path) -> None:
    """A legacy byte after the first megabyte is refused with a pointer to --encoding, not read as mojibake."""
    rows = [("match goal team " * 10, "sports"), ("rain storm cloud " * 10, "weather")] * 4000 + [("café", "sports")]
    path = tmp_path / "big.csv"
    path.write_bytes(write_csv(tmp_path / "plain.csv", rows).read_text(encoding="utf-8").encode("cp1252"))
    assert path.stat().st_size > 1 << 20
    result = runner.invoke(app, ["prepare", str(path), "-r", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "--encoding" in result.stderr
