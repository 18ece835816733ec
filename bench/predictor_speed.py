"""In-process throughput of lstmcli's Predictor: texts per second once the run is loaded (no process start, no I/O).

Usage: python bench/predictor_speed.py RUN_DIR TEXTS.txt [--repeat 3] [--engine auto|numpy|onnx]

With the onnx engine (or auto, past its row count) the first pass also builds the ONNX Runtime session; the
median of three or more passes leaves it out, and ``passes`` shows it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("texts", type=Path, help="one text per line")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the median is reported")
    parser.add_argument("--engine", default=None, help="auto, numpy or onnx (default: $LSTMCLI_ENGINE, else auto)")
    args = parser.parse_args(argv)
    from lstmcli.errors import LstmcliError
    from lstmcli.predictor import Predictor, predict_texts
    from lstmcli.rundir import RunDir

    # Split as lstmcli predict does: on "\n" only, one trailing newline ending the last text.
    lines = args.texts.read_text(encoding="utf-8").removesuffix("\n").split("\n")
    texts = [("-", line.rstrip("\r")) for line in lines]
    started = time.perf_counter()
    try:
        predictor = Predictor(RunDir(args.run_dir), args.engine)
    except LstmcliError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    load_seconds = time.perf_counter() - started
    rates = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        for _prediction in predict_texts(predictor, texts):
            pass
        rates.append(len(texts) / (time.perf_counter() - started))
    print(
        json.dumps(
            {
                "n": len(texts),
                "load_seconds": load_seconds,
                "texts_per_second": statistics.median(rates),
                "passes": rates,
                "engine": predictor.engine_in_use,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
