"""Where output goes: results on stdout, what a person reads on stderr, both plain lines when not a terminal.

At a terminal rich draws tables, colours and live bars at the terminal's width. Anywhere else (``2> log``, a
pipe, a test) lines are never wrapped or cut, so ``grep '^epoch' log`` sees every field of a line. A reader of
stderr that goes away (``2>&1 | head -1``) silences it instead of failing the command.
"""

from __future__ import annotations

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


class QuietStderr:
    """``sys.stderr`` as it is at each write (tests replace it), silenced once its reader has gone."""

    closed = False

    def write(self, text: str) -> int:
        try:
            sys.stderr.write(text)
        except BrokenPipeError:
            self._silence()
        return len(text)

    def flush(self) -> None:
        try:
            sys.stderr.flush()
        except BrokenPipeError:
            self._silence()

    def isatty(self) -> bool:
        return is_terminal(sys.stderr)

    def fileno(self) -> int:
        return sys.stderr.fileno()

    @property
    def encoding(self) -> str:
        return getattr(sys.stderr, "encoding", None) or "utf-8"

    @staticmethod
    def _silence() -> None:
        silence(sys.stderr)


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
