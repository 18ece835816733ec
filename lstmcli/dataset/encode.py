"""Texts split into training and validation rows, into ids: the steps every in-memory prepare shares."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np

from lstmcli.config import Config
from lstmcli.dataset.embeddings import attach_vectors
from lstmcli.dataset.report import Built, EncodedTally, Progress, resolve_max_len, resolve_tokenizer
from lstmcli.rundir import RunDir
from lstmcli.text.encoder import Encoder
from lstmcli.text.tokens import tokenize
from lstmcli.text.vocab import Vocabulary


def encode_split(
    texts: list[str],
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    run: RunDir,
    config: Config,
    progress: Progress | None = None,
) -> tuple[Config, np.ndarray, Vocabulary, Built]:
    """Tokenizes ``texts``, builds the vocabulary on the training rows ``train_idx`` (with the start vectors'
    words, which ``--unlabeled`` learns from the training rows' tokens too) and pads every text.

    Returns:
        The config with the tokenizer, ``max_len`` and vectors resolved, the padded ids ``(n, max_len)``, the
        vocabulary, and what was chosen and measured for the report.
    """
    tokenizer, reason = resolve_tokenizer(config, texts)
    config = config.replace(tokenizer=tokenizer)
    tokens = [tokenize(t, config) for t in texts]
    counts = Counter(itertools.chain.from_iterable([tokens[i] for i in train_idx.tolist()]))
    vocab = Vocabulary.from_counts(counts.items(), config.vocab_size, config.min_count)
    train_tokens = (tokens[i] for i in train_idx)
    vocab, config, vectors = attach_vectors(run, vocab, counts, config, train_tokens, progress)
    ids, lengths = Encoder(config, vocab).flat_ids(tokens)
    config, auto = resolve_max_len(config, lengths[train_idx])
    x = Encoder(config, vocab).pad_flat(ids, lengths)
    val = np.zeros(len(texts), dtype=bool)
    val[val_idx] = True
    measured = EncodedTally()
    measured.add(ids, lengths, val, config.max_len)
    return config, x, vocab, Built((tokenizer, reason), lengths[train_idx], measured, len(vocab), auto, vectors)
