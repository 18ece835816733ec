"""The memory a command takes on the machine, child processes included: ``lstmcli train FILE`` forks one for prepare.

Runs the command given and, every 20 ms until it ends, adds the resident memory of the command's process
(``Rss`` of ``/proc/PID/smaps_rollup``) to the private memory (``Private_Clean`` + ``Private_Dirty``) of each of its
descendants: a forked child shares its parent's pages until it writes them, and counting its whole resident size
would count those twice. A child that shares its parent's whole address space (``vfork`` before its ``exec``, as
``subprocess`` starts ``uname -p`` for h5py's import) is not counted: its ``smaps_rollup`` is its parent's, figure
for figure, and its memory the parent's. Prints the wall time, the highest sum and when it came, and each process's own highest.
Reading ``smaps_rollup`` of a large process costs CPU (the sampler takes about half a core): the wall time it
prints is not a timing.

Usage: .venv/bin/python bench/tree_memory.py COMMAND [ARGS...]
e.g.   .venv/bin/python bench/tree_memory.py .venv/bin/lstmcli train ../shared/datasets/sst2/train.csv -r /tmp/run
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

INTERVAL = 0.02


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                found += [int(child) for child in fh.read().split()]
    except OSError:  # it ended meanwhile
        pass
    return found


def _rollup(pid: int) -> dict[str, int]:
    """The KiB figures of the process's ``smaps_rollup`` by name; empty once it has ended."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            return {f[0].rstrip(":"): int(f[1]) for line in fh if len(f := line.split()) == 3 and f[2] == "kB"}
    except OSError:
        return {}


def _kib(rollup: dict[str, int], whole: bool) -> int:
    """The process's resident KiB if ``whole``, else only its private KiB."""
    if whole:
        return rollup.get("Rss", 0)
    return rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    started = time.monotonic()
    command = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    highest, when, peaks = 0, 0.0, {}
    while command.poll() is None:
        pending: list[tuple[int, dict[str, int]]] = [(command.pid, {})]
        total = 0
        while pending:
            pid, parents = pending.pop()
            rollup = _rollup(pid)
            if rollup != parents:  # else one address space, counted as the parent's
                kib = _kib(rollup, whole=pid == command.pid)
                total += kib
                peaks[pid] = max(peaks.get(pid, 0), kib)
            pending += [(child, rollup) for child in _children(pid)]
        if total > highest:
            highest, when = total, time.monotonic() - started
        time.sleep(INTERVAL)
    own = ", ".join(f"{kib / 1024:.0f}" for pid, kib in sorted(peaks.items()) if pid != command.pid and kib)
    print(
        f"wall {time.monotonic() - started:.2f} s, exit {command.returncode}; highest sum {highest / 1024:.0f} MiB at "
        f"{when:.1f} s; the command's process {peaks.get(command.pid, 0) / 1024:.0f} MiB, its descendants' private "
        f"memory {own or 'none'} MiB"
    )


if __name__ == "__main__":
    main()
