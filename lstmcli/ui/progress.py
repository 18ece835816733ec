"""A progress display for long work on many texts, shown only to a person waiting at a terminal.

It draws on stderr, and only when stderr is a terminal and stdout is not: when stdout is the same
terminal, the results scrolling by are the progress, and a bar redrawn between them would garble both.
Pipes, files and tests never see it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from lstmcli.ui.console import is_terminal

T = TypeVar("T")


def wanted() -> bool:
    """Whether a person is watching stderr while stdout goes elsewhere."""
    return is_terminal(sys.stderr) and not is_terminal(sys.stdout)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Yields ``items`` unchanged, counting them on a transient rich progress bar when :func:`wanted`.

    Args:
        items: anything iterable, read lazily.
        description: what is being done, e.g. ``"Labelling"``.
        total: how many items to expect, or None for a count without a bar's end.
    """
    if not wanted():
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if total is not None else TextColumn("{task.completed} texts"),
        TimeElapsedColumn(),
    ]
    with Progress(
        *columns, console=Console(stderr=True), transient=True, redirect_stdout=False, redirect_stderr=False
    ) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)


class RowsPerSecond:
    """A rich display on stderr of prepare's progress: the share of the file done, rows, and rows per second.

    The library never prints; the CLI passes this as prepare's ``progress`` callback when stderr is a terminal.
    """

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.tasks: dict[str, Any] = {}
        self.started: dict[str, float] = {}

    def __call__(self, phase: str, rows: int, fraction: float) -> None:
        if phase not in self.tasks:
            if not self.tasks:
                self.progress.start()
            self.tasks[phase] = self.progress.add_task(phase.capitalize(), total=1.0, rows="")
            self.started[phase] = time.monotonic()
        rate = rows / max(time.monotonic() - self.started[phase], 1e-6)
        shown = f"epoch {rows}" if phase == "pretraining" else f"{rows:,} rows, {rate:,.0f} rows/s"
        self.progress.update(self.tasks[phase], completed=fraction, rows=shown)

    def stop(self) -> None:
        if self.tasks:
            self.progress.stop()


@contextlib.contextmanager
def rows_progress() -> Iterator[Callable[[str, int, float], None] | None]:
    """Rows per second of a streaming prepare, shown only to a person at a terminal."""
    display = RowsPerSecond() if sys.stderr.isatty() else None
    try:
        yield display
    finally:
        if display is not None:
            display.stop()
