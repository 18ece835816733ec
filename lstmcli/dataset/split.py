"""The stratified train/validation split, the same rows as scikit-learn's, without importing scikit-learn.

``prepare`` splits as the tutorial does, ``train_test_split(x, test_size=val_size, random_state=seed,
stratify=y)``. Importing scikit-learn for it took 0.55-0.75 s of every prepare (it imports SciPy's statistics,
which parse hundreds of docstrings), on the path that decides how long ``train`` waits before its first epoch.
:func:`stratified_split` is that function's arithmetic and random draws, step for step, on the same
``numpy.random.RandomState``: ``tests/test_split.py`` holds it to scikit-learn's on random labels, sizes and seeds and
on every shared corpus's labels.
"""

from __future__ import annotations

import math

import numpy as np


def stratified_split(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The row indices of the training and validation sides, as ``sklearn.model_selection.train_test_split(
    np.arange(len(y)), test_size=test_size, random_state=seed, stratify=y)`` returns them.

    The caller has checked what scikit-learn would refuse: every class has two rows or more, and each side gets
    at least one row a class.
    """
    n_samples = len(y)
    n_test = math.ceil(test_size * n_samples)
    n_train = n_samples - n_test
    _, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for i, count in enumerate(class_counts):
        rows = class_indices[i].take(rng.permutation(count), mode="clip")
        train.extend(rows[: n_i[i]])
        test.extend(rows[n_i[i] : n_i[i] + t_i[i]])
    return np.asarray(rng.permutation(train)), np.asarray(rng.permutation(test))


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many rows of each class a side of ``n_draws`` rows takes: each class's share rounded down, the rows left
    given to the largest remainders, ties drawn at random (scikit-learn's ``utils.extmath._approximate_mode``)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            add_now = min(len(tied), need_to_add)
            floored[rng.choice(tied, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)
