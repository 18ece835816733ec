"""Where ``lstmcli train FILE`` holds its memory: resident memory sampled every 20 ms, by phase of the training.

Runs ``lstmcli.train(FILE, RUN)`` (what ``lstmcli train FILE -r RUN`` runs) in this process, with a thread that
reads ``VmRSS`` from ``/proc/self/status`` every 20 ms and wrappers around the training's steps that mark the
phase each sample falls in (the innermost step running). Prints each phase's seconds, its resident memory at
the start and its highest, and the process's peak (``VmHWM``), as a Markdown table.

Usage: PYTHONPATH=<checkout> .venv/bin/python bench/train_memory.py ../shared/datasets/sst2/train.csv [--json OUT]
The lstmcli measured is the one ``PYTHONPATH`` names (a checkout of another commit measures that one). TensorFlow
is imported first, and a thread samples: ``lstmcli train FILE``'s prepare (and where it fits, the linear n-gram
stage) then runs in this process, not in the child process the CLI forks for it, so that every step is sampled.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# module, function: the steps of a training, from the outside in (a sample is counted in the innermost running)
STEPS = (
    ("lstmcli.dataset.prepare", "prepare"),
    ("lstmcli.nn.fit", "_open"),
    ("lstmcli.nn.fit", "build_model"),
    ("lstmcli.nn.fit", "_datasets"),
    ("lstmcli.nn.fit", "_fit_linear"),
    ("lstmcli.nn.fit", "_next_stage"),
    ("lstmcli.nn.fit", "_fit_stage"),
    ("lstmcli.nn.fit", "_publish"),
    ("lstmcli.nn.fit", "_blend"),
    ("lstmcli.nn.fit", "keep_engine_graph"),
    ("lstmcli.nn.fit", "_save_model"),
    ("lstmcli.nn.fit", "_Checkpoint.on_epoch_end"),
)


def rss_mib(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class Phases:
    """The samples, each labelled with the innermost step running when it was taken."""

    def __init__(self) -> None:
        self.stack: list[str] = ["Python, lstmcli"]
        self.rows: dict[str, dict[str, float]] = {}
        self.series: list[tuple[float, float, str]] = []  # seconds since the start, MiB, phase
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.done = threading.Event()

    def sample(self) -> None:
        rss = rss_mib()
        with self.lock:
            phase = self.stack[-1]
            row = self.rows.setdefault(phase, {"start_mib": rss, "peak_mib": rss, "seconds": 0.0})
            row["peak_mib"] = max(row["peak_mib"], rss)
            self.series.append((round(time.monotonic() - self.started, 3), round(rss, 1), phase))

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.sample()

    def wrap(self, name: str, function: Any) -> Any:
        @functools.wraps(function)
        def marked(*args: Any, **kwargs: Any) -> Any:
            self.sample()
            with self.lock:
                self.stack.append(name)
            started = time.monotonic()
            self.sample()
            try:
                return function(*args, **kwargs)
            finally:
                self.sample()
                with self.lock:
                    self.stack.pop()
                    self.rows[name]["seconds"] += time.monotonic() - started

        return marked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    phases = Phases()
    sampler = threading.Thread(target=phases.run, daemon=True)
    sampler.start()
    import importlib

    import lstmcli

    with phases.lock:
        phases.stack[-1] = "import TensorFlow"
    import lstmcli.nn.fit  # noqa: F401

    for module_name, name in STEPS:
        owner: Any = importlib.import_module(module_name)
        *outer, function = name.split(".")
        for attribute in outer:
            owner = getattr(owner, attribute)
        setattr(owner, function, phases.wrap(name, getattr(owner, function)))
    with phases.lock:
        phases.stack[-1] = "train (other)"
    with tempfile.TemporaryDirectory() as folder:
        lstmcli.train(args.data, Path(folder) / "run")
    phases.done.set()
    sampler.join()
    out = {"data": str(args.data), "lstmcli": lstmcli.__file__, "peak_mib": rss_mib("VmHWM"), "phases": phases.rows}
    out["series"] = phases.series
    print(f"{args.data}: peak (VmHWM) {out['peak_mib']:.0f} MiB; lstmcli from {lstmcli.__file__}")
    print("| phase | seconds | MiB at start | highest MiB |\n|---|---:|---:|---:|")
    for name, row in phases.rows.items():
        print(f"| {name} | {row['seconds']:.2f} | {row['start_mib']:.0f} | {row['peak_mib']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
