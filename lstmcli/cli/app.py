"""The Typer application, and the one place where library errors become an ``Error: ...`` line and an exit code.

Nothing here imports TensorFlow, so ``--help`` and usage errors answer at once.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from lstmcli.errors import USER_ERRNOS, ConfigError, LstmcliError, Terminated, os_error_message

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    help="Train LSTM text classifiers on CSV files and label new text from files or pipes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def handle_errors(func: F) -> F:
    """Turns library errors and the OSErrors a user can cause into one ``Error: ...`` line on stderr and exit
    status 1; Ctrl-C into 130 and SIGTERM into 143 (during training, both after saving the best model)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _sigterm_interrupts():
            try:
                return func(*args, **kwargs)
            except LstmcliError as exc:
                fail(str(exc))
            except BrokenPipeError:  # stdout's reader has gone (| head -1): what it wanted was written
                _silence(sys.stdout)
                raise typer.Exit(0) from None
            except OSError as exc:  # the last resort: the run directory and the readers translate their own
                if exc.errno not in USER_ERRNOS:
                    raise
                fail(os_error_message(exc))
            except KeyboardInterrupt:
                _echo_err("Interrupted.")
                raise typer.Exit(interrupted_status()) from None

    return wrapper  # type: ignore[return-value]


def fail(message: str) -> NoReturn:
    """Ends the command with ``Error: message`` on stderr and exit status 1."""
    _echo_err(f"Error: {message}")
    raise typer.Exit(1)


def _echo_err(line: str) -> None:
    try:
        typer.echo(line, err=True)
    except BrokenPipeError:  # 2>&1 | head -1: the reader has gone
        _silence(sys.stderr)


def _silence(stream: Any) -> None:
    from lstmcli.ui.console import silence

    silence(stream)


_signals: list[int] = []  # the signals that interrupted this process


def interrupted_status() -> int:
    """The exit status of a command interrupted by a signal: 143 for SIGTERM, 130 for Ctrl-C (SIGINT)."""
    return 128 + signal.SIGTERM if signal.SIGTERM in _signals else 128 + signal.SIGINT


def _on_sigterm(signum: int, _frame: Any) -> None:
    _signals.append(signum)
    raise Terminated


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated`, a KeyboardInterrupt, so that it stops work as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stdin_or_fail(program: str) -> Path:
    """``-`` (stdin) when text is piped in; a ConfigError saying how to give input at a terminal."""
    if sys.stdin.isatty():
        raise ConfigError(f"no input: pass text files, or pipe text in, e.g. echo 'some text' | {program}")
    return Path("-")


def command(func: F) -> F:
    """Registers ``func`` as a subcommand named after it, with library errors handled."""
    app.command(func.__name__.rstrip("_"))(handle_errors(func))
    return func


def quiet_tensorflow(verbose: bool) -> None:
    """Lets TensorFlow's own log lines through with ``--verbose``; they are silenced otherwise."""
    if verbose:
        os.environ["LSTMCLI_VERBOSE"] = "1"
