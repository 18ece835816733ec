"""Training's input pipelines: ``tf.data`` batches from the prepared arrays or from a streamed prepare's shards.

Both batch rows as :mod:`lstmcli.text.batching` says: by length buckets or at random, each batch cut to its
longest text; the in-memory arrays' batches are planned in NumPy, the shards' in ``tf.data``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.nn.backend import tf
from lstmcli.rundir import RunDir
from lstmcli.text.batching import bucket_boundaries, count_batches, cut, epoch_batches, lengths_of

SHUFFLE_BYTES = 64 << 20  # training's shuffle buffer over shard rows
BLOCK_ROWS = 1024  # rows a shard reader hands to tf.data at a time
PREFETCH = 2  # batches made ready ahead of the training step


def _prefetched(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` with :data:`PREFETCH` batches made ready ahead, and tf.data's autotuning off.

    With autotuning on (tf.data's default) every iterator runs a model thread that wakes on a timer, and
    dropping the iterator waits for that thread's next wake-up: ``fit`` drops one at every epoch's start, and
    about one epoch in three stood idle, every thread asleep, for 0.5-1.2 s of a 1.3 s epoch
    (bench/RESULTS.md, "An epoch in three stood idle: tf.data's autotuning"). Little is left to tune: the
    in-memory batches are planned in NumPy, and the shards' ``map`` runs one call per core untuned.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options).prefetch(PREFETCH)


def make_dataset(
    x: np.ndarray, y: np.ndarray, config: Config, shuffle: bool, first_epoch: int = 0
) -> tuple[tf.data.Dataset, int]:
    """A ``tf.data`` pipeline of ``(ids, labels)`` batches of in-memory arrays, each cut to its own longest text.

    Each epoch's batches are planned in NumPy (:func:`lstmcli.text.batching.epoch_batches`: length buckets
    with ``config.group_lengths``, reshuffled every epoch with ``shuffle``) and cut from the arrays a batch
    at a time: no per-row work in ``tf.data``, whose per-row bucketing cost more than the n-gram stage's
    arithmetic.

    Args:
        x: padded ids ``(n, max_len)``.
        y: label indices ``(n,)``, or a multi-label run's 0/1 matrix ``(n, labels)``.
        first_epoch: the epoch the first pass over the dataset is (each pass is the next): epoch ``e``'s order
            comes from the seed and ``e`` alone, so that a resumed training shuffles as an uninterrupted one.

    Returns:
        The dataset and its number of batches per epoch.
    """
    lengths = np.minimum(lengths_of(x), x.shape[1])
    boundaries = bucket_boundaries(lengths, x.shape[1]) if config.length_grouped else []
    steps = count_batches(lengths, boundaries, config.batch_size)
    labels = np.asarray(y, dtype=np.int32 if y.ndim == 1 else np.float32)  # multi-label: 0/1 per label
    epochs = itertools.count(first_epoch)  # tf.data calls batches() once a pass

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng([config.seed, next(epochs)]) if shuffle else None
        for rows, width in epoch_batches(lengths, boundaries, config.batch_size, rng):
            ids = np.asarray(x[rows], dtype=np.int32)
            yield (cut(ids, width, config.padding) if config.bucketing else ids), labels[rows]

    signature = (tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, *y.shape[1:]), labels.dtype))
    ds = tf.data.Dataset.from_generator(batches, output_signature=signature)
    return _prefetched(ds.apply(tf.data.experimental.assert_cardinality(steps))), steps


def batch_by_length(
    ds: tf.data.Dataset, lengths: np.ndarray, max_len: int, config: Config
) -> tuple[tf.data.Dataset, int]:
    """Batches ``(ids, label, tokens)`` rows into ``(ids, labels)``, each cut to its longest text with
    ``config.bucketing``, from texts of similar length with ``config.group_lengths`` too.

    Shared by the in-memory arrays (:func:`make_dataset`) and the shards of a streamed prepare
    (:func:`shard_dataset`).

    Args:
        ds: rows of padded ids ``(max_len,)``, a label index and the row's token count.
        lengths: every row's token count ``(n,)``: it places the bucket boundaries and counts the batches.

    Returns:
        The dataset and its number of batches per epoch.
    """

    def cut_batch(ids: tf.Tensor, labels: tf.Tensor, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return (cut(ids, tf.reduce_max(n), config.padding) if config.bucketing else ids), labels

    boundaries = bucket_boundaries(lengths, max_len) if config.length_grouped else []
    if config.length_grouped:
        ds = ds.bucket_by_sequence_length(
            lambda _x, _y, n: n, boundaries, [config.batch_size] * (len(boundaries) + 1), no_padding=True
        )
    else:
        ds = ds.batch(config.batch_size)
    steps = count_batches(lengths, boundaries, config.batch_size)
    ds = ds.map(cut_batch, num_parallel_calls=tf.data.AUTOTUNE).apply(tf.data.experimental.assert_cardinality(steps))
    return _prefetched(ds), steps


def shard_dataset(run: RunDir, part: str, config: Config, shuffle: bool) -> tuple[tf.data.Dataset, int]:
    """A ``tf.data`` pipeline of ``(ids, labels)`` batches read from the shards, never all in memory.

    Shard files are memory-mapped and interleaved (their order reshuffled each epoch with ``shuffle``), rows
    pass a bounded shuffle buffer, then the length batching of :func:`batch_by_length`.

    Returns:
        The dataset and its number of batches per epoch.
    """
    index = run.read_shard_index()
    width, entry = index["max_len"], index["parts"][part]
    shards = [(str(x), str(y)) for x, y in run.shard_paths(part)]
    signature = (
        tf.TensorSpec((None, width), tf.int32),
        tf.TensorSpec((None,), tf.int32),
        tf.TensorSpec((None,), tf.int32),
    )
    order = tf.data.Dataset.range(len(shards))
    if shuffle:
        order = order.shuffle(len(shards), seed=config.seed, reshuffle_each_iteration=True)
    ds = order.interleave(
        lambda n: tf.data.Dataset.from_generator(partial(_shard_blocks, shards), args=(n,), output_signature=signature),
        cycle_length=min(4, max(1, len(shards))),
        block_length=1,
    ).unbatch()
    if shuffle:
        ds = ds.shuffle(max(1024, SHUFFLE_BYTES // (4 * width)), seed=config.seed, reshuffle_each_iteration=True)
    counts = np.asarray(entry["length_counts"], dtype=np.int64)
    # bucketing wants the rows' lengths: rebuilt from the counts, 2 bytes a row, never the rows themselves
    lengths = np.repeat(np.arange(len(counts), dtype=np.uint16 if width < 1 << 16 else np.int32), counts)
    return batch_by_length(ds, lengths, width, config)


def _shard_blocks(shards: list[tuple[str, str]], number: Any) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Shard ``number``'s rows, :data:`BLOCK_ROWS` at a time: ids, labels and token counts."""
    x_path, y_path = shards[int(number)]
    x, y = np.load(x_path, mmap_mode="r", allow_pickle=False), np.load(y_path, mmap_mode="r", allow_pickle=False)
    for start in range(0, len(y), BLOCK_ROWS):
        ids = np.asarray(x[start : start + BLOCK_ROWS], dtype=np.int32)
        labels = np.asarray(y[start : start + BLOCK_ROWS], dtype=np.int32)
        yield ids, labels, lengths_of(ids)
