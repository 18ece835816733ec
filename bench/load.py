"""Load test of ``lstmcli serve``: the server as a real subprocess on loopback, many concurrent clients.

For 1, 8 and 32 concurrent clients sending requests of 1 and of 32 texts back to back, it reports throughput
(texts/s), p50 and p99 latency and requests lost, beside the in-process Predictor's rate on the same texts in
the same run (measured again just before each server). Writes a markdown table (default bench/LOAD.md) and
prints it. With ``--baseline DIR`` (a checkout of an earlier lstmcli, e.g. a detached ``git worktree``) the
server of that code runs too, before this one's in each of ``--rounds`` rounds, on the same run and texts.

Usage: python bench/load.py RUN_DIR [--texts FILE.csv] [--seconds 5] [--out bench/LOAD.md] [--client httpx|raw]
       [--scenarios 8x32,1x1] [--baseline ../before] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
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


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system, all threads) process ``pid`` has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(run_dir: Path, code: Path = ROOT) -> tuple[subprocess.Popen[str], str]:
    """``lstmcli serve`` of the lstmcli checkout ``code`` on a free port, and its address."""
    command = [sys.executable, "-m", "lstmcli", "serve", "-r", str(run_dir), "--port", "0"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=code)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("Serving "):
            return proc, line.split(" on ")[1].split(" ")[0]
    raise SystemExit(f"the server did not start (exit {proc.wait()})")


class RawClient:
    """A lean HTTP/1.1 client: one kept-alive asyncio connection, each request written whole, each answer read by
    its Content-Length. httpx costs about 1.5 ms of CPU a request, which on two shared cores the server loses."""

    def __init__(self, url: str) -> None:
        self.host, port = url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post_json(self, path: str, payload: Any) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host.strip("[]"), self.port)
        reader, writer = self.streams
        body = json.dumps(payload).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        length = int({k.lower(): v for k, v in headers.items()}["content-length"])
        return int(lines[0].split()[1]), await reader.readexactly(length)

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


async def scenario(
    url: str, texts: list[str], clients: int, size: int, seconds: float, client_kind: str = "httpx"
) -> dict[str, Any]:
    """``clients`` clients sending ``size`` texts per request back to back for ``seconds``, each with its own
    connection (``httpx``: one AsyncClient pool of ``clients`` connections; ``raw``: :class:`RawClient`)."""
    import httpx

    latencies: list[float] = []
    lost = 0
    stop_at = time.perf_counter() + seconds

    async def post(http: httpx.AsyncClient, raw: RawClient | None, batch: list[str]) -> bool:
        if raw is not None:
            status, data = await raw.post_json("/predict", {"texts": batch})
            return status == 200 and len(json.loads(data)["predictions"]) == len(batch)
        response = await http.post(f"{url}/predict", json={"texts": batch})
        return response.status_code == 200 and len(response.json()["predictions"]) == len(batch)

    async def client(index: int, http: httpx.AsyncClient) -> None:
        nonlocal lost
        raw = RawClient(url) if client_kind == "raw" else None
        position = index * 997
        while time.perf_counter() < stop_at:
            batch = [texts[(position + i) % len(texts)] for i in range(size)]
            position += size
            started = time.perf_counter()
            try:
                ok = await post(http, raw, batch)
            except (httpx.HTTPError, OSError, asyncio.IncompleteReadError):
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                lost += 1
        if raw is not None:
            raw.close()

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        await http.post(f"{url}/predict", json={"texts": texts[:size]})  # connection up, server warm
        started = time.perf_counter()
        cpu_started = time.process_time()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - cpu_started
    latencies.sort()
    return {
        "clients": clients,
        "size": size,
        "requests": len(latencies),
        "lost": lost,
        "texts_per_s": len(latencies) * size / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else np.nan,
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else np.nan,
        "client_cores": client_cpu / elapsed,
    }


def batch_stats(url: str) -> dict[str, int]:
    """The server's counts of batches and texts labelled so far (``GET /info``)."""
    import httpx

    return dict(httpx.get(f"{url}/info", timeout=60).json()["stats"])


