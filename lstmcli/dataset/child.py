"""Prepare in a child process, while the parent imports TensorFlow for the training that follows.

Both are mostly Python work that holds the interpreter's lock: on two threads of one process they add up, in two
processes they overlap on two cores. The child is forked once the parent has nothing else running, writes the
run directory as prepare always does, and sends back through a pipe its progress, then its result or its error.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import IO, Any, NoReturn, TypeVar

from lstmcli.errors import LstmcliError

T = TypeVar("T")
Progress = Callable[[str, int, float], None]
INTERRUPTED = 128 + signal.SIGINT  # the child's exit status when Ctrl-C stopped it


def can_fork() -> bool:
    """Whether forking is safe here: on Linux, with no other thread running (a forked child gets only the
    calling thread, and whatever locks the others held), and TensorFlow not yet imported (nothing to overlap)."""
    return (
        sys.platform == "linux"
        and hasattr(os, "fork")
        and threading.active_count() == 1
        and "tensorflow" not in sys.modules
    )


def run_in_child(work: Callable[[Progress | None], T], progress: Progress | None, meanwhile: Callable[[], None]) -> T:
    """``work(progress)`` in a forked child process, ``meanwhile()`` started here as soon as the child is.

    Returns what ``work`` returned; raises the library error (or OSError) it raised, a RuntimeError holding the
    child's traceback for any other (a bug), KeyboardInterrupt if Ctrl-C stopped the child. If this process stops
    waiting for any reason (Ctrl-C, SIGTERM, an error), the child is killed and reaped first, so that whoever
    cleans up after it (a run directory half written) finds nothing still writing.
    """
    reader, writer = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # else the child would write out the parent's buffered lines a second time
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        _child(work, progress is not None, writer)
    os.close(writer)
    try:
        meanwhile()
        with os.fdopen(reader, "rb") as pipe:
            result = _relay(pipe, progress)
    except BaseException:
        _kill(pid)  # not reaped yet, so the pid is still the child's (running, or a zombie)
        _wait(pid)
        raise
    status = _wait(pid)
    if result is _ENDED:
        if status == INTERRUPTED:
            raise KeyboardInterrupt
        raise LstmcliError(f"prepare stopped without finishing (its process ended with status {status})")
    return result  # type: ignore[no-any-return]


def _child(work: Callable[[Progress | None], Any], progress: bool, fd: int) -> NoReturn:
    """Runs in the child: does the work, sends what came of it, and exits without running the parent's exit
    handlers or finalizers (they belong to the parent: its lock file, its buffered output)."""
    status = 0
    try:
        with os.fdopen(fd, "wb") as pipe:

            def send(kind: str, value: Any) -> None:
                pickle.dump((kind, value), pipe)
                pipe.flush()

            try:
                send("done", work((lambda *row: send("rows", row)) if progress else None))
            except KeyboardInterrupt:
                status = INTERRUPTED
            except BaseException as error:  # handed to the parent, which raises it
                send("error", _picklable(error))
    except BaseException:  # the parent is gone (a closed pipe), or the error would not go through
        status = status or 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)


def _picklable(error: BaseException) -> BaseException:
    """``error`` as the parent can raise it: itself if it survives pickling; else a library error's message as
    an LstmcliError; any other error (a bug) as a RuntimeError holding the child's traceback."""
    try:
        pickle.loads(pickle.dumps(error))
        picklable = True
    except Exception:
        picklable = False
    if isinstance(error, LstmcliError | OSError):
        return error if picklable else LstmcliError(str(error))
    where = "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip()
    return RuntimeError(f"prepare failed in its child process:\n{where}")


_ENDED = object()  # what _relay returns when the child ended without sending its result


def _relay(pipe: IO[bytes], progress: Progress | None) -> Any:
    """Reads the child's messages until its result; passes its progress on; raises its error."""
    while True:
        try:
            kind, value = pickle.load(pipe)
        except EOFError:
            return _ENDED
        if kind == "rows":
            if progress is not None:
                progress(*value)
        elif kind == "done":
            return value
        else:
            raise value


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def _wait(pid: int) -> int:
    """Reaps the child; returns its exit status (negative: the signal that killed it)."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
