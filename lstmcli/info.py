"""``info`` and ``report``: what one run directory holds, and what its HTML report shows.

:func:`run_info` reads only the small JSON files the other commands wrote; no model is loaded, so it answers at
once (:mod:`lstmcli.ui.info` shows it to a person). :func:`run_report` adds the model's scores on the validation
part and the texts it gets most wrong, from one pass over it (:mod:`lstmcli.ui.report` renders the page).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from lstmcli.errors import ConfigError
from lstmcli.rundir import RunDir, TrainingRecord

if TYPE_CHECKING:
    from lstmcli.predictor import Predictor
    from lstmcli.scoring import Wrong


def run_info(run: RunDir) -> dict[str, Any]:
    """The run's summary as plain JSON-ready values.

    Returns:
        ``run_dir``, ``trained``, ``labels``, ``data`` (prepare's report), ``config``, ``training``
        (epochs run, best epoch, its monitor and its metrics, and for a staged run what was published; None
        before training), ``metrics`` (the last evaluate's, or None), ``files`` (``path`` and ``bytes``, sorted),
        ``manifest``, and a multi-label run's decision ``thresholds``.

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


def run_report(run: RunDir, n_wrong: int = 10) -> dict[str, Any]:
    """What ``lstmcli report`` shows, as plain values: the validation part scored once, in bounded memory.

    Args:
        run: a trained run.
        n_wrong: how many of the validation texts the model gets most wrong to include (0 or more).

    Returns:
        ``run_dir``, ``labels``, ``multi_label``, ``metrics`` (as evaluate's on the validation part), ``wrong``
        (the worst rows, worst first: ``text`` (None where prepare kept no texts), ``label`` and ``predicted``
        with ``p_label`` and ``p_predicted``; a multi-label run's ``labels`` and ``predicted`` lists),
        ``history``, ``training`` (:func:`training_summary`), ``data`` (prepare's report) and ``config``.

    Raises:
        ConfigError: ``n_wrong`` is negative.
        RunDirError: the run is missing, untrained or damaged.
    """
    from lstmcli.predictor import Predictor
    from lstmcli.scoring import score_validation

    if n_wrong < 0:
        raise ConfigError(f"n_wrong must be 0 or more; received {n_wrong}")
    predictor = Predictor(run)
    metrics, wrong = score_validation(run, predictor, n_wrong=n_wrong)
    texts, saved = run.read_val_texts_at([w.row for w in wrong])
    complete = saved == metrics["n"]  # else the texts do not line up with the validation rows
    labels, history = predictor.labels, run.read_history()
    return {
        "run_dir": str(run.path),
        "labels": labels,
        "multi_label": predictor.config.multi_label,
        "metrics": metrics,
        "wrong": [{"text": texts.get(w.row) if complete else None, **_outcome(w, predictor)} for w in wrong],
        "history": history,
        "training": training_summary(history, run.read_training()),
        "data": run.read_prepare_report(),
        "config": dataclasses.asdict(predictor.config),
    }


def _outcome(wrong: Wrong, predictor: Predictor) -> dict[str, Any]:
    """A wrong row's true and predicted labels (and a single-label run's probabilities of both)."""
    labels, probs = predictor.labels, wrong.probabilities
    if predictor.config.multi_label:
        chosen = predictor.decider.chosen(probs[None, :])[0]
        named = lambda row: [name for name, on in zip(labels, row, strict=True) if on]  # noqa: E731
        return {"labels": named(wrong.truth), "predicted": named(chosen)}
    truth, predicted = int(wrong.truth), int(probs.argmax())
    return {
        "label": labels[truth],
        "predicted": labels[predicted],
        "p_predicted": float(probs[predicted]),
        "p_label": float(probs[truth]),
    }


def training_summary(history: list[dict[str, Any]], record: TrainingRecord | None) -> dict[str, Any] | None:
    """Epochs run, the restored best epoch, the monitor that chose it and its metrics; for a staged model that
    blends both parts, ``published``: each part's best epoch, weight and validation scores, and the blend's.

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
    staged = any(row.get("stage") == "ngrams" for row in history)
    if staged and record.parts and record.ngram_weight is not None and record.lstm_weight is not None:
        summary["published"] = _published(history, record)
    return summary


def _published(history: list[dict[str, Any]], record: TrainingRecord) -> dict[str, Any]:
    """What a staged run published: each part's best epoch, weight and validation scores, then the blend's.

    The n-gram part is its stage's best epoch (kept when the LSTM's stage began), the LSTM part the record's.
    """
    parts = record.parts or {}
    epochs = {"ngrams": _stage_best(history, "ngrams", record.monitor), "lstm": record.best_epoch}
    weights = {"ngrams": record.ngram_weight, "lstm": record.lstm_weight}
    published: dict[str, Any] = {
        part: {"best_epoch": epochs[part], "weight": weights[part], **_val(parts[part])} for part in epochs
    }
    return {**published, **_val(parts["published"])}


def _val(scores: dict[str, float]) -> dict[str, float]:
    return {"val_accuracy": scores["accuracy"], "val_loss": scores["loss"]}


def _stage_best(history: list[dict[str, Any]], stage: str, monitor: str) -> int:
    """The epoch a stage kept, as training chose it: the first with the lowest val_loss, or with the highest
    val_accuracy (ties: the lowest val_loss)."""
    rows = [row for row in history if row.get("stage") == stage]
    if monitor == "val_loss":
        return int(min(rows, key=lambda row: row["val_loss"])["epoch"])
    return int(min(rows, key=lambda row: (-row["val_accuracy"], row["val_loss"]))["epoch"])
