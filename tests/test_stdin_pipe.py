"""predict reading a pipe that stays open (``tail -f log | lstmcli predict``): Ctrl-C ends it as any command ends,
though the thread that reads the next batch is waiting for input."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lstmcli.predictor import BATCH

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_while_the_input_waits_exits_as_interrupted(trained_run: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lstmcli", "predict", "-r", str(trained_run), "--format", "label"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        # Three batches' lines, more than the reader's two 64 KiB reads: two batches come, the third never ends.
        proc.stdin.write(b"the match went to extra time\n" * (3 * BATCH))
        proc.stdin.flush()  # and left open
        labelled = [proc.stdout.readline() for _ in range(2 * BATCH)]  # two batches out: the third is awaited
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
        stderr = proc.stderr.read().decode()
    finally:
        proc.kill()
        proc.stdin.close()
    assert all(line.strip() for line in labelled)
    assert "Fatal Python error" not in stderr
    assert code == 130, stderr
