"""Benchmark lstmcli against the tutorial's plain Keras script, fastText and TF-IDF + logistic regression.

Every system runs as a child process, one after the other, on each corpus's train.csv and is scored on its
test.csv; the results go to bench/results.json (raw) and bench/RESULTS.md (tables and the targets).

Usage:
    .venv/bin/python bench/run.py                                   # everything (hours on a small machine)
    .venv/bin/python bench/run.py --quick --corpora sst2,chnsenticorp    # smoke test (minutes)
    .venv/bin/python bench/run.py --report-only                     # rewrite RESULTS.md from results.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from common import count_tokens, is_chinese, read_corpus  # noqa: E402
from report import render  # noqa: E402

CORPORA = ("sms_spam", "sst2", "ag_news", "emotion", "airline_tweets", "chnsenticorp", "online_shopping_10_cats")
SYSTEMS = ("lstmcli", "lstmcli-tutorial", "tutorial-keras", "fasttext", "tfidf")
KERAS_SYSTEMS = ("lstmcli", "lstmcli-tutorial", "tutorial-keras")
TUTORIAL_EPOCHS = 10
QUICK_ROWS = (1000, 500)  # train, test
QUICK_EPOCHS = 2
BULK_LINES = {False: 50_000, True: 5_000}  # most lines of the bulk predict test (lstmcli default), full and quick
COLD_TEXT = "some text"
BEGIN, END = "<!-- bench/run.py: begin -->", "<!-- bench/run.py: end -->"  # this harness's part of RESULTS.md


@dataclass
class Child:
    """How one child process ended: exit status, wall seconds, peak resident memory, and its output."""

    rc: int
    wall: float
    peak_mib: float
    stdout: str
    stderr: str
    timed_out: bool

    def failure(self, what: str) -> str | None:
        """None when the child succeeded, else a one-line reason naming ``what`` failed."""
        if self.timed_out:
            return f"{what}: timed out after {self.wall:.0f}s"
        if self.rc != 0:
            lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
            errors = [ln for ln in lines if ln.startswith("Error:") or "Error" in ln.split(":")[0]]
            return f"{what}: exit {self.rc}: {(errors or lines or ['no message'])[-1][:300]}"
        return None

    def last_json(self) -> dict[str, Any]:
        """The last stdout line that parses as a JSON object."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        raise ValueError("no JSON object on stdout")


