"""Scale benchmark: prepare and one training epoch on corpora of 0.5 and 2 million rows, streamed into shards,
beside the in-memory path on 0.5 million rows.

The corpus is ``../shared/datasets/<corpus>/train.csv`` resampled with replacement (fixed seed) into
``bench/work/scale/`` (never committed). Every step is its own ``lstmcli`` process, measured for wall time and
peak resident memory (``/usr/bin/time -v`` when present, else ``ru_maxrss`` of the child). Training uses a
small model so that an epoch over 2 million rows fits a 2-core machine (``--model default``: the default
model, its own auto batch size, whole epochs); the memory figures are what the targets are about.

With ``--report`` (and ``--train-steps 0``, which leaves a trained run), ``lstmcli report`` on each streamed run
is measured too: it scores the validation shards a block at a time, so its peak should not grow with the rows.

Usage: .venv/bin/python bench/scale.py [--sizes 500000,2000000] [--corpus emotion] [--batch-size 256]
       .venv/bin/python bench/scale.py --model default --train-steps 0 --sizes 2000000 --no-in-memory
       .venv/bin/python bench/scale.py --train-steps 0 --sizes 200000,2000000 --no-in-memory --report
Writes bench/work/scale/results.json and the "## Scale" section at the end of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
WORK = ROOT / "bench" / "work" / "scale"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
LSTMCLI = [sys.executable, "-m", "lstmcli"]
SMALL_MODEL = ["--units", "16", "--embedding-dim", "16", "--ngram-buckets", "0", "--dense-units", "16"]
MODELS = {"small": SMALL_MODEL, "default": []}  # --model; "default" also leaves the batch size to lstmcli
PEAK_LIMIT_MB = 1536  # the target: prepare and training on 2 million rows under 1.5 GB
GROWTH_LIMIT = 0.20  # and growing by less than 20% from 0.5 to 2 million rows
REPORT_LIMIT_MB = 512  # lstmcli report on a streamed run of 2 million rows


def make_corpus(corpus: str, rows: int, path: Path, seed: int = 0) -> Path:
    """Writes ``rows`` rows resampled with replacement from the corpus's train.csv (once; reused after)."""
    if path.is_file():
        return path
    import pandas as pd

    source = pd.read_csv(DATASETS / corpus / "train.csv", dtype=str, keep_default_na=False)
    texts, labels = source["text"].tolist(), source["label"].tolist()
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for start in range(0, rows, 100_000):
            picks = rng.integers(0, len(texts), size=min(100_000, rows - start))
            writer.writerows((texts[i], labels[i]) for i in picks)
    tmp.replace(path)
    return path


