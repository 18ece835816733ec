"""One metrics implementation, checked against scikit-learn's on random data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, precision_recall_fscore_support

from lstmcli.scoring import ScoreTally, score


@pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")
@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 7))
    n = int(rng.integers(5, 300))
    y = rng.integers(0, n_classes, n).astype(np.int32)
    probs = rng.dirichlet(np.ones(n_classes), n).astype(np.float32)
    labels = [f"c{i}" for i in range(n_classes)]
    predicted = probs.argmax(axis=1)
    classes = list(range(n_classes))
    metrics = score(probs, y, labels)
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=classes, zero_division=0)
    assert metrics["n"] == n
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert metrics["macro_f1"] == pytest.approx(
        f1_score(y, predicted, labels=classes, average="macro", zero_division=0)
    )
    assert metrics["confusion_matrix"] == confusion_matrix(y, predicted, labels=classes).tolist()
    assert metrics["loss"] == pytest.approx(log_loss(y, probs.astype(np.float64), labels=classes), rel=1e-5)
    for i, label in enumerate(labels):
        row = metrics["per_class"][label]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((precision[i], recall[i], f1[i]))
        assert row["support"] == support[i]
    # Added chunk by chunk, the tally gives the same figures.
    tally = ScoreTally(n_classes)
    for start in range(0, n, 17):
        tally.add(probs[start : start + 17], y[start : start + 17])
    chunked = tally.metrics(labels)
    assert chunked.pop("loss") == pytest.approx(metrics["loss"], rel=1e-9)
    assert chunked == {k: v for k, v in metrics.items() if k != "loss"}


def test_score_uses_no_second_implementation() -> None:
    import inspect

    from lstmcli import scoring

    assert "sklearn" not in inspect.getsource(scoring)
