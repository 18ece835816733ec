"""Checks of the benchmark harness itself (no training): child measurement, failure capture, and the report.

Run with: .venv/bin/python -m pytest -q bench/test_bench.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402
import tutorial_keras  # noqa: E402
from report import fastest_speedup, render, speedup  # noqa: E402
from run import run_child, write_section  # noqa: E402


def test_run_child_records_failure_with_its_error_line() -> None:
    child = run_child([sys.executable, "-c", "import sys; print('Error: bad input', file=sys.stderr); sys.exit(3)"], 30)
    assert child.rc == 3
    assert child.failure("train") == "train: exit 3: Error: bad input"


def test_run_child_measures_the_childs_own_peak_memory() -> None:
    """Measured from a fresh, small launcher, as bench/run.py is: Linux's ru_maxrss of a child starts at its
    parent's peak when it execs, so from inside a pytest that has loaded TensorFlow every child looks big."""
    measure = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); from run import run_child; "
        "big = run_child([sys.executable, '-c', "
        "\"b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096])\"], 60); "
        "small = run_child([sys.executable, '-c', 'pass'], 60); "
        "print(big.rc, big.peak_mib, small.peak_mib)"
    )
    launcher = run_child([sys.executable, "-c", measure], 120)
    assert launcher.failure("launcher") is None, launcher.stderr
    rc, big, small = launcher.stdout.split()
    assert rc == "0"
    assert float(big) > 200 > float(small)


def test_run_child_kills_a_child_past_its_timeout() -> None:
    child = run_child([sys.executable, "-c", "import time; time.sleep(30)"], 0.5)
    assert child.timed_out
    assert child.failure("train") == f"train: timed out after {child.wall:.0f}s"


def test_tutorial_cleaning_and_hashing_follow_the_article() -> None:
    stop = frozenset({"the", "a"})
    assert tutorial_keras.clean("The movie, 10/10 -- GREAT!", False, stop) == ["movie", "great"]
    assert tutorial_keras.clean("很 好看", True, stop) == ["很", "好", "看"]
    ids = tutorial_keras.one_hot(["movie", "great", "movie"], n=10)
    assert ids[0] == ids[2] and all(1 <= i <= 9 for i in ids)


def test_fasttext_input_splits_chinese_into_characters() -> None:
    assert peers.fasttext_text("Great\nFILM ", False) == "great film"
    assert peers.fasttext_text("很好 看", True) == "很 好 看"


def _system(acc: float, mean: float | None = None, median: float | None = None, **more: float) -> dict:
    return {"accuracy": acc, "macro_f1": acc, "per_epoch_mean": mean, "per_epoch_median": median, **more}


def _results(systems: dict, language: str = "en", help_median: float = 0.2) -> dict:
    machine = {
        "cpu": "cpu",
        "cores": 2,
        "usable_cores": 2,
        "ram_gib": 8,
        "gpu": "none",
        "os": "linux",
        "python": "3.11",
        "load_average_start": [0.1, 0.1, 0.1],
        "packages": {k: "1" for k in ("tensorflow", "keras", "numpy", "scikit-learn", "fasttext", "lstmcli")},
    }
    info = {"language": language, "classes": 2, "train_rows": 10, "test_rows": 5, "train_tokens": 100, "bulk_lines": 50}
    return {
        "quick": False,
        "command": "run",
        "started": "now",
        "settings": {"repeats": 5},
        "machine": machine,
        "help": {"median": help_median, "runs": [help_median] * 5},
        "corpora": {"sst2": {"info": info, "systems": systems}},
    }


def _target_line(report: str, letter: str) -> str:
    return next(line for line in report.splitlines() if line.startswith(f"| ({letter})"))


def test_speedup_compares_medians_only_when_both_sides_have_them() -> None:
    both = {"lstmcli-tutorial": _system(0.8, 2.0, 1.0), "tutorial-keras": _system(0.8, 8.0, 3.0)}
    one = {"lstmcli-tutorial": _system(0.8, 2.0, None), "tutorial-keras": _system(0.8, 8.0, 3.0)}
    assert speedup(both)[0] == 3.0
    assert speedup(one)[0] == 4.0


def test_fastest_speedup_compares_the_fastest_epochs() -> None:
    systems = {"lstmcli-tutorial": {"epoch_seconds": [9.0, 2.0, 8.0]}, "tutorial-keras": {"epoch_seconds": [6.0, 7.0]}}
    assert fastest_speedup(systems) == 3.0
    assert fastest_speedup({"tutorial-keras": {"epoch_seconds": [6.0]}}) is None
    report = render(
        _results(
            {
                "lstmcli-tutorial": _system(0.8, 2.0, 2.0, epoch_seconds=[2.0, 9.0]),
                "tutorial-keras": _system(0.8, 7.0, 7.0, epoch_seconds=[6.0, 8.0]),
            }
        )
    )
    assert "3.50x (median epoch on both sides), 3.00x between the fastest epochs;" in report


def test_report_marks_targets_met_and_missed() -> None:
    systems = {
        "lstmcli": _system(0.90, predict_inproc_tps=25_000, predict_e2e_tps=3_000, cold_latency=0.5),
        "lstmcli-tutorial": _system(0.80, 1.0),
        "tutorial-keras": _system(0.804, 3.0),
        "fasttext": _system(0.89),
        "tfidf": _system(0.91),
    }
    report = render(_results(systems, help_median=0.5))
    assert "**missed**" in _target_line(report, "a")  # below TF-IDF
    assert _target_line(report, "b").endswith("| met |")
    assert _target_line(report, "c").endswith("| met |")
    assert "**missed**" in _target_line(report, "d")


def test_speedup_counts_only_when_accuracy_is_not_lost() -> None:
    """More than 0.5 point below the plain script misses (b); above it does not."""
    for tutorial, plain, verdict in ((0.80, 0.806, "| **missed** |"), (0.85, 0.80, "| met |")):
        systems = {"lstmcli-tutorial": _system(tutorial, 1.0), "tutorial-keras": _system(plain, 3.0)}
        assert _target_line(render(_results(systems)), "b").endswith(verdict)
    slow = {"lstmcli-tutorial": _system(0.80, 2.0), "tutorial-keras": _system(0.80, 3.0)}
    assert "**missed**" in _target_line(render(_results(slow)), "b")


def test_report_keeps_a_failed_system_in_the_table() -> None:
    systems = {"lstmcli": _system(0.9), "fasttext": {"train_wall": 1.0, "error": "peers.py fasttext: exit 1: boom"}}
    report = render(_results(systems))
    assert "| fastText |  | failed: see below |" in report
    assert "- fastText: peers.py fasttext: exit 1: boom" in report
    assert _target_line(report, "a").endswith("| not judged (figures missing) |")


def test_report_does_not_judge_a_target_whose_figures_are_missing() -> None:
    systems = {"lstmcli": _system(0.9), "fasttext": _system(0.8)}  # no TF-IDF, no tutorial, no predict figures
    report = render(_results(systems))
    assert _target_line(report, "a").endswith("| not judged (figures missing) |")
    assert _target_line(report, "c").endswith("| not judged (figures missing) |")


def test_report_section_replaces_only_its_own_part_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## Scale\n\nrows/s 100\n", encoding="utf-8")
    write_section(path, "first\n")
    write_section(path, "second\n")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Benchmark results\n\n## Scale\n\nrows/s 100\n\n<!-- bench/run.py: begin -->\nsecond\n")
    assert "first" not in text and text.count("<!-- bench/run.py: end -->") == 1
