"""Length batching, written once: rows of similar length batched together, each batch cut to its longest row.

Pure NumPy. Prediction and explain group rows with :func:`length_batches`; training takes each epoch's batches
of in-memory arrays from :func:`epoch_batches`, and the shards' ``tf.data`` pipeline (:mod:`lstmcli.nn.data`)
its bucket boundaries, its batch count and its :func:`cut` from here.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

N_BUCKETS = 8  # training's length buckets, about equally full

A = TypeVar("A")


def lengths_of(ids: np.ndarray) -> np.ndarray:
    """Tokens per row of padded ids ``(n, steps)``: every non-padding id counts. int32 ``(n,)``."""
    return np.count_nonzero(ids, axis=1).astype(np.int32)


def extents(ids: np.ndarray, padding: str) -> np.ndarray:
    """The columns of each row of padded ids ``(n, steps)`` that a :func:`cut` must keep ``(n,)``.

    From the first token to the end for pre-padding, from the start to the last token for post-padding: what
    rows with padding between their tokens need, whose token count no longer tells where they start.
    """
    filled = ids != 0
    first = filled.argmax(axis=1) if padding == "pre" else filled[:, ::-1].argmax(axis=1)
    return np.where(filled.any(axis=1), ids.shape[1] - first, 0)


def cut(ids: A, width: Any, padding: str) -> A:
    """The last ``width`` columns of pre-padded rows, the first ``width`` of post-padded ones.

    Works on NumPy arrays and TensorFlow tensors alike; ``width`` must be at least 1.
    """
    return ids[:, -width:] if padding == "pre" else ids[:, :width]  # type: ignore[index]


def to_front(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's tokens moved to its front, in order, and cut to the longest row: what a masked network reads,
    right-padded (wherever the padding stood, also between tokens).

    Returns:
        ids ``(n, max(1, longest))`` of ``ids``'s dtype, and int32 token counts ``(n,)``.
    """
    filled = ids != 0
    lengths = filled.sum(axis=1).astype(np.int32)
    width = max(int(lengths.max(initial=0)), 1)
    if (filled == (np.arange(ids.shape[1]) < lengths[:, None])).all():  # post-padded already: no sort
        return ids[:, :width], lengths
    order = np.argsort(~filled, axis=1, kind="stable")[:, :width]
    return np.take_along_axis(ids, order, axis=1), lengths


def length_batches(lengths: np.ndarray, size: int, same_length: bool = False) -> list[tuple[np.ndarray, int]]:
    """Row indices in batches of up to ``size`` rows of similar length, each with the width to cut it to.

    Args:
        lengths: each row's length ``(n,)``; rows are sorted by it (stably) and taken ``size`` at a time.
        same_length: split each batch further so that all its rows have one length.

    Returns:
        ``(rows, width)`` pairs: the row indices and their longest length (at least 1).
    """
    order = np.argsort(lengths, kind="stable")
    groups = [order[start : start + size] for start in range(0, len(order), size)]
    if same_length:
        groups = [rows for group in groups for rows in np.split(group, np.flatnonzero(np.diff(lengths[group])) + 1)]
    return [(rows, max(int(lengths[rows].max()), 1)) for rows in groups]


def bucket_boundaries(lengths: np.ndarray, max_len: int, n_buckets: int = N_BUCKETS) -> list[int]:
    """Length quantiles that split the rows into about ``n_buckets`` equally full buckets."""
    qs = np.quantile(lengths, np.linspace(0, 1, n_buckets + 1)[1:-1])
    return sorted({int(q) + 1 for q in qs if 1 < int(q) + 1 <= max_len})


def count_batches(lengths: np.ndarray, boundaries: list[int], batch_size: int) -> int:
    """Batches that bucketing yields in one epoch: each bucket's rows in batches, its last one partial.

    With no boundaries, all rows form one bucket: ``ceil(n / batch_size)``.
    """
    sizes = np.bincount(np.searchsorted(boundaries, lengths, side="right"), minlength=len(boundaries) + 1)
    return int(sum(-(-n // batch_size) for n in sizes))


def epoch_batches(
    lengths: np.ndarray, boundaries: list[int], batch_size: int, rng: np.random.Generator | None
) -> list[tuple[np.ndarray, int]]:
    """One epoch's batches of training rows, each with the width to cut it to: the length buckets of
    ``boundaries`` (none: one bucket) cut into batches, as :func:`count_batches` counts them.

    Args:
        lengths: each row's length ``(n,)``.
        boundaries: from :func:`bucket_boundaries`; a row of length ``l`` goes to the bucket of the boundaries
            at or below ``l``.
        rng: shuffles the rows within each bucket and the order of the batches; None keeps the rows' order
            (bucket by bucket), as validation wants.

    Returns:
        ``(rows, width)`` pairs: row indices and their longest length (at least 1).
    """
    order = np.arange(len(lengths)) if rng is None else rng.permutation(len(lengths))
    bucket = np.searchsorted(boundaries, lengths[order], side="right")
    order = order[np.argsort(bucket, kind="stable")]
    ends = np.cumsum(np.bincount(bucket, minlength=len(boundaries) + 1))
    starts = np.concatenate([[0], ends[:-1]])
    groups = [
        order[i : min(i + batch_size, end)] for start, end in zip(starts, ends) for i in range(start, end, batch_size)
    ]
    if rng is not None:
        groups = [groups[i] for i in rng.permutation(len(groups))]
    return [(rows, max(int(lengths[rows].max()), 1)) for rows in groups]
