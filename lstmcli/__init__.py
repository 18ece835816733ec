"""lstmcli: train LSTM text classifiers on CSV files and label new text from files or pipes.

The library behind the command line, one entry point per command; each returns values and never prints or exits:
``prepare``, ``train``, ``evaluate`` and ``predict`` (:mod:`lstmcli.workflow`) take a run directory, a data file and
settings named as the :class:`Config` fields; ``explain_texts`` (explain) takes a ``Predictor``, which loads a
trained run once for many calls; ``run_info`` (info), ``run_report`` (report: the data its page shows) and
``export_run`` (export) take a ``RunDir``; ``create_app`` is serve's FastAPI app. (``explain``, ``info`` and
``export`` are the names of the modules that hold them.) TensorFlow is imported only by training.
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
    "explain_texts": "lstmcli.explain",
    "run_info": "lstmcli.info",
    "run_report": "lstmcli.info",
    "export_run": "lstmcli.export",
    "create_app": "lstmcli.serve",
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