def run_child(cmd: list[str] | str, timeout: float | None, stdout_path: Path | None = None) -> Child:
    """Runs ``cmd`` (a list, or a string for ``bash -c``) and measures it with ``wait4``.

    ``wait4`` gives this child's own ``ru_maxrss`` (its waited-for descendants included), so every system's peak
    memory is its own rather than the largest of all children so far. On Linux that figure starts at this
    process's own peak when the child execs, so the launcher must stay small (it never imports TensorFlow).
    """
    argv = ["bash", "-c", cmd] if isinstance(cmd, str) else cmd
    env = {**os.environ, "COLUMNS": "200", "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sink = stdout_path.open("wb") if stdout_path else out
        try:
            started = time.perf_counter()
            proc = subprocess.Popen(
                argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=sink, stderr=err, env=env, start_new_session=True
            )
            timer = threading.Timer(timeout, _kill_group, (proc.pid,)) if timeout else None
            if timer:
                timer.start()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: stop Popen from waiting again
            timed_out = bool(timer and not timer.is_alive() and proc.returncode < 0)
            if timer:
                timer.cancel()
        finally:
            if stdout_path:
                sink.close()
        out.seek(0)
        err.seek(0)
        return Child(
            proc.returncode,
            wall,
            usage.ru_maxrss / 1024,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            timed_out,
        )


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def lstmcli_command() -> list[str]:
    """The installed ``lstmcli`` next to this Python, else ``python -m lstmcli``."""
    script = Path(sys.executable).parent / "lstmcli"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lstmcli"]


# --------------------------------------------------------------------------- corpora


@dataclass
class Corpus:
    """One corpus as the benchmark uses it: the files fed to every system and a few facts about it."""

    name: str
    train: Path
    test: Path
    texts: Path  # test texts, one per line, for predict
    bulk: Path  # distinct texts of the whole corpus, for throughput on a large input
    info: dict[str, Any]


def load_corpus(name: str, datasets: Path, work: Path, quick: bool) -> Corpus:
    """Points at the shared files (or writes subsamples of them with ``--quick``) and writes the predict inputs."""
    import pandas as pd

    source = datasets / name
    folder = work / "data" / name
    folder.mkdir(parents=True, exist_ok=True)
    train, test = source / "train.csv", source / "test.csv"
    if quick:
        for split, rows in zip(("train", "test"), QUICK_ROWS, strict=True):
            frame = pd.read_csv(source / f"{split}.csv", dtype=str, keep_default_na=False)
            frame.sample(min(rows, len(frame)), random_state=42).to_csv(folder / f"{split}.csv", index=False)
        train, test = folder / "train.csv", folder / "test.csv"
    train_texts, train_labels = read_corpus(train)
    test_texts, _ = read_corpus(test)
    chinese = is_chinese(train_texts)
    texts, bulk = folder / "test_texts.txt", folder / "bulk_texts.txt"
    _write_lines(texts, [_one_line(t) for t in test_texts])
    bulk_lines = _write_lines(bulk, _distinct_texts(source, BULK_LINES[quick]))
    info = {
        "language": "zh" if chinese else "en",
        "classes": len(set(train_labels)),
        "train_rows": len(train_texts),
        "test_rows": len(test_texts),
        "train_tokens": count_tokens(train_texts, chinese),
        "bulk_lines": bulk_lines,
        "train_file": str(train),
        "test_file": str(test),
    }
    return Corpus(name, train, test, texts, bulk, info)


def _one_line(text: str) -> str:
    return " ".join(text.split())  # predict reads one text per line


def _distinct_texts(source: Path, limit: int) -> list[str]:
    """Up to ``limit`` different texts of the whole corpus, test split first: repeating texts would flatter
    any cache the predictor keeps."""
    seen: dict[str, None] = {}
    for split in ("test", "dev", "train"):
        if (source / f"{split}.csv").is_file():
            seen.update(dict.fromkeys(_one_line(t) for t in read_corpus(source / f"{split}.csv")[0]))
    return list(seen)[:limit]


def _write_lines(path: Path, lines: list[str]) -> int:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


# --------------------------------------------------------------------------- systems


def run_lstmcli(corpus: Corpus, preset: str, args: argparse.Namespace) -> dict[str, Any]:
    """Trains, evaluates and times predictions with the lstmcli CLI; each step's failure is recorded, not raised."""
    cli = lstmcli_command()
    run_dir = args.work / "runs" / corpus.name / ("default" if preset == "default" else preset)
    shutil.rmtree(run_dir, ignore_errors=True)
    epochs = ["--epochs", str(QUICK_EPOCHS if args.quick else TUTORIAL_EPOCHS)]
    options = ["--preset", "tutorial", *epochs, "--no-early-stopping"] if preset == "tutorial" else []
    if args.quick and preset != "tutorial":
        options += epochs
    result: dict[str, Any] = {"options": " ".join(options) or "(none)"}
    train = run_child([*cli, "train", str(corpus.train), "-r", str(run_dir), *options], args.timeout)
    result.update(train_wall=train.wall, peak_train_mib=train.peak_mib)
    if failed := train.failure("train"):
        return {**result, "error": failed}
    result.update(_training_times(run_dir, train.stderr))
    steps = [
        ("evaluate", lambda: _lstmcli_evaluate(cli, run_dir, corpus, args)),
        ("predict", lambda: _lstmcli_predict(cli, run_dir, corpus, args)),
        ("in-process predict", lambda: _predictor_speed(run_dir, corpus, args)),
        ("cold predict", lambda: _cold_latency(cli, run_dir, args)),
    ]
    errors = []
    for name, step in steps:
        try:
            result.update(step())
        except StepError as exc:
            errors.append(str(exc))
        except Exception as exc:  # a broken step must not lose the others' figures
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    if errors:
        result["error"] = "; ".join(errors)
    return result


class StepError(Exception):
    """A benchmark step failed; the message says which and why."""


def _checked(child: Child, what: str) -> Child:
    if failed := child.failure(what):
        raise StepError(failed)
    return child


def _training_times(run_dir: Path, stderr: str) -> dict[str, Any]:
    """Epochs and fit seconds of an lstmcli run: per-epoch seconds from history.json when it records them,
    else the total printed by ``train`` ("Training finished after N epochs in Xs")."""
    history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    epochs = len(history)
    seconds = [float(h["seconds"]) for h in history if "seconds" in h]
    match = re.search(r"after\s+(\d+)\s+epochs?\s+in\s+([\d.]+)s", stderr)
    fit = float(match.group(2)) if match else (sum(seconds) if seconds else None)
    return {
        "epochs": epochs,
        "fit_seconds": fit,
        "epoch_seconds": seconds if len(seconds) == epochs else None,
        "best_val_accuracy": max((h.get("val_accuracy", 0.0) for h in history), default=None),
    }


def _lstmcli_evaluate(cli: list[str], run_dir: Path, corpus: Corpus, args: argparse.Namespace) -> dict[str, Any]:
    child = _checked(
        run_child([*cli, "evaluate", "-r", str(run_dir), "--data", str(corpus.test), "--json"], args.timeout),
        "evaluate",
    )
    metrics = child.last_json()
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "n_test": metrics["n"]}


