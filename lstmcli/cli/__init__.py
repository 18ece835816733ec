"""The ``lstmcli`` command line: one thin module per command over :mod:`lstmcli.workflow`.

Each command parses its options, calls one library function and hands the result to :mod:`lstmcli.ui`.
Nothing here imports TensorFlow at module level, so ``--help`` and usage errors answer at once.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
from typing import Annotated

import typer

from lstmcli import __version__
from lstmcli.cli import (  # noqa: F401  (importing a command module registers it)
    evaluate,
    explain,
    export,
    info,
    predict,
    prepare,
    report,
    serve,
    train,
)
from lstmcli.cli.app import app
from lstmcli.ui.console import keep_stderr


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lstmcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Train LSTM text classifiers on CSV files and label new text from files or pipes.

    Typical use: lstmcli train data.csv, then lstmcli predict input.txt (or a pipe).
    """


def main() -> None:
    keep_stderr()  # before any thread: TensorFlow's import points descriptor 2 at /dev/null for a while
    # The NumPy forward pass runs its own two threads over small matrices: BLAS threads on top of them
    # only contend, and on a loaded machine slow it down many times. Set before NumPy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # The library's one-line notices (such as converting packaged vectors into the cache) go to stderr.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("lstmcli").addHandler(handler)
    logging.getLogger("lstmcli").setLevel(logging.INFO)
    try:
        app()
    except SystemExit as exc:
        _end_now(exc.code)


def _end_now(code: object) -> None:
    """Ends the process once its command is done, without Python's finalization: tearing down the modules and
    their objects took 1-2 s after every training (TensorFlow's), and 50 ms after every ``predict FILE`` (ONNX
    Runtime's and NumPy's), a sixth of labelling 20,000 texts. What finalization would still do for others is done
    first: other threads joined, exit handlers run (logging's flush among them), streams flushed."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # sys.exit("message"), as the interpreter prints it
        code = 1
    threading._shutdown()  # type: ignore[attr-defined]  # as at exit: idle pool workers told to end, then joined
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more can reach it
            stream.flush()
    os._exit(code or 0)


__all__ = ["app", "main"]
