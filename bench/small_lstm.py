"""The LSTM stage's schedule on small training sets, scored on held-out validation texts (never test).

For each corpus and size it cuts ``size`` rows of ``train.csv`` (seeded), prepares them once, then trains the same
prepared run under each schedule in this process (TensorFlow imported once) and scores the published model and
its LSTM part on validation texts outside the cut: the corpus's ``dev.csv``, or (sms_spam, which has none)
1,000 other rows of ``train.csv``. Schedules: ``constant`` (the rate as given, early stopping, up to ``--epochs``:
below ``CYCLE_MIN_ROWS`` the default), ``cycleN`` (one cycle of the rate over N epochs, as from
``CYCLE_MIN_ROWS`` rows).

Usage: python bench/small_lstm.py [--corpora sms_spam,sst2,ag_news,chnsenticorp] [--sizes 1000,2000]
    [--schedules constant,cycle5,cycle8] [--out bench/work/small_lstm.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

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
    shuffled.iloc[:size].to_csv(folder / "train.csv", index=False)
    dev = DATASETS / corpus / "dev.csv"
    held_out = pd.read_csv(dev, dtype=str, keep_default_na=False) if dev.is_file() else shuffled.iloc[-1000:]
    held_out.to_csv(folder / "dev.csv", index=False)
    return folder / "train.csv", folder / "dev.csv"


def train_once(prepared: Path, schedule: str) -> dict[str, Any]:
    """Trains the prepared run under ``schedule``; the run's own validation record and the seconds it took."""
    from lstmcli import workflow
    from lstmcli.nn import fit

    saved = fit.CYCLE_MIN_ROWS, fit.LSTM_EPOCHS
    if schedule.startswith("cycle"):
        fit.CYCLE_MIN_ROWS, fit.LSTM_EPOCHS = 0, int(schedule.removeprefix("cycle"))
    else:
        fit.CYCLE_MIN_ROWS = 1 << 62
    try:
        started = time.perf_counter()
        result = workflow.train(run_dir=prepared, overwrite=True)
        seconds = time.perf_counter() - started
    finally:
        fit.CYCLE_MIN_ROWS, fit.LSTM_EPOCHS = saved
    record = json.loads((prepared / "training.json").read_text())
    lstm_epochs = sum(1 for row in result.history if row.get("stage") == "lstm")
    return {"seconds": round(seconds, 1), "lstm_epochs": lstm_epochs, "validation": record.get("parts")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="sms_spam,sst2,ag_news,chnsenticorp")
    parser.add_argument("--sizes", default="1000,2000")
    parser.add_argument("--schedules", default="constant,cycle5,cycle8")
    parser.add_argument("--out", type=Path, default=WORK / "small_lstm.json")
    args = parser.parse_args()
    from lstmcli import workflow

    results: list[dict[str, Any]] = json.loads(args.out.read_text()) if args.out.is_file() else []
    for corpus in args.corpora.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            train_csv, dev_csv = cut(corpus, size)
            prepared = WORK / f"{corpus}-{size}" / "run"
            workflow.prepare(train_csv, prepared, overwrite=True)
            for schedule in args.schedules.split(","):
                row = {"corpus": corpus, "size": size, "schedule": schedule, **train_once(prepared, schedule)}
                row["held_out"] = parts_on_test(prepared, dev_csv)
                results.append(row)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(results, indent=1))
                held = {k: v["accuracy"] for k, v in row["held_out"].items()}
                print(corpus, size, schedule, row["lstm_epochs"], row["seconds"], held, flush=True)


if __name__ == "__main__":
    main()