def _lstmcli_predict(cli: list[str], run_dir: Path, corpus: Corpus, args: argparse.Namespace) -> dict[str, Any]:
    """``lstmcli predict FILE`` timed end to end, on the test texts and (default preset) on the bulk file."""
    out = args.work / "runs" / corpus.name / f"{run_dir.name}.predictions.tsv"
    figures = {}
    inputs = [("predict_e2e_tps", corpus.texts, corpus.info["test_rows"])]
    if run_dir.name == "default":  # start-up amortised: the steady rate behind target (c); minutes on long texts
        inputs.append(("predict_bulk_tps", corpus.bulk, corpus.info["bulk_lines"]))
    for key, path, lines in inputs:
        child = _checked(run_child([*cli, "predict", str(path), "-r", str(run_dir)], args.timeout, out), "predict")
        written = sum(1 for _ in out.open(encoding="utf-8"))
        if written != lines:
            raise StepError(f"predict: {written} output lines for {lines} input lines")
        figures[key] = lines / child.wall
        if key == "predict_e2e_tps":
            figures["peak_predict_mib"] = child.peak_mib
    return figures


def _predictor_speed(run_dir: Path, corpus: Corpus, args: argparse.Namespace) -> dict[str, Any]:
    child = _checked(
        run_child([sys.executable, str(BENCH / "predictor_speed.py"), str(run_dir), str(corpus.texts)], args.timeout),
        "in-process predict",
    )
    return {"predict_inproc_tps": child.last_json()["texts_per_second"]}


