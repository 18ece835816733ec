"""``lstmcli predict FILE`` split per stage on one run and one text file: each stage's share of the time.

Stages, timed one after the other in-process on the whole file (the CLI interleaves them per chunk):

- ``read``: the file's lines as :func:`lstmcli.io.inputs.read_rows` yields them;
- ``tokenize+encode``: texts to padded ids (``Encoder.encode_texts`` where it exists, else ``Encoder.encode``);
  beside it, for reference, the per-text tokenizer alone (``Encoder.tokens`` on every text), and texts per
  CPU-second ``BATCH`` texts at a time as ``predict`` encodes them (the best of 7 passes: the figure least moved
  by other processes on the machine);
- ``network``: ``Predictor.proba_ids`` on the ids, ``BATCH`` rows at a time, from a fresh predictor (its
  projection cache empty, as in a new process), the engine as ``predict`` picks it (``engine``);
- ``format+write``: the predictions written as TSV to /dev/null by :func:`lstmcli.ui.writers.write_predictions`;

and ``end to end``: the wall time of ``python -m lstmcli predict FILE -r RUN > /dev/null`` (start-up included),
and the cold ``echo text | lstmcli predict`` (median of 5).

Usage: python bench/predict_stages.py RUN_DIR TEXTS.txt [--repeat 3]   (prints one JSON line)
Each figure is the median of ``--repeat`` passes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CPU: dict[str, float] = {}  # each in-process stage's median CPU seconds (both cores counted), beside its wall time


def _median_seconds(work: Callable[[], Any], repeat: int, stage: str = "") -> tuple[float, Any]:
    times, cpu, result = [], [], None
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = work()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    if stage:
        CPU[stage] = round(statistics.median(cpu), 4)
    return statistics.median(times), result


def _best_cpu_seconds(work: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        cpu_started = time.process_time()
        work()
        best = min(best, time.process_time() - cpu_started)
    return best


def _process_seconds(command: list[str] | str, repeat: int, stdin: Any = subprocess.DEVNULL) -> float:
    def once() -> None:
        with open(os.devnull, "wb") as sink:
            subprocess.run(command, stdout=sink, stdin=stdin, check=True, shell=isinstance(command, str))

    return _median_seconds(once, repeat)[0]


def stages(run_dir: Path, texts_path: Path, repeat: int) -> dict[str, Any]:
    from lstmcli.io.inputs import InputCounter, InputSpec, read_rows
    from lstmcli.predictor import BATCH, Predictor, predict_texts
    from lstmcli.rundir import RunDir
    from lstmcli.ui.writers import OutputSpec, write_predictions

    read, rows = _median_seconds(lambda: list(read_rows([texts_path], InputSpec(), InputCounter())), repeat, "read")
    texts = [row.text for row in rows]
    predictor = Predictor(RunDir(run_dir))
    encoder = predictor.encoder
    encode = getattr(encoder, "encode_texts", None) or (lambda t: encoder.encode(t)[0])
    tokenize_encode, ids = _median_seconds(lambda: encode(texts), repeat, "tokenize+encode")
    tokenize_only, _ = _median_seconds(lambda: [encoder.tokens(t) for t in texts], repeat)
    per_cpu = _best_cpu_seconds(lambda: [encode(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)], 7)

    def network() -> Any:
        fresh = Predictor(RunDir(run_dir))
        started, cpu_started = time.perf_counter(), time.process_time()
        for start in range(0, len(ids), BATCH):
            fresh.proba_ids(ids[start : start + BATCH])
        return time.perf_counter() - started, time.process_time() - cpu_started, fresh.engine_in_use

    passes = [network() for _ in range(repeat)]
    net, engine = statistics.median(p[0] for p in passes), passes[-1][2]
    CPU["network"] = round(statistics.median(p[1] for p in passes), 4)
    predictions = list(predict_texts(predictor, [(str(texts_path), t) for t in texts]))

    def write() -> None:
        with open(os.devnull, "w", encoding="utf-8") as sink:
            write_predictions(((p, ()) for p in predictions), predictor.decider, OutputSpec(), sink)

    formatting, _ = _median_seconds(write, repeat, "format+write")
    cli = [sys.executable, "-m", "lstmcli", "predict"]
    end_to_end = _process_seconds([*cli, str(texts_path), "-r", str(run_dir)], repeat)
    cold = _process_seconds(f"echo 'a gorgeous, witty, seductive movie' | {' '.join(cli)} -r {run_dir}", 5)
    n = len(texts)
    seconds = {"read": read, "tokenize+encode": tokenize_encode, "network": net, "format+write": formatting}
    return {
        "texts": n,
        "tokens_per_text": round(float((ids != 0).sum()) / max(n, 1), 1),
        "engine": engine,
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "texts_per_second": {k: round(n / v) for k, v in seconds.items()},
        "cpu_seconds": dict(CPU),
        "tokenize_alone_texts_per_second": round(n / tokenize_only),
        "tokenize+encode_texts_per_cpu_second": round(n / per_cpu),
        "end_to_end_seconds": round(end_to_end, 3),
        "end_to_end_texts_per_second": round(n / end_to_end),
        "cold_seconds": round(cold, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("texts", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps({"load": os.getloadavg(), **stages(args.run_dir, args.texts, args.repeat)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
