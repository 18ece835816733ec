"""Load test of ``lstmcli serve``: the server as a real subprocess on loopback, many concurrent clients.

For 1, 8 and 32 concurrent clients sending requests of 1 and of 32 texts back to back, it reports throughput
(texts/s), p50 and p99 latency and requests lost, beside the in-process Predictor's rate on the same texts in
the same run. Writes a markdown table (default bench/LOAD.md) and prints it.

Usage: python bench/load.py RUN_DIR [--texts FILE.csv] [--seconds 5] [--out bench/LOAD.md]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "datasets" / "sst2" / "dev.csv"
TICKETS = ROOT / "examples" / "tickets.csv"
CLIENTS = (1, 8, 32)
SIZES = (1, 32)


def read_texts(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh) if row["text"].strip()]


def in_process_rate(run_dir: Path, texts: list[str], seconds: float) -> float:
    """Texts per second of ``Predictor.proba`` on batches of 2048, once loaded (what ``predict`` does)."""
    from lstmcli.predictor import Predictor
    from lstmcli.rundir import RunDir

    predictor = Predictor(RunDir(run_dir))
    batch = (texts * (2048 // len(texts) + 1))[:2048]
    predictor.proba(batch)  # warms the projection cache, as a running server is warm
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        predictor.proba(batch)
        done += len(batch)
    return done / (time.perf_counter() - started)


def start_server(run_dir: Path) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "lstmcli", "serve", "-r", str(run_dir), "--port", "0"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("Serving "):
            return proc, line.split(" on ")[1].split(" ")[0]
    raise SystemExit(f"the server did not start (exit {proc.wait()})")


async def scenario(url: str, texts: list[str], clients: int, size: int, seconds: float) -> dict[str, Any]:
    """``clients`` clients sending ``size`` texts per request back to back for ``seconds``."""
    import httpx

    latencies: list[float] = []
    lost = 0
    stop_at = time.perf_counter() + seconds

    async def client(index: int, http: httpx.AsyncClient) -> None:
        nonlocal lost
        position = index * 997
        while time.perf_counter() < stop_at:
            batch = [texts[(position + i) % len(texts)] for i in range(size)]
            position += size
            started = time.perf_counter()
            try:
                response = await http.post(f"{url}/predict", json={"texts": batch})
                ok = response.status_code == 200 and len(response.json()["predictions"]) == size
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                lost += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        await http.post(f"{url}/predict", json={"texts": texts[:size]})  # connection up, server warm
        started = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "clients": clients,
        "size": size,
        "requests": len(latencies),
        "lost": lost,
        "texts_per_s": len(latencies) * size / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else np.nan,
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else np.nan,
    }


def table(rows: list[dict[str, Any]], rate: float) -> str:
    lines = [
        "| clients | texts/request | requests | texts/s | of in-process | p50 ms | p99 ms | lost |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['clients']} | {r['size']} | {r['requests']} | {r['texts_per_s']:,.0f} | "
            f"{100 * r['texts_per_s'] / rate:.0f}% | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['lost']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--texts", type=Path, default=SST2 if SST2.is_file() else TICKETS, help="CSV with a text column"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each scenario")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "LOAD.md")
    args = parser.parse_args(argv)
    texts = read_texts(args.texts)
    rate = in_process_rate(args.run_dir, texts, args.seconds)
    proc, url = start_server(args.run_dir)
    try:
        rows = [asyncio.run(scenario(url, texts, clients, size, args.seconds)) for size in SIZES for clients in CLIENTS]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    report = "\n".join(
        [
            "# lstmcli serve under load",
            "",
            f"Command: `python bench/load.py {args.run_dir} --seconds {args.seconds:g}` "
            f"(texts: `{args.texts.name}`, "
            f"{len(texts)} texts; run: `{args.run_dir}`).",
            f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; the clients "
            "(one asyncio process, httpx) share the CPUs with the server.",
            "",
            f"In-process `Predictor.proba` on batches of 2048: **{rate:,.0f} texts/s**.",
            "",
            table(rows, rate),
            "",
            f"Server exit status after SIGTERM: {code}.",
            "",
        ]
    )
    args.out.write_text(report, encoding="utf-8")
    print(report)
    return 0 if code == 0 and not any(r["lost"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
