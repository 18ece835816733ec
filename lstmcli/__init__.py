"""lstmcli: train LSTM text classifiers on CSV files and label new text from files or pipes.

The library behind the command line: ``prepare``, ``train``, ``evaluate`` and ``Predictor`` take paths
and a :class:`Config` and return values; they never print or exit. TensorFlow is imported only by training.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Config": "lstmcli.config",
    "make_config": "lstmcli.config",
    "RunDir": "lstmcli.rundir",
    "prepare": "lstmcli.dataset.prepare",
    "train": "lstmcli.nn.fit",
    "evaluate": "lstmcli.scoring",
    "Predictor": "lstmcli.predictor",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lstmcli' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