def table(rows: list[dict[str, Any]]) -> str:
    """One line per scenario run; "server us CPU/text": the server's CPU time per text labelled."""
    lines = [
        "| round | server | clients | texts/request | requests | texts/s | in-process texts/s | of in-process | "
        "p50 ms | p99 ms | lost | server, client cores | server us CPU/text | texts/batch |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['round']} | {r['server']} | {r['clients']} | {r['size']} | {r['requests']} | "
            f"{r['texts_per_s']:,.0f} | {r['in_process']:,.0f} | {100 * r['texts_per_s'] / r['in_process']:.0f}% | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['lost']} | {r['server_cores']:.2f}, {r['client_cores']:.2f} | "
            f"{1e6 * r['server_cores'] / r['texts_per_s']:.1f} | {r['batch_texts']:.0f} |"
        )
    return "\n".join(lines)


def serve_scenarios(
    args: argparse.Namespace, texts: list[str], code: Path, name: str, round_: int
) -> tuple[list[dict[str, Any]], int]:
    """Every scenario against one server of the checkout ``code``, after the in-process rate; the rows, and the
    server's exit status after SIGTERM."""
    rate = in_process_rate(args.run_dir, texts, args.seconds)
    proc, url = start_server(args.run_dir.resolve(), code)
    rows = []
    try:
        for scenario_name in args.scenarios.split(","):
            clients, size = (int(n) for n in scenario_name.split("x"))
            cpu_started, stats_started = process_cpu(proc.pid), batch_stats(url)
            row = asyncio.run(scenario(url, texts, clients, size, args.seconds, args.client))
            row["server_cores"] = (process_cpu(proc.pid) - cpu_started) / args.seconds
            stats = batch_stats(url)
            row["batch_texts"] = (stats["texts"] - stats_started["texts"]) / max(
                1, stats["batches"] - stats_started["batches"]
            )
            rows.append({**row, "round": round_, "server": name, "in_process": rate})
    finally:
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=60)
    return rows, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--texts", type=Path, default=SST2 if SST2.is_file() else TICKETS, help="CSV with a text column"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each scenario")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "LOAD.md")
    parser.add_argument("--client", choices=("httpx", "raw"), default="httpx", help="the clients' HTTP library")
    parser.add_argument(
        "--scenarios", default=",".join(f"{c}x{s}" for s in SIZES for c in CLIENTS), help="CLIENTSxTEXTS, ..."
    )
    parser.add_argument("--baseline", type=Path, help="a checkout of an earlier lstmcli, served beside this one")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, each serving the baseline then this code")
    args = parser.parse_args(argv)
    texts = read_texts(args.texts)
    servers = ([("baseline", args.baseline.resolve())] if args.baseline else []) + [("this", ROOT)]
    rows, codes = [], []
    for round_ in range(1, args.rounds + 1):
        for name, code in servers:
            found, status = serve_scenarios(args, texts, code, name, round_)
            rows += found
            codes.append(status)
    baseline = f" --baseline {args.baseline} --rounds {args.rounds}" if args.baseline else ""
    report = "\n".join(
        [
            "# lstmcli serve under load",
            "",
            f"Command: `python bench/load.py {args.run_dir} --seconds {args.seconds:g} --client {args.client} "
            f"--scenarios {args.scenarios}{baseline}` (texts: `{args.texts.name}`, {len(texts)} texts; run: "
            f"`{args.run_dir}`).",
            f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; the clients "
            f"(one asyncio process, {args.client}) share the CPUs with the server; cores: CPU seconds per second of "
            "each scenario. In-process: `Predictor.proba` on batches of 2048, measured just before each server.",
            "",
            table(rows),
            "",
            f"Server exit status after SIGTERM: {', '.join(map(str, codes))}.",
            "",
        ]
    )
    args.out.write_text(report, encoding="utf-8")
    print(report)
    return 0 if not any(codes) and not any(r["lost"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
