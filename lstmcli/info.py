"""``info``: what one run directory holds: its data, settings, training, metrics and files.

Reads only the small JSON files the other commands wrote; no model is loaded, so it answers at once.
:mod:`lstmcli.ui.info` shows the summary to a person.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lstmcli.rundir import RunDir, TrainingRecord


def run_info(run: RunDir) -> dict[str, Any]:
    """The run's summary as plain JSON-ready values.

    Returns:
        ``run_dir``, ``trained``, ``labels``, ``data`` (prepare's report), ``config``, ``training``
        (epochs run, best epoch, its monitor and its metrics; None before training), ``metrics`` (the last
        evaluate's, or None), ``files`` (``path`` and ``bytes``, sorted), ``manifest``, and a multi-label run's
        decision ``thresholds``.

    Raises:
        RunDirError: the directory is missing, incomplete or written by a newer lstmcli.
    """
    run.check("prepared")
    manifest = run.read_manifest()
    thresholds = run.read_thresholds()
    summary = {
        "run_dir": str(run.path),
        "trained": run.is_trained(),
        "labels": run.read_labels(),
        "data": run.read_prepare_report(),
        "config": dataclasses.asdict(run.read_config()),
        "training": training_summary(run.read_history(), run.read_training()),
        "metrics": run.read_metrics(),
        "files": run.list_files(),
        "manifest": manifest,
    }
    return summary if thresholds is None else {**summary, "thresholds": thresholds}


def training_summary(history: list[dict[str, Any]], record: TrainingRecord | None) -> dict[str, Any] | None:
    """Epochs run, the restored best epoch, the monitor that chose it and its metrics.

    Args:
        history: ``history.json``'s rows.
        record: what training recorded (:meth:`RunDir.read_training`); None before training.
    """
    if record is None:
        return None
    best_row = next(row for row in history if row.get("epoch") == record.best_epoch)
    summary = {
        "epochs_run": len(history),
        "best_epoch": record.best_epoch,
        "monitor": record.monitor,
        "best": {key: value for key, value in best_row.items() if key not in ("epoch", "stage")},
    }
    if "stage" in best_row:  # staged training: "ngrams" if training ended before the LSTM's stage
        summary["best_stage"] = best_row["stage"]
    return summary
