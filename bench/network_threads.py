"""The network alone on a run's texts, the ways of using two cores side by side: ONNX Runtime's groups of rows on
a thread per core (what ``Predictor.proba_ids`` does) with groups of 32, 64 or 128 rows, on one thread, or one
session run per 256 rows on two intra-op threads; NumPy's groups on two threads or one.

Each variant labels the whole file ``BATCH`` rows at a time through ``Predictor.proba_ids``; the variants run in
turn, ``--repeat`` rounds, and each reports its median texts/s of wall time and texts per CPU-second (the figure
other processes on the machine move least), and the cores it kept busy.

Usage: python bench/network_threads.py RUN_DIR TEXTS.txt [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _variant(predictor: Any, ids: Any, engine: Any, group: int, threads: int) -> Callable[[], None]:
    import lstmcli.predictor as module

    def run() -> None:
        saved = module.SUB_BATCH, module.ONNX_SUB_BATCH, module.cores
        predictor._onnx = engine
        module.SUB_BATCH, module.ONNX_SUB_BATCH = (group, saved[1]) if engine is None else (saved[0], group)
        module.cores = lambda: threads  # proba_ids runs ONNX Runtime's groups on a thread per core
        try:
            for start in range(0, len(ids), module.BATCH):
                predictor.proba_ids(ids[start : start + module.BATCH])
        finally:
            module.SUB_BATCH, module.ONNX_SUB_BATCH, module.cores = saved

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("texts", type=Path, help="one text per line")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from lstmcli.nn import ort
    from lstmcli.predictor import Predictor
    from lstmcli.rundir import RunDir

    texts = args.texts.read_text(encoding="utf-8").split("\n")[:-1]
    predictor = Predictor(RunDir(args.run_dir), engine="numpy")
    ids = predictor.encoder.encode(texts)[0]
    one, two = (ort.OnnxNetwork(predictor.weights, predictor.config, predictor.network, threads=n) for n in (1, 2))
    variants = {
        "ONNX Runtime, groups of 64 on 2 threads": _variant(predictor, ids, one, 64, 2),
        "ONNX Runtime, groups of 32 on 2 threads": _variant(predictor, ids, one, 32, 2),
        "ONNX Runtime, groups of 128 on 2 threads": _variant(predictor, ids, one, 128, 2),
        "ONNX Runtime, groups of 64 on 1 thread": _variant(predictor, ids, one, 64, 1),
        "ONNX Runtime, 2 intra-op threads, groups of 256": _variant(predictor, ids, two, 256, 1),
        "NumPy, groups of 256 on 2 threads": _variant(predictor, ids, None, 256, 2),
        "NumPy, groups of 256 on 1 thread": _variant(predictor, ids, None, 256, 1),
    }
    for run in variants.values():  # warm: sessions' first runs, the NumPy projection cache
        run()
    passes: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(args.repeat):
        for name, run in variants.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            run()
            passes[name].append((time.perf_counter() - started, time.process_time() - cpu_started))
    for name, timed in passes.items():
        wall, cpu = statistics.median(p[0] for p in timed), statistics.median(p[1] for p in timed)
        print(
            f"{name:50s} {len(ids) / wall:9,.0f} texts/s  {len(ids) / cpu:9,.0f} per CPU-second  {cpu / wall:.2f} cores"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
