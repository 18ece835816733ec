"""A progress display for long work on many texts, shown only to a person waiting at a terminal.

It draws on stderr, and only when stderr is a terminal and stdout is not: when stdout is the same
terminal, the results scrolling by are the progress, and a bar redrawn between them would garble both.
Pipes, files and tests never see it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def wanted() -> bool:
    """Whether a person is watching stderr while stdout goes elsewhere."""
    return _isatty(sys.stderr) and not _isatty(sys.stdout)


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


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
