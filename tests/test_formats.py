"""One registry of table formats: prepare, evaluate and predict read CSV, TSV, JSON Lines and fastText alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_rows, write_csv
from typer.testing import CliRunner

from lstmcli.cli import app
from lstmcli.io.formats import FORMATS, format_of, labelled_format_of
from lstmcli.io.tables import read_labelled

ROWS = make_rows(20, seed=4)


def _jsonl(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "text": t, "label": lab}) + "\n" for i, (t, lab) in enumerate(rows)))
    return path


def _fasttext(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"__label__{lab} {t}\n" for t, lab in rows), encoding="utf-8")
    return path


def _parquet(path: Path, rows: list[tuple[str, str]]) -> Path:
    import pandas as pd

    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"id": range(len(rows)), "text": [t for t, _ in rows], "label": [lab for _, lab in rows]})
    frame.to_parquet(path)
    return path


WRITERS = {".jsonl": _jsonl, ".ndjson": _jsonl, ".txt": _fasttext, ".train": _fasttext, ".parquet": _parquet}


def _arrays(run: Path) -> dict[str, np.ndarray]:
    data = run / "data"
    return {p.name: np.load(p) for p in sorted(data.rglob("*.npy"))}


@pytest.mark.parametrize("streaming", ["--in-memory", "--streaming"])
@pytest.mark.parametrize("name", ["t.jsonl", "t.ndjson", "t.txt", "t.train", "t.parquet"])
def test_prepare_reads_json_lines_and_fasttext_as_the_same_rows_in_a_csv(
    runner: CliRunner, tmp_path: Path, name: str, streaming: str
) -> None:
    csv_run, other_run = tmp_path / "csv-run", tmp_path / "other-run"
    data = write_csv(tmp_path / "t.csv", ROWS)
    assert runner.invoke(app, ["prepare", str(data), "-r", str(csv_run), streaming]).exit_code == 0
    other = WRITERS[Path(name).suffix](tmp_path / name, ROWS)
    result = runner.invoke(app, ["prepare", str(other), "-r", str(other_run), streaming, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["text_column"], report["label_column"], report["rows_read"]) == ("text", "label", 60)
    assert report["class_counts"] == {"cooking": 20, "sports": 20, "weather": 20}
    for key in ("vocab.txt", "labels.json"):
        assert (other_run / key).read_text() == (csv_run / key).read_text()
    expected = _arrays(csv_run)
    got = _arrays(other_run)
    assert got.keys() == expected.keys()
    for key, array in expected.items():
        np.testing.assert_array_equal(got[key], array, err_msg=key)


def test_fasttext_lines_keep_the_text_and_drop_unlabelled_ones(tmp_path: Path) -> None:
    path = tmp_path / "ft.txt"
    path.write_text("__label__pos  a  good film\n\nno label here\n__label__neg\tdull\n__label__neg __label__x? no\n")
    with pytest.raises(Exception, match=r"line 5 of .*ft.txt has 2 labels \(neg, x\?\)"):
        read_labelled(path)
    path.write_text("__label__pos  a  good film\n\nno label here\n__label__neg\tdull\n")
    data = read_labelled(path)
    assert (data.texts, data.labels, data.rows_read, data.dropped_empty_label) == (
        ["a  good film", "dull"],
        ["pos", "neg"],
        3,
        1,
    )


def test_a_fasttext_file_with_several_labels_on_a_line_is_one_error_line(runner: CliRunner, tmp_path: Path) -> None:
    path = _fasttext(tmp_path / "ft.txt", ROWS)
    path.write_text(path.read_text() + "__label__sports __label__weather goal in the rain\n")
    result = runner.invoke(app, ["prepare", str(path), "-r", str(tmp_path / "run")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("Error: line 61 of ") and "has 2 labels (sports, weather)" in result.stderr
    assert result.stderr.count("\n") == 1


def test_input_format_names_the_format_whatever_the_extension(runner: CliRunner, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "t.data", ROWS)
    result = runner.invoke(app, ["prepare", str(path), "-r", str(tmp_path / "run"), "--input-format", "jsonl"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["prepare", str(path), "-r", str(tmp_path / "r2"), "--input-format", "text"])
    assert result.exit_code == 1 and "Error: --input-format text" in result.stderr
    assert "csv, tsv, jsonl, fasttext, parquet" in result.stderr


def test_evaluate_and_predict_read_fasttext_through_the_same_registry(
    runner: CliRunner, trained_run: Path, tmp_path: Path
) -> None:
    path = _fasttext(tmp_path / "ft.valid", make_rows(4, seed=5))
    result = runner.invoke(app, ["evaluate", "-r", str(trained_run), "--data", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 12
    result = runner.invoke(app, ["predict", "-r", str(trained_run), str(path), "--input-format", "fasttext"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 12


def test_evaluate_and_predict_read_parquet(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    path = _parquet(tmp_path / "t.parquet", make_rows(4, seed=5))
    result = runner.invoke(app, ["evaluate", "-r", str(trained_run), "--data", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 12
    result = runner.invoke(app, ["predict", "-r", str(trained_run), str(path), "--keep-columns", "id", "-f", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith(",id") and lines[1].endswith(",0") and len(lines) == 13


def test_one_registry_tells_every_format() -> None:
    assert list(FORMATS) == ["csv", "tsv", "jsonl", "fasttext", "parquet"]
    assert [format_of(Path(name)) for name in ("a.csv", "a.tab", "a.ndjson", "a.txt", "-")] == [
        "csv",
        "tsv",
        "jsonl",
        "text",
        "text",
    ]
    assert labelled_format_of(Path("a.txt"), "auto", "__label__x some text") == "fasttext"
    assert labelled_format_of(Path("a.txt"), "auto", "text,label") == "csv"
    assert labelled_format_of(Path("a.tsv"), "auto", "__label__x some text") == "tsv"
