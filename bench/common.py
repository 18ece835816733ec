"""Helpers shared by the benchmark scripts: reading a corpus, telling Chinese from English, and scoring."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LETTER = re.compile(r"[^\W\d_]")


def read_corpus(path: str | Path) -> tuple[list[str], list[str]]:
    """Texts and labels of a ``text,label`` CSV, every cell as a string, rows with an empty text or label dropped."""
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    texts = frame["text"].str.strip()
    labels = frame["label"].str.strip()
    keep = (texts != "") & (labels != "")
    return texts[keep].tolist(), labels[keep].tolist()


def is_chinese(texts: list[str], sample: int = 2000) -> bool:
    """True when most letters of the first ``sample`` texts are CJK ideographs."""
    joined = "".join(texts[:sample])
    letters = len(LETTER.findall(joined))
    return letters > 0 and len(CJK.findall(joined)) / letters > 0.3


def count_tokens(texts: list[str], chinese: bool) -> int:
    """The benchmark's common token count: whitespace words, or non-space characters for Chinese."""
    if chinese:
        return sum(len(t) - sum(c.isspace() for c in t) for t in texts)
    return sum(len(t.split()) for t in texts)


def scores(y_true: list[str], y_pred: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 over the labels seen in either list."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def emit(result: dict[str, Any], as_json: bool) -> None:
    """Writes the result as one JSON line on stdout, or as ``key: value`` lines."""
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    sys.stdout.flush()


def write_marked_section(path: Path, script: str, text: str) -> None:
    """Puts ``text`` between ``<!-- {script}: begin -->`` and ``<!-- {script}: end -->`` in ``path`` (replacing
    what a run before left there, else appended), so that each script rewrites its own section only."""
    begin, end = f"<!-- {script}: begin -->", f"<!-- {script}: end -->"
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{begin}\n{text}{end}\n"
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        current = head + block + ("\n" + after if after else "")
    else:
        current = current.rstrip("\n") + "\n\n" + block
    path.write_text(current, encoding="utf-8")


def publish(results: dict[str, Any], json_path: Path, text: str, script: str, write_results: bool) -> None:
    """Writes a benchmark's raw ``results`` to ``json_path`` and prints its markdown ``text``; with
    ``write_results`` also puts ``text`` in the script's own section of bench/RESULTS.md."""
    json_path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(text)
    if write_results:
        write_marked_section(Path(__file__).resolve().parent / "RESULTS.md", script, text)


def command_and_load(results: dict[str, Any]) -> str:
    """The sentence a section starts with: the command that made ``results`` and the load average around it."""
    return (
        f"Command: `{results['command']}`; load average {results['load'][0]:.2f} at the start, "
        f"{results['load_end'][0]:.2f} at the end."
    )
