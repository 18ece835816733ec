"""Where output goes: results on stdout, what a person reads on stderr, both plain lines when not a terminal.

At a terminal rich draws tables, colours and live bars at the terminal's width. Anywhere else (``2> log``, a
pipe, a test) lines are never wrapped or cut, so ``grep '^epoch' log`` sees every field of a line. A reader of
stderr that goes away (``2>&1 | head -1``) silences it instead of failing the command.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

_UNWRAPPED = 1 << 16  # the width of a console that is not a terminal: wide enough never to wrap a line


def is_terminal(stream: object) -> bool:
    """Whether ``stream`` is a terminal; False for replaced or closed streams."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


_stderr_copy: TextIO | None = None  # file descriptor 2 as the process started with it (see keep_stderr)


def keep_stderr() -> None:
    """Keeps a copy of file descriptor 2 for the console's lines, taken before any thread can point it elsewhere:
    while TensorFlow imports on a thread, descriptor 2 leads to /dev/null (its C++ start-up lines), and prepare's
    progress and report, drawn meanwhile, went there too. The command line's ``main`` calls it first thing."""
    global _stderr_copy
    stderr = sys.__stderr__
    if stderr is None:  # no stderr at all
        return
    with contextlib.suppress(OSError, ValueError):  # a closed one: none kept
        copy = os.dup(stderr.fileno())
        _stderr_copy = open(copy, "w", buffering=1, encoding=stderr.encoding, errors=stderr.errors)  # noqa: SIM115
        atexit.register(_flush_copy)  # a line without its end yet, as Python flushes stderr at exit


def _flush_copy() -> None:
    with contextlib.suppress(OSError, ValueError):  # a reader that has gone: nothing more can reach it
        if _stderr_copy is not None:
            _stderr_copy.flush()


class QuietStderr:
    """``sys.stderr`` as it is at each write (tests replace it), silenced once its reader has gone.

    Where that is the process's own stderr, the lines go to :func:`keep_stderr`'s copy of it; where it is rich's
    proxy of a live display (a progress bar, a status line), to the file under it: written to the proxy, the
    console's own lines came back to the console, without end (``train`` in a terminal hung at "Loading
    TensorFlow...").
    """

    closed = False

    @staticmethod
    def _stream() -> Any:
        stream = getattr(sys.stderr, "rich_proxied_file", sys.stderr)
        return _stderr_copy if stream is sys.__stderr__ and _stderr_copy is not None else stream

    def write(self, text: str) -> int:
        stream = self._stream()
        try:
            stream.write(text)
        except BrokenPipeError:
            silence(stream)
        return len(text)

    def flush(self) -> None:
        stream = self._stream()
        try:
            stream.flush()
        except BrokenPipeError:
            silence(stream)

    def isatty(self) -> bool:
        return is_terminal(self._stream())

    def fileno(self) -> int:
        return int(self._stream().fileno())

    @property
    def encoding(self) -> str:
        return getattr(self._stream(), "encoding", None) or "utf-8"


def silence(stream: Any) -> None:
    """Points a stream whose reader has gone (``| head -1``) at /dev/null, so that later writes, and Python's
    flush at exit, go nowhere quietly; the one place a closed pipe is handled."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


@contextlib.contextmanager
def quiet_on_closed_pipe(out: TextIO) -> Iterator[None]:
    """Ends the output quietly when its reader has gone (``| head -1``), instead of a BrokenPipeError."""
    try:
        yield
    except BrokenPipeError:
        if out is sys.stdout or out is sys.__stdout__:
            silence(sys.stdout)


def console(stderr: bool) -> Console:
    """A rich console on stderr (diagnostics) or stdout (results); unwrapped when it is not a terminal.

    rich is imported here, not with the module: the writers and the closed-pipe handling, which ``predict``
    needs, draw nothing (importing rich costs a pipe's one-text ``predict`` about 15 ms)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = is_terminal(stream)
    return Console(
        file=QuietStderr() if stderr else stream,  # type: ignore[arg-type]
        highlight=False,
        soft_wrap=not tty,
        width=None if tty else _UNWRAPPED,
    )


def print_json(data: Any) -> None:
    """One JSON object on one line of stdout: a command's result for a script."""
    print(json.dumps(data, ensure_ascii=False, default=str), flush=True)