def _cold_latency(cli: list[str], run_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Median wall time of ``echo "some text" | lstmcli predict`` over ``--repeats`` runs."""
    command = f"echo {shlex.quote(COLD_TEXT)} | {shlex.join(cli)} predict -r {shlex.quote(str(run_dir))}"
    walls = [_checked(run_child(command, args.timeout), "cold predict").wall for _ in range(args.repeats)]
    return {"cold_latency": statistics.median(walls), "cold_latency_runs": walls}


def run_tutorial_script(corpus: Corpus, args: argparse.Namespace) -> dict[str, Any]:
    epochs = QUICK_EPOCHS if args.quick else TUTORIAL_EPOCHS
    options = ["--epochs", str(epochs), "--max-len-cap", str(args.tutorial_max_len_cap)]
    child = run_child(
        [sys.executable, str(BENCH / "tutorial_keras.py"), str(corpus.train), str(corpus.test), *options, "--json"],
        args.timeout,
    )
    result = {"train_wall": child.wall, "peak_train_mib": child.peak_mib, "options": " ".join(options)}
    if failed := child.failure("tutorial_keras.py"):
        return {**result, "error": failed}
    data = child.last_json()
    return {**result, **data, "predict_inproc_tps": data["predict_texts_per_second"]}


def run_peer(corpus: Corpus, peer: str, args: argparse.Namespace) -> dict[str, Any]:
    child = run_child(
        [sys.executable, str(BENCH / "peers.py"), peer, str(corpus.train), str(corpus.test), "--json"], args.timeout
    )
    result = {"train_wall": child.wall, "peak_train_mib": child.peak_mib}
    if failed := child.failure(f"peers.py {peer}"):
        return {**result, "error": failed}
    data = child.last_json()
    return {**result, **data, "predict_inproc_tps": data["predict_texts_per_second"]}


def run_system(system: str, corpus: Corpus, args: argparse.Namespace) -> dict[str, Any]:
    """One system on one corpus; any failure, even of the harness itself, ends up in the result as ``error``."""
    try:
        if system == "lstmcli":
            result = run_lstmcli(corpus, "default", args)
        elif system == "lstmcli-tutorial":
            result = run_lstmcli(corpus, "tutorial", args)
        elif system == "tutorial-keras":
            result = run_tutorial_script(corpus, args)
        else:
            result = run_peer(corpus, system, args)
    except Exception as exc:
        result = {"error": f"harness: {type(exc).__name__}: {exc}"}
    return {**result, **_derived(system, result, corpus)}


def _derived(system: str, result: dict[str, Any], corpus: Corpus) -> dict[str, Any]:
    """Training tokens per second, and for the Keras systems per-epoch seconds (fit / epochs, and the median
    epoch where epochs were timed one by one)."""
    fit, epochs, per = result.get("fit_seconds"), result.get("epochs"), result.get("epoch_seconds")
    derived: dict[str, Any] = {}
    if fit and epochs:
        derived["train_tokens_per_second"] = corpus.info["train_tokens"] * epochs / fit
        if system in KERAS_SYSTEMS:
            derived["per_epoch_mean"] = fit / epochs
    if per and system in KERAS_SYSTEMS:
        derived["per_epoch_median"] = statistics.median(per)
    return derived


# --------------------------------------------------------------------------- the run


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem = re.search(r"MemTotal:\s+(\d+)", _read("/proc/meminfo"))
    packages = {}
    for name in ("lstmcli", "tensorflow", "keras", "numpy", "scikit-learn", "fasttext", "pandas"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = "not installed"
    gpu = shutil.which("nvidia-smi")
    gpus = subprocess.run([gpu, "-L"], capture_output=True, text=True).stdout.strip() if gpu else ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "ram_gib": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "gpu": gpus or "none",
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": packages,
        "load_average_start": os.getloadavg(),
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def help_time(args: argparse.Namespace) -> dict[str, Any]:
    walls = []
    for _ in range(args.repeats):
        child = run_child([*lstmcli_command(), "--help"], 60)
        if failed := child.failure("lstmcli --help"):
            return {"error": failed}
        walls.append(child.wall)
    return {"median": statistics.median(walls), "runs": walls}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--corpora", default=",".join(CORPORA), help="comma-separated corpus names [all]")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, from {','.join(SYSTEMS)} [all]")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {QUICK_ROWS[0]} train / {QUICK_ROWS[1]} test rows, {QUICK_EPOCHS} epochs",
    )
    parser.add_argument("--out", type=Path, help="Markdown report [bench/RESULTS.md; --quick: WORK/quick/RESULTS.md]")
    parser.add_argument("--json-out", type=Path, help="raw results [next to --out, results.json]")
    parser.add_argument("--work", type=Path, default=BENCH / "work", help="run directories and inputs [bench/work]")
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each cheap timing (the median is quoted) [5]")
    parser.add_argument("--timeout", type=float, default=12 * 3600, help="seconds one child process may run [43200]")
    parser.add_argument(
        "--tutorial-max-len-cap",
        type=int,
        default=256,
        help="cap on the plain script's global length (the longest training text) [256]",
    )
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the JSON results")
    args = parser.parse_args(argv)
    args.corpora = [c.strip() for c in args.corpora.split(",") if c.strip()]
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in args.systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown systems: {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}")
    missing = [c for c in args.corpora if not (args.datasets / c / "train.csv").is_file()]
    if missing and not args.report_only:
        parser.error(f"no train.csv for {', '.join(missing)} under {args.datasets}")
    args.out = args.out or (args.work / "quick" / "RESULTS.md" if args.quick else BENCH / "RESULTS.md")
    args.json_out = args.json_out or args.out.with_name("results.json")
    args.work = args.work.resolve()
    return args


def save(results: dict[str, Any], args: argparse.Namespace) -> None:
    """Writes the raw JSON and the Markdown report; called after every system so a stopped run keeps its figures."""
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_section(args.out, render(results))


def write_section(path: Path, body: str) -> None:
    """Puts ``body`` between this harness's markers in ``path``, keeping whatever else the file holds (other
    benchmarks write their own sections into the same RESULTS.md)."""
    block = f"{BEGIN}\n{body}{END}\n"
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    start, end = old.find(BEGIN), old.find(END)
    if 0 <= start < end:
        new = old[:start] + block + old[end + len(END) :].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        save(json.loads(args.json_out.read_text(encoding="utf-8")), args)
        print(f"wrote {args.out}")
        return 0
    python = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable
    results: dict[str, Any] = {
        "command": shlex.join([python, *sys.argv]) if argv is None else shlex.join([python, "bench/run.py", *argv]),
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "settings": {
            "quick_rows": QUICK_ROWS if args.quick else None,
            "quick_epochs": QUICK_EPOCHS if args.quick else None,
            "tutorial_epochs": TUTORIAL_EPOCHS,
            "tutorial_max_len_cap": args.tutorial_max_len_cap,
            "repeats": args.repeats,
            "systems": args.systems,
        },
        "machine": machine(),
        "help": help_time(args),
        "corpora": {},
    }
    save(results, args)
    for name in args.corpora:
        _log(f"{name}: preparing inputs")
        corpus = load_corpus(name, args.datasets, args.work, args.quick)
        entry = results["corpora"][name] = {"info": corpus.info, "systems": {}}
        for system in args.systems:
            _log(f"{name}: {system}")
            entry["systems"][system] = run_system(system, corpus, args)
            _log(
                f"{name}: {system}: "
                + (entry["systems"][system].get("error") or f"accuracy {entry['systems'][system].get('accuracy')}")
            )
            save(results, args)
    results["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    results["machine"]["load_average_end"] = os.getloadavg()
    save(results, args)
    print(f"wrote {args.out} and {args.json_out}")
    return 0


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
