"""Training speed end to end: ``lstmcli train FILE`` beside fastText, whole processes, one after the other.

For each corpus of ``../shared/datasets``:

- ``fasttext``: ``bench/peers.py fasttext``, a Python process that reads the CSV, tokenizes, trains
  ``train_supervised(epoch=25, wordNgrams=2, thread=2)`` and labels the test file;
- ``lstmcli``: ``lstmcli train train.csv`` with the default settings, then (not timed) ``lstmcli evaluate
  --data test.csv``;
- with ``--baseline DIR`` (a checkout of an earlier lstmcli, e.g. a ``git worktree``), ``lstmcli-before``: the
  same command run from that checkout, in the same run, so that before and after share the machine's state.

Per lstmcli run it reads ``history.json``: each stage's epochs, seconds and tokens per second (training
tokens of an epoch over the epoch's seconds, validation included), and what the process spent outside the
epochs (start-up, TensorFlow's import, prepare, graph tracing left in the first epoch aside, saving, the
blend). TensorFlow's import is timed alone too.

Usage: .venv/bin/python bench/speed.py [--corpora sst2,emotion] [--baseline ../before] [--write-results]
Writes bench/work/speed/results.json; ``--write-results`` also writes the "Training speed" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import publish  # noqa: E402
from run import Child, run_child  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
WORK = ROOT / "bench" / "work" / "speed"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
CORPORA = "sms_spam,sst2,airline_tweets,ag_news,emotion,chnsenticorp,online_shopping_10_cats"
TARGET_RATIO = 5.0


def _lstmcli(checkout: Path) -> list[str]:
    return ["env", f"PYTHONPATH={checkout}", sys.executable, "-P", "-m", "lstmcli"]  # -P: PYTHONPATH, not the cwd


def _train_tokens(run_dir: Path) -> int:
    import numpy as np

    x = np.load(run_dir / "data" / "train_x.npy", mmap_mode="r")
    return int(np.count_nonzero(np.asarray(x)))


def _stages(history: list[dict[str, Any]], tokens: int) -> dict[str, Any]:
    stages: dict[str, Any] = {}
    for row in history:
        stage = stages.setdefault(row.get("stage") or "whole", {"epochs": 0, "seconds": []})
        stage["epochs"] += 1
        stage["seconds"].append(float(row.get("seconds", 0.0)))
    for stage in stages.values():
        warm = stage["seconds"][1:] or stage["seconds"]  # the first epoch also traces the graph
        stage["tokens_per_second"] = round(tokens / statistics.median(warm), 1)
        stage["total_seconds"] = round(sum(stage["seconds"]), 2)
    return stages


def run_lstmcli(checkout: Path, corpus: str, name: str, timeout: float) -> dict[str, Any]:
    cli = _lstmcli(checkout)
    run_dir = WORK / "runs" / corpus / name
    shutil.rmtree(run_dir, ignore_errors=True)
    train = run_child([*cli, "train", str(DATASETS / corpus / "train.csv"), "-r", str(run_dir)], timeout)
    if train.rc != 0:
        return {"error": train.stderr.strip().splitlines()[-1:] or [f"exit {train.rc}"]}
    history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    tokens = _train_tokens(run_dir)
    stages = _stages(history, tokens)
    scored = run_child(
        [*cli, "evaluate", "-r", str(run_dir), "--data", str(DATASETS / corpus / "test.csv"), "--json"], timeout
    )
    accuracy = json.loads(scored.stdout.strip().splitlines()[-1])["accuracy"] if scored.rc == 0 else None
    epochs_seconds = sum(s["total_seconds"] for s in stages.values())
    size = sum(f.stat().st_size for f in run_dir.rglob("*") if f.is_file() and not f.name.startswith("."))
    return {
        "run_dir_mib": round(size / 2**20, 1),
        "wall": round(train.wall, 2),
        "peak_mib": round(train.peak_mib),
        "accuracy": accuracy,
        "train_tokens": tokens,
        "stages": stages,
        "outside_epochs": round(train.wall - epochs_seconds, 2),
    }


def run_fasttext(corpus: str, timeout: float) -> dict[str, Any]:
    peer = ROOT / "bench" / "peers.py"
    child: Child = run_child(
        [
            sys.executable,
            str(peer),
            "fasttext",
            str(DATASETS / corpus / "train.csv"),
            str(DATASETS / corpus / "test.csv"),
            "--json",
        ],
        timeout,
    )
    if child.rc != 0:
        return {"error": child.stderr.strip().splitlines()[-1:]}
    result = child.last_json()
    return {
        "wall": round(child.wall, 2),
        "accuracy": result["accuracy"],
        "fit_seconds": round(result["fit_seconds"], 2),
    }


def tensorflow_import(checkout: Path) -> float:
    command = ["env", f"PYTHONPATH={checkout}", sys.executable, "-P", "-c", "import lstmcli.nn.backend"]
    return round(statistics.median(run_child(command, 120).wall for _ in range(3)), 2)


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "## Training speed end to end (bench/speed.py)",
        "",
        f"Command: `{results['command']}`. Load average {results['load'][0]:.2f} at the start, "
        f"{results['load_end'][0]:.2f} at the end. TensorFlow's import alone: {results['tf_import']} s.",
        "",
        "| corpus | system | train wall (s) | x fastText | test acc | n-gram stage: epochs, tokens/s | "
        "LSTM stage: epochs, tokens/s | outside epochs (s) | peak MiB | run dir MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for corpus, systems in results["corpora"].items():
        fast = systems.get("fasttext", {})
        for name, r in systems.items():
            if "error" in r:
                lines.append(f"| {corpus} | {name} | failed: {r['error']} | | | | | | | |")
                continue
            ratio = f"{r['wall'] / fast['wall']:.1f}" if fast.get("wall") and name != "fasttext" else ""
            acc = f"{100 * r['accuracy']:.1f}" if r.get("accuracy") is not None else ""
            cells = []
            for stage in ("ngrams", "lstm"):
                s = r.get("stages", {}).get(stage)
                cells.append(f"{s['epochs']}, {s['tokens_per_second']:,.0f}" if s else "")
            lines.append(
                f"| {corpus} | {name} | {r['wall']:.1f} | {ratio} | {acc} | {cells[0]} | {cells[1]} | "
                f"{r.get('outside_epochs', '')} | {r.get('peak_mib', '')} | {r.get('run_dir_mib', '')} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default=CORPORA)
    parser.add_argument("--baseline", type=Path, help="a checkout of an earlier lstmcli, run beside this one")
    parser.add_argument("--baseline-skip", default="", help="corpora the baseline is not run on (comma-separated)")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--write-results", action="store_true", help="write the section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": "python bench/speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load": os.getloadavg(),
        "tf_import": tensorflow_import(ROOT),
        "corpora": {},
    }
    for corpus in args.corpora.split(","):
        systems: dict[str, Any] = {"fasttext": run_fasttext(corpus, args.timeout)}
        systems["lstmcli"] = run_lstmcli(ROOT, corpus, "lstmcli", args.timeout)
        if args.baseline and corpus not in args.baseline_skip.split(","):
            systems["lstmcli-before"] = run_lstmcli(args.baseline.resolve(), corpus, "before", args.timeout)
        results["corpora"][corpus] = systems
        print(corpus, json.dumps(systems), file=sys.stderr, flush=True)
        (WORK / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    results["load_end"] = os.getloadavg()
    publish(results, WORK / "results.json", markdown(results), "bench/speed.py", args.write_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
