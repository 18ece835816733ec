"""The LSTM stage's schedule on small training sets, scored on held-out validation texts (never test).

For each corpus and size it cuts ``size`` rows of ``train.csv`` (seeded), prepares them once, then trains the same
prepared run under each schedule in this process (TensorFlow imported once) and scores the published model and
its LSTM part on validation texts outside the cut: the corpus's ``dev.csv``, or (sms_spam, which has none)
1,000 other rows of ``train.csv`` (the cut then takes at most the others; size 0: all rows it may take).
Schedules: ``constant`` (the rate as given, early stopping, up to ``--epochs``), ``cycleN`` (one cycle of the rate
over N epochs and no more), ``goonN`` (the cycle, then always the run's rate with early stopping), ``learningN``
(the cycle, then more only while still learning, ``fit.still_learning``), each at every size; ``auto`` (the
default: ``constant`` below ``fit.CYCLE_MIN_ROWS`` training rows, else ``learning5``). Each row keeps the LSTM
stage's validation curve, from which what ``learning5`` would do is read for a ``goon5`` run.

Usage: python bench/small_lstm.py [--corpora sms_spam,sst2,ag_news,chnsenticorp] [--sizes 1000,2000]
    [--schedules constant,cycle5,auto] [--seed 42] [--out bench/work/small_lstm.json]
    python bench/small_lstm.py --table --out FILE  (print FILE's results as a table, run nothing)
    python bench/small_lstm.py --cycle-ends MARGIN --out FILE  (each run's cycle end; the stage with that margin)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from lstmcli.rundir import RunDir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vectors import parts_on_test  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
WORK = ROOT / "bench" / "work" / "small_lstm"


def cut(corpus: str, size: int, seed: int = 42) -> tuple[Path, Path]:
    """``size`` training rows and the held-out validation rows of ``corpus``, as CSV files under WORK."""
    folder = WORK / f"{corpus}-{size}"
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(DATASETS / corpus / "train.csv", dtype=str, keep_default_na=False)
    shuffled = frame.sample(frac=1.0, random_state=seed)
    dev = DATASETS / corpus / "dev.csv"
    most = len(shuffled) if dev.is_file() else len(shuffled) - 1000  # never a held-out row among the training ones
    shuffled.iloc[: min(size or most, most)].to_csv(folder / "train.csv", index=False)
    held_out = pd.read_csv(dev, dtype=str, keep_default_na=False) if dev.is_file() else shuffled.iloc[-1000:]
    held_out.to_csv(folder / "dev.csv", index=False)
    return folder / "train.csv", folder / "dev.csv"


def train_once(prepared: Path, schedule: str) -> dict[str, Any]:
    """Trains the prepared run under ``schedule``; the run's own validation record and the seconds it took."""
    from lstmcli import workflow
    from lstmcli.nn import fit

    saved = fit.still_learning, fit.LSTM_EPOCHS, fit.CYCLE_MIN_ROWS
    going_on = {"cycle": lambda *_: False, "goon": lambda *_: True, "learning": fit.still_learning}
    if schedule == "constant":
        fit.LSTM_EPOCHS = 0
    elif (kind := schedule.rstrip("0123456789")) in going_on:
        fit.still_learning, fit.LSTM_EPOCHS = going_on[kind], int(schedule.removeprefix(kind))
        fit.CYCLE_MIN_ROWS = 0
    elif schedule != "auto":
        raise SystemExit(f"unknown schedule {schedule!r}: constant, cycleN, goonN, learningN or auto")
    try:
        started = time.perf_counter()
        result = workflow.train(run_dir=prepared, overwrite=True)
        seconds = time.perf_counter() - started
    finally:
        fit.still_learning, fit.LSTM_EPOCHS, fit.CYCLE_MIN_ROWS = saved
    record = json.loads((prepared / "training.json").read_text())
    curve = [
        {k: row[k] for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds") if k in row}
        for row in result.history
        if row.get("stage") == "lstm"
    ]
    return {
        "seconds": round(seconds, 1),
        "lstm_epochs": len(curve),
        "validation": record.get("parts"),
        "val_rows": len(RunDir(prepared).read_prepared().val_y),
        "curve": curve,
    }


DEV_TEXTS = {"sst2": 872, "ag_news": 1000, "chnsenticorp": 1200, "emotion": 2000}  # the others: 1,000 held-out rows


def table(results: list[dict[str, Any]]) -> str:
    """A Markdown table of ``results`` per corpus and size: the constant rate, one cycle, and ``learning5``: run as
    such, or read from a run whose cycle went on (``goon5``, ``se5``: the same epochs up to the cycle's end and,
    once going on, after it) or the ``cycle5`` run where the cycle's last epoch did not beat its best validation
    loss; with the default's choice before (``constant`` below ``fit.CYCLE_MIN_ROWS`` training rows, else
    ``cycle5``) and now (``constant``, else ``learning5``)."""
    from lstmcli.nn import fit

    last: dict[tuple[str, int, str], dict[str, Any]] = {}  # the latest run of each at seed 42
    for r in (r for r in results if r.get("seed", 42) == 42):
        schedule = r["schedule"]
        if schedule == "auto":  # the default: learning5 from CYCLE_MIN_ROWS training rows, else constant
            schedule = "learning5" if r["val_rows"] * 9 >= fit.CYCLE_MIN_ROWS else "constant"
        last[(r["corpus"], r["size"], schedule)] = r
    lines = [
        "| corpus | rows | constant | cycle5 | learning5 (the cycle's last val_loss, best before) | default | 1 SE |",
        "|---|---|---|---|---|---|---|",
    ]
    for corpus, size in dict.fromkeys((r["corpus"], r["size"]) for r in results):
        got = {s: last.get((corpus, size, s)) for s in ("constant", "cycle5", "goon5", "se5", "learning5")}
        curved = got["learning5"] or got["goon5"] or got["se5"]
        learning, why = got["learning5"], ""
        if curved is not None and len(curved["curve"]) >= 5:
            losses = [c["val_loss"] for c in curved["curve"]]
            goes_on = losses[4] < min(losses[:4])
            why = f"{losses[4]:.4f} {'<' if goes_on else '>='} {min(losses[:4]):.4f}: "
            went_on = got["goon5"] or (got["se5"] if got["se5"] and len(got["se5"]["curve"]) > 5 else None)
            learning = learning or (went_on if goes_on else got["cycle5"])
        training = round((curved or got["constant"] or got["cycle5"] or {}).get("val_rows", size / 10) * 9)
        default = "constant" if training < fit.CYCLE_MIN_ROWS else "cycle5 before, learning5 now"
        n = DEV_TEXTS.get(corpus, 1000)
        p = (learning or got["constant"] or {}).get("held_out", {}).get("published", {}).get("accuracy", 0.5)
        cells = [cell(got["constant"]), cell(got["cycle5"]), why + (cell(learning) or "not run"), default]
        lines.append(f"| {corpus} | {size or 'all'} | {' | '.join(cells)} | {100 * (p * (1 - p) / n) ** 0.5:.1f} |")
    return "\n".join(lines)


def cell(row: dict[str, Any] | None) -> str:
    """LSTM epochs, the published model's and the LSTM part's accuracy % on the held-out texts, seconds."""
    if row is None:
        return ""
    held = row["held_out"]
    lstm = f"{100 * held['lstm']['accuracy']:.1f}" if "lstm" in held else "-"
    return f"{row['lstm_epochs']}, {100 * held['published']['accuracy']:.1f}, {lstm}, {row['seconds']:.0f}"


def cycle_ends(results: list[dict[str, Any]], margin: float) -> str:
    """A Markdown table of each corpus, size and seed's cycle end: the cycle's last val_loss, the stage's best before
    it and how far below it is (nats); what going on gained on val_loss (a ``goon5`` run's best after the cycle,
    below the cycle's last); and the stage where it goes on when below at all (``fit.still_learning``) and where it
    would go on only when below by more than ``margin``: LSTM epochs, held-out accuracy % of the published model
    and of the LSTM part. A ``goon5`` run stands for going on (after the cycle, the same early stopping), a
    ``cycle5`` run for ending with the cycle; an ``auto`` run is read as the one of the two it was."""
    runs: dict[tuple[str, int, int], dict[str, dict[str, Any]]] = {}
    for r in results:
        schedule = r["schedule"] if r["schedule"] != "auto" else ("goon5" if r["lstm_epochs"] > 5 else "cycle5")
        runs.setdefault((r["corpus"], r["size"], r.get("seed", 42)), {})[schedule] = r
    lines = [
        "| corpus | rows | seed | the cycle's last val_loss, best before, below by | going on gained | below at all: "
        f"epochs, published, LSTM | below by > {margin}: epochs, published, LSTM | 1 SE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (corpus, size, seed), got in runs.items():
        losses = [c["val_loss"] for c in next(iter(got.values()))["curve"]]
        below = min(losses[:4]) - losses[4]
        after = [c["val_loss"] for c in got["goon5"]["curve"][5:]] if "goon5" in got else []
        gained = f"{max(losses[4] - min(after), 0):.4f}" if after else "-"
        ran = [got.get("goon5" if on else "cycle5") for on in (below > 0, below > margin)]
        p = next(r for r in ran if r is not None)["held_out"]["published"]["accuracy"]
        se = 100 * (p * (1 - p) / DEV_TEXTS.get(corpus, 1000)) ** 0.5
        where = f"{losses[4]:.4f}, {min(losses[:4]):.4f}, {below:+.4f}"
        cells = [", ".join(cell(r).split(", ")[:3]) if r else "not run" for r in ran]
        lines.append(f"| {corpus} | {size or 'all'} | {seed} | {where} | {gained} | {' | '.join(cells)} | {se:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="sms_spam,sst2,ag_news,chnsenticorp")
    parser.add_argument("--sizes", default="1000,2000")
    parser.add_argument("--schedules", default="constant,cycle5,auto")
    parser.add_argument("--out", type=Path, default=WORK / "small_lstm.json")
    parser.add_argument("--seed", type=int, default=42, help="the runs' seed (the split and the training)")
    parser.add_argument("--table", action="store_true", help="print the table of --out's results and run nothing")
    parser.add_argument("--cycle-ends", type=float, metavar="MARGIN", help="print the cycle ends of --out's results")
    args = parser.parse_args()
    if args.table or args.cycle_ends is not None:
        results = json.loads(args.out.read_text())
        print(table(results) if args.table else cycle_ends(results, args.cycle_ends))
        return
    from lstmcli import workflow

    results: list[dict[str, Any]] = json.loads(args.out.read_text()) if args.out.is_file() else []
    for corpus in args.corpora.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            train_csv, dev_csv = cut(corpus, size)
            prepared = WORK / f"{corpus}-{size}" / "run"
            workflow.prepare(train_csv, prepared, overwrite=True, seed=args.seed)
            for schedule in args.schedules.split(","):
                row = {"corpus": corpus, "size": size, "schedule": schedule, **train_once(prepared, schedule)}
                row["seed"] = args.seed
                row["held_out"] = parts_on_test(prepared, dev_csv)
                results.append(row)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(results, indent=1))
                held = {k: v["accuracy"] for k, v in row["held_out"].items()}
                print(corpus, size, schedule, row["lstm_epochs"], row["seconds"], held, flush=True)


if __name__ == "__main__":
    main()
