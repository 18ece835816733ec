"""prepare's stratified split: the same rows, in the same order, as the installed scikit-learn's ``train_test_split``
(a scikit-learn that changed its draws would fail these, though lstmcli's splits stay what they were)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, shared_dataset, write_csv
from sklearn.model_selection import train_test_split

from lstmcli.dataset.split import single_label_split

SINGLE_LABEL = ("sms_spam", "sst2", "ag_news", "emotion", "airline_tweets", "chnsenticorp", "online_shopping_10_cats")


def _sklearn(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    train, val = train_test_split(np.arange(len(y)), test_size=test_size, random_state=seed, stratify=y)
    return np.asarray(train), np.asarray(val)


def _same(y: np.ndarray, test_size: float, seed: int) -> None:
    ours, theirs = single_label_split(y, test_size, seed), _sklearn(y, test_size, seed)
    assert ours[0].tolist() == theirs[0].tolist() and ours[1].tolist() == theirs[1].tolist(), (test_size, seed)


def test_random_labels_sizes_and_seeds_split_as_scikit_learn_does() -> None:
    rng = np.random.default_rng(0)
    for case in range(300):
        classes = int(rng.integers(2, 12))
        skew = rng.dirichlet(np.full(classes, 0.3 if case % 2 else 5.0))  # skewed and even classes, remainders tied
        n = int(rng.integers(classes * 4, 3_000))
        y = rng.choice(classes, size=n, p=skew)
        y[: classes * 2] = np.repeat(np.arange(classes), 2)  # two rows a class at least, as prepare checks
        test_size = float(rng.choice([0.1, 0.2, 0.25, 0.5, rng.uniform(0.05, 0.6)]))
        if min(np.ceil(test_size * n), n - np.ceil(test_size * n)) < classes:
            continue  # prepare refuses a side with fewer rows than classes
        _same(y, test_size, int(rng.integers(0, 2**31 - 1)))


def test_ties_between_classes_are_drawn_as_scikit_learn_draws_them() -> None:
    for seed in range(20):
        _same(np.repeat(np.arange(7), 3), 0.34, seed)  # every class's remainder equal
        _same(np.array([0, 0, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5]), 0.5, seed)


def test_what_scikit_learn_refuses_is_refused() -> None:
    for y, test_size in (
        (np.array([0, 0, 1, 1, 2]), 0.4),  # a class of one row
        (np.array([0, 0, 0, 1, 1, 1]), 0.1),  # one validation row for two classes
        (np.array([0, 0, 1, 1]), 1.5),
    ):
        with pytest.raises(ValueError):
            single_label_split(y, test_size, 0)
        with pytest.raises(ValueError):
            _sklearn(y, test_size, 0)
    with pytest.raises(ValueError):  # several classes a row: a multi-label prepare's, split otherwise
        single_label_split(np.array([[0, 1], [0, 1], [1, 0], [1, 0]]), 0.5, 0)


@pytest.mark.parametrize("name", SINGLE_LABEL)
def test_every_shared_corpus_splits_as_scikit_learn_does(name: str) -> None:
    labels = pd.read_csv(shared_dataset(name) / "train.csv", usecols=["label"], dtype=str)["label"].to_numpy()
    _, y = np.unique(labels, return_inverse=True)
    _same(y, 0.1, 42)


def test_prepare_imports_neither_scikit_learn_nor_tensorflow(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "d.csv", make_rows())
    code = (
        "import sys; from typer.testing import CliRunner; from lstmcli.cli import app; "
        f"r = CliRunner().invoke(app, ['prepare', {str(data)!r}, '-r', {str(tmp_path / 'run')!r}]); "
        "assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in ('sklearn', 'scipy.stats', 'tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
