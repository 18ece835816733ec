"""The Typer application, and the one place where library errors become an ``Error: ...`` line and an exit code.

Nothing here imports TensorFlow, so ``--help`` and usage errors answer at once.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from lstmcli.errors import LstmcliError

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
    """Turns library errors into one ``Error: ...`` line on stderr and exit status 1, Ctrl-C into 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LstmcliError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def command(func: F) -> F:
    """Registers ``func`` as a subcommand named after it, with library errors handled."""
    app.command(func.__name__.rstrip("_"))(handle_errors(func))
    return func


def quiet_tensorflow(verbose: bool) -> None:
    """Lets TensorFlow's own log lines through with ``--verbose``; they are silenced otherwise."""
    if verbose:
        os.environ["LSTMCLI_VERBOSE"] = "1"
