"""``serve``: an HTTP API over a trained run (FastAPI and uvicorn, the ``serve`` extra).

The modules here import FastAPI at the top: import them only once :func:`require_packages` has passed.
"""

from __future__ import annotations

import importlib
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstmcli.errors import ConfigError
from lstmcli.serve.settings import Batching, Limits

if TYPE_CHECKING:
    from fastapi import FastAPI

PACKAGES = ("fastapi", "uvicorn")


def require_packages() -> None:
    """Raises ConfigError naming the extra to install unless FastAPI and uvicorn can be imported."""
    missing = []
    for name in PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ConfigError(
            f"serving needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            "not installed; pip install 'lstmcli[serve]'"
        )


def create_app(
    run_dir: str | Path | None = None,
    limits: Limits = Limits(),
    batching: Batching = Batching(),
    decision: dict[str, Any] | None = None,
) -> FastAPI:
    """The FastAPI app ``lstmcli serve`` runs, over the run in ``run_dir``, for any ASGI server to run.

    Args:
        run_dir: the run directory (default: ``$LSTMCLI_RUN_DIR``, else ``./lstmcli-run``); loaded once here, and
            again on ``POST /reload``.
        limits: the request limits (:class:`lstmcli.serve.settings.Limits`).
        batching: how concurrent requests are labelled together.
        decision: a multi-label run's ``threshold``, ``top_k`` and ``min_labels`` (None: as trained).

    Raises:
        ConfigError: FastAPI or uvicorn is not installed.
        LstmcliError: the run cannot be loaded.
    """
    require_packages()
    from lstmcli.serve.app import build_app, load_run
    from lstmcli.workflow import run_dir_of

    return build_app(partial(load_run, run_dir_of(run_dir), decision), limits, batching)
