"""The memory a command takes on the machine, child processes included: ``lstmcli train FILE`` forks one for prepare.

Runs the command given and, every 20 ms until it ends, adds the resident memory of the command's process
(``Rss`` of ``/proc/PID/smaps_rollup``) to the private memory (``Private_Clean`` + ``Private_Dirty``) of each of its
descendants: a forked child shares its parent's pages until it writes them, and counting its whole resident size
would count those twice. Prints the wall time, the highest sum and when it came, and each process's own highest.
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


def _kib(pid: int, whole: bool) -> int:
    """The process's resident KiB if ``whole``, else only its private KiB; 0 once it has ended."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if whole and line.startswith("Rss:"):
                    return int(line.split()[1])
                if not whole and line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except OSError:
        return 0
    return total


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    started = time.monotonic()
    command = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    highest, when, peaks = 0, 0.0, {}
    while command.poll() is None:
        pending, total = [command.pid], 0
        while pending:
            pid = pending.pop()
            kib = _kib(pid, whole=pid == command.pid)
            total += kib
            peaks[pid] = max(peaks.get(pid, 0), kib)
            pending += _children(pid)
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
