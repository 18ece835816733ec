"""lstmcli: train LSTM text classifiers on CSV files and label new text from files or pipes.

The library behind the command line: ``prepare``, ``train``, ``evaluate`` and ``predict``
(:mod:`lstmcli.workflow`) take a run directory, a data file and settings named as the :class:`Config`
fields, and return values; they never print or exit. ``Predictor`` loads a trained run once for many
calls. TensorFlow is imported only by training.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "prepare": "lstmcli.workflow",
    "train": "lstmcli.workflow",
    "evaluate": "lstmcli.workflow",
    "predict": "lstmcli.workflow",
    "Predictor": "lstmcli.predictor",
    "Config": "lstmcli.config",
    "make_config": "lstmcli.config",
    "RunDir": "lstmcli.rundir",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lstmcli' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
