"""``serve``: an HTTP API over a trained run (FastAPI and uvicorn, the ``serve`` extra).

The modules here import FastAPI at the top: import them only once :func:`require_packages` has passed.
"""

from __future__ import annotations

import importlib

from lstmcli.errors import ConfigError

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
