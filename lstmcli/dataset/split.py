"""The stratified train/validation split, the same rows as scikit-learn's, without importing scikit-learn.

``prepare`` splits as the tutorial does, ``train_test_split(x, test_size=val_size, random_state=seed,
stratify=y)``. Importing scikit-learn for it took 0.55-0.75 s of every prepare (it imports SciPy's statistics,
which parse hundreds of docstrings), on the path that decides how long ``train`` waits before its first epoch.
:func:`single_label_split` is that function's arithmetic and random draws, step for step, on the same
``numpy.random.RandomState``: ``tests/test_split.py`` holds it to the installed scikit-learn's on random labels,
sizes and seeds and on every shared corpus's labels. (A multi-label prepare splits otherwise: iterative stratification,
:mod:`lstmcli.dataset.multilabel`, which still imports scikit-learn.)
"""

from __future__ import annotations

import math

import numpy as np


def single_label_split(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the training and the validation side, as ``sklearn.model_selection.train_test_split(
    np.arange(len(y)), test_size=test_size, random_state=seed, stratify=y)`` returns them.

    Args:
        y: ``(n,)`` each row's class, any sortable dtype (prepare passes label ids).
        test_size: the validation side's share, between 0 and 1: ``ceil(test_size * n)`` rows.
        seed: seeds a ``numpy.random.RandomState``, as an int ``random_state`` does scikit-learn's.

    Returns:
        ``(n_train,)`` and ``(n_test,)`` int64 row numbers, each side in its shuffled order.

    Raises:
        ValueError: ``y`` not one class a row (a multi-label prepare splits otherwise), or what scikit-learn refuses
            too: ``test_size`` not a share, a class of one row, a side with fewer rows than there are classes
            (prepare says so first, in its words).
    """
    n_samples = len(y)
    n_test = math.ceil(test_size * n_samples)
    n_train = n_samples - n_test
    _, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    if np.ndim(y) != 1 or not 0.0 < test_size < 1.0 or class_counts.min(initial=2) < 2:
        raise ValueError("y must be one class a row, two rows a class or more, and test_size a share in (0, 1)")
    if min(n_train, n_test) < len(class_counts):
        raise ValueError(f"{n_train} training and {n_test} test rows cannot each hold {len(class_counts)} classes")
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