def measure(command: list[str]) -> dict[str, Any]:
    """Runs ``command`` and returns its wall seconds, peak resident memory (MB) and stderr."""
    timer = shutil.which("time") and Path("/usr/bin/time").is_file()
    full = ["/usr/bin/time", "-v", *command] if timer else command
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    done = subprocess.run(full, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    if timer:
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        peak_kb = int(match.group(1)) if match else 0
    else:  # the largest child so far, which is this one only if it is the largest yet: /usr/bin/time is better
        peak_kb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    return {
        "seconds": round(seconds, 1),
        "peak_mb": round(peak_kb / 1024, 1),
        "stderr": done.stderr,
        "stdout": done.stdout,
        "tool": "/usr/bin/time -v" if timer else "getrusage(RUSAGE_CHILDREN)",
    }


def prepare_step(data: Path, run_dir: Path, rows: int, streaming: bool) -> dict[str, Any]:
    shutil.rmtree(run_dir, ignore_errors=True)
    mode = "--streaming" if streaming else "--in-memory"
    result = measure([*LSTMCLI, "prepare", str(data), "-r", str(run_dir), mode])
    report = json.loads((run_dir / "prepare.json").read_text())
    return {
        "step": "prepare",
        "mode": report["mode"],
        "rows": rows,
        "seconds": result["seconds"],
        "rows_per_s": round(rows / result["seconds"]),
        "peak_mb": result["peak_mb"],
        "tool": result["tool"],
        "train_rows": report["train_rows"],
        "max_len": report["max_len"],
        "vocab": report["vocab_size"],
    }


def report_step(run_dir: Path, rows: int) -> dict[str, Any]:
    """``lstmcli report`` on a trained streamed run, written outside it."""
    result = measure([*LSTMCLI, "report", "-r", str(run_dir), "-o", str(WORK / "report.html")])
    return {
        "step": "report",
        "mode": "streaming",
        "rows": rows,
        "seconds": result["seconds"],
        "rows_per_s": round(rows / result["seconds"]),
        "peak_mb": result["peak_mb"],
        "tool": result["tool"],
    }


def train_step(
    run_dir: Path, rows: int, train_rows: int, mode: str, batch_size: int, steps: int, model: str = "small"
) -> dict[str, Any]:
    """One epoch through the CLI, or (``steps`` > 0) the first ``steps`` batches of it, timed after a warm-up."""
    if not steps:
        batch = ["--batch-size", str(batch_size)] if model == "small" else []
        command = [*LSTMCLI, "train", "-r", str(run_dir), "--epochs", "1", *batch, *MODELS[model]]
        result = measure(command)
        match = re.search(r"after 1 epochs? in ([\d.]+)s", result["stderr"])
        epoch = float(match.group(1)) if match else result["seconds"]
        return {
            "step": "train 1 epoch",
            "mode": mode,
            "rows": rows,
            "seconds": result["seconds"],
            "epoch_seconds": epoch,
            "rows_per_s": round(train_rows / epoch),
            "peak_mb": result["peak_mb"],
            "tool": result["tool"],
        }
    result = measure([sys.executable, __file__, "--steps-of", str(run_dir), str(steps), str(batch_size)])
    timing = json.loads(result["stdout"].strip().splitlines()[-1])
    return {
        "step": f"train {steps} steps",
        "mode": mode,
        "rows": rows,
        "seconds": result["seconds"],
        "epoch_seconds": round(train_rows / timing["rows_per_s"], 1),
        "rows_per_s": round(timing["rows_per_s"]),
        "peak_mb": result["peak_mb"],
        "tool": result["tool"],
        "steps_per_epoch": timing["steps_per_epoch"],
    }


WARMUP_STEPS = 20  # the first batches trace the training function for each bucket's width


def steps_of(run_dir: str, steps: int, batch_size: int) -> None:
    """Trains the small model for ``steps`` batches of one epoch, then prints the steady rate (rows/s) as JSON.

    Runs in its own process (``--steps-of``): the epoch is cut short by a KeyboardInterrupt from the progress
    callback, which train() takes as Ctrl-C before the first epoch ended (it saves nothing).
    """
    from lstmcli.errors import LstmcliError
    from lstmcli.nn.fit import train
    from lstmcli.rundir import RunDir

    run = RunDir(Path(run_dir))
    config = run.read_config().replace(
        epochs=1, batch_size=batch_size, units=(16,), embedding_dim=16, ngram_buckets=0, dense_units=16
    )
    seen: dict[str, Any] = {}

    class Stopwatch:
        def start(self, epochs: int, initial_epoch: int, total: int) -> None:
            seen["total"] = total

        def batch(self, step: int, logs: dict[str, float]) -> None:
            seen[step] = time.monotonic()
            if step == steps:
                raise KeyboardInterrupt

        def epoch(self, epoch: int, logs: dict[str, float], improved: bool, stage: str = "") -> None:
            pass

    try:
        train(run, config, progress=Stopwatch())
    except LstmcliError:
        pass
    last = max(k for k in seen if isinstance(k, int))
    rate = (last - WARMUP_STEPS) * batch_size / (seen[last] - seen[WARMUP_STEPS])
    print(json.dumps({"rows_per_s": rate, "steps_per_epoch": seen["total"], "steps": last}))


def run(
    sizes: list[int],
    corpus: str,
    batch_size: int,
    steps: int,
    model: str = "small",
    in_memory: bool = True,
    report: bool = False,
) -> dict[str, Any]:
    done: list[dict[str, Any]] = []
    for rows in sizes:
        data = make_corpus(corpus, rows, WORK / f"{corpus}-{rows}.csv")
        run_dir = WORK / f"run-streaming-{rows}"
        prep = prepare_step(data, run_dir, rows, streaming=True)
        done += [prep, train_step(run_dir, rows, prep["train_rows"], "streaming", batch_size, steps, model)]
        if report:
            done.append(report_step(run_dir, rows))
        print(json.dumps(done[-3 if report else -2 :]), flush=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    if in_memory:
        rows = sizes[0]
        run_dir = WORK / f"run-in-memory-{rows}"
        prep = prepare_step(WORK / f"{corpus}-{rows}.csv", run_dir, rows, streaming=False)
        done += [prep, train_step(run_dir, rows, prep["train_rows"], "in-memory", batch_size, steps, model)]
        print(json.dumps(done[-2:]), flush=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "corpus": corpus,
        "sizes": sizes,
        "batch_size": batch_size if model == "small" else "auto",
        "model": " ".join(MODELS[model]) or "the default",
        "train_steps": steps,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "steps": done,
    }


def targets(results: dict[str, Any]) -> list[str]:
    """The targets, met or missed: peak <= 1.5 GB at the largest size, growth < 20% from smallest to largest."""
    lines = []
    small, large = results["sizes"][0], results["sizes"][-1]
    for step in ("prepare", "train"):
        peak = {
            s["rows"]: s["peak_mb"] for s in results["steps"] if s["step"].startswith(step) and s["mode"] == "streaming"
        }
        growth = peak[large] / peak[small] - 1
        ok = peak[large] <= PEAK_LIMIT_MB and growth < GROWTH_LIMIT
        lines.append(
            f"- {step}, streaming: peak {peak[large]:,.0f} MB at {large:,} rows (limit {PEAK_LIMIT_MB:,}), "
            f"{growth:+.1%} from {small:,} rows (limit +{GROWTH_LIMIT:.0%}): **{'met' if ok else 'missed'}**"
        )
    report = {s["rows"]: s["peak_mb"] for s in results["steps"] if s["step"] == "report"}
    if report:
        ok = report[large] <= REPORT_LIMIT_MB
        lines.append(
            f"- report, streaming: peak {report[large]:,.0f} MB at {large:,} rows (limit {REPORT_LIMIT_MB}), "
            f"{report[large] / report[small] - 1:+.1%} from {small:,} rows: **{'met' if ok else 'missed'}**"
        )
    return lines


def markdown(results: dict[str, Any], command: str) -> str:
    rows = ["| step | path | rows | wall s | rows/s | peak memory MB |", "|---|---|---:|---:|---:|---:|"]
    for s in results["steps"]:
        wall = f"{s['seconds']:.0f}"
        if "epoch_seconds" in s:
            wall += f" (epoch {'est. ' if 'steps_per_epoch' in s else ''}{s['epoch_seconds']:.0f})"
        rows.append(
            f"| {s['step']} | {s['mode']} | {s['rows']:,} | {wall} | {s['rows_per_s']:,} | {s['peak_mb']:,.0f} |"
        )
    steps = results["train_steps"]
    training = (
        f"the first {steps} batches of an epoch over every prepared row, rows/s being the steady rate after "
        f"{WARMUP_STEPS} warm-up batches and the epoch time extrapolated from it"
        if steps
        else "one epoch"
    )
    return "\n".join(
        [
            "## Scale",
            "",
            f"`{command}` on {results['machine']} (load average {results['load_average']} at the end: the cores were "
            f"shared). Corpus: `{results['corpus']}/train.csv` resampled with replacement. Each step is one `lstmcli` "
            f"process; peak memory (resident) from {results['steps'][0]['tool']}, wall time including Python and "
            f"TensorFlow start-up. Training: the model `{results['model']}`, batch size "
            f"{results['batch_size']}, {training}.",
            "",
            *rows,
            "",
            "Targets:",
            *targets(results),
            "",
        ]
    )


def write_section(text: str) -> None:
    """Replaces the "## Scale" section of bench/RESULTS.md (up to the next section or marker), or appends it."""
    old = RESULTS_MD.read_text(encoding="utf-8") if RESULTS_MD.is_file() else "# Benchmark results\n"
    head, found, rest = old.partition("\n## Scale\n")
    tail = ""
    if found:
        ends = [i for i in (rest.find("\n## "), rest.find("\n<!-- ")) if i >= 0]
        tail = rest[min(ends) + 1 :] if ends else ""
    RESULTS_MD.write_text(f"{head.rstrip()}\n\n{text}" + (f"\n{tail}" if tail else ""), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500000,2000000", help="corpus sizes in rows, smallest first")
    parser.add_argument("--corpus", default="emotion", help="folder of ../shared/datasets to resample")
    parser.add_argument("--batch-size", type=int, default=256, help="texts per training batch")
    parser.add_argument(
        "--train-steps",
        type=int,
        default=300,
        help="time this many batches and extrapolate the epoch; 0 trains whole epochs",
    )
    parser.add_argument("--model", choices=sorted(MODELS), default="small", help="the model trained")
    parser.add_argument("--no-in-memory", action="store_true", help="leave out the in-memory path")
    parser.add_argument("--report", action="store_true", help="measure lstmcli report on each streamed run")
    parser.add_argument("--steps-of", nargs=3, metavar=("RUN", "STEPS", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps_of:
        steps_of(args.steps_of[0], int(args.steps_of[1]), int(args.steps_of[2]))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.model != "small" and args.train_steps:
        parser.error("--model default trains whole epochs: pass --train-steps 0")
    if args.report and args.train_steps:
        parser.error("--report needs a trained run: pass --train-steps 0")
    results = run(sizes, args.corpus, args.batch_size, args.train_steps, args.model, not args.no_in_memory, args.report)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    command = "python bench/scale.py " + " ".join(sys.argv[1:])
    write_section(markdown(results, command.strip()))
    print(markdown(results, command.strip()))


if __name__ == "__main__":
    main()
