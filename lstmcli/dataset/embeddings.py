"""Pretrained word vectors in a run: the vocabulary extended with the vectors' own words, and the start matrix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstmcli.config import Config
from lstmcli.rundir import RunDir
from lstmcli.text.vectors import coverage, embedding_matrix, normaliser, read_vectors
from lstmcli.text.vocab import Vocabulary


@dataclass(frozen=True)
class Pretrained:
    """What ``--embeddings`` gave the run: the extended vocabulary, its start vectors, and the coverage."""

    vocab: Vocabulary  # the training vocabulary, then the vectors' words the training texts never contain
    vectors: np.ndarray  # float32 (len(vocab), dim): row i starts the embedding of token id i
    report: dict[str, object]  # for prepare.json and the prepare report

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def with_vectors(vocab: Vocabulary, counts: Mapping[str, int], config: Config) -> Pretrained | None:
    """Reads ``config.embeddings`` and extends ``vocab`` with up to ``embeddings_limit`` words of the vectors.

    Args:
        vocab: the vocabulary built from the training texts.
        counts: how often each token occurs in the training texts (for the coverage of training tokens).
        config: the run's settings; ``embedding_dim`` 0 takes the vectors' dimension, another must equal it.

    Returns:
        None without ``--embeddings``.

    Raises:
        DataError: the vectors file is missing or malformed, or its dimension contradicts ``--embedding-dim``;
            the message names the file and the line.
    """
    if not config.embeddings:
        return None
    vectors = read_vectors(
        Path(config.embeddings),
        dim=config.embedding_dim or None,
        wanted=set(vocab.tokens),
        limit=config.embeddings_limit,
        normalise=normaliser(config.unicode_form, config.lowercase),
    )
    known = set(vocab.tokens)
    extended = Vocabulary((*vocab.tokens, *(tok for tok in vectors.tokens if tok not in known)))
    found = coverage(vocab.tokens, counts, vectors)
    report: dict[str, object] = {
        "file": config.embeddings,
        "format": vectors.format,
        "dim": vectors.dim,
        "vectors_read": vectors.rows,
        "vocab_share": round(found.type_share, 4),
        "token_share": round(found.token_share, 4),
        "added_words": len(extended) - len(vocab),
    }
    return Pretrained(extended, embedding_matrix(extended.tokens, vectors, config.seed), report)


def attach_vectors(
    run: RunDir, vocab: Vocabulary, counts: Mapping[str, int], config: Config
) -> tuple[Vocabulary, Config, dict[str, object] | None]:
    """The run's vocabulary and its config with ``embedding_dim`` resolved; the start vectors saved in the run.

    Returns:
        The vocabulary (extended by ``--embeddings``), the config, and the coverage report (None without vectors).
    """
    pretrained = with_vectors(vocab, counts, config)
    if pretrained is None:
        return vocab, config.replace(embedding_dim=config.embedding_size), None
    run.write_embeddings(pretrained.vectors)
    return pretrained.vocab, config.replace(embedding_dim=pretrained.dim), pretrained.report
