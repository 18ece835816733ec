"""Word vectors learned from texts without labels (``--unlabeled``): skip-gram word2vec in the run's own tokens.

The unlabeled files (plain text one per line, CSV/TSV/JSON Lines tables whose text column is picked as predict
picks it, or directories of them) stream through the run's tokenizer into one temporary file of space-joined
tokens, together with the training texts; gensim's ``Word2Vec`` then trains on that file with every core, so
memory stays bounded by the vectors, not by the number of lines. Learned in the run's tokens (its cleaning,
its tokenizer, jieba or characters for Chinese), the vectors cover its vocabulary by construction, where a
packaged model's tokens may not; and they carry what the unlabeled texts say of each word's company, which
a few thousand labelled texts cannot (fastText gains 1 to 4 points from skip-gram vectors learned this way).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.dataset.report import Progress
from lstmcli.errors import ConfigError, DataError
from lstmcli.io.inputs import InputCounter, InputSpec, read_rows
from lstmcli.text.tokens import tokenize
from lstmcli.text.vectors import Vectors

# Passes over the texts: enough that a small corpus sees about TARGET_TOKENS token visits, within these bounds.
TARGET_TOKENS, MIN_EPOCHS, MAX_EPOCHS = 5_000_000, 5, 40
WINDOW, NEGATIVE, MIN_COUNT = 5, 5, 2
MAX_WORDS = 500_000  # most distinct words the learned vectors keep (the rarest dropped)
MAX_SCANNED = 10_000_000  # most distinct words counted while scanning (gensim prunes the rarest): bounds memory


@dataclass(frozen=True)
class Learned:
    """Vectors learned from unlabeled texts, and what was read and done, for the prepare report."""

    vectors: Vectors
    report: dict[str, Any]


def learn_vectors(
    paths: Sequence[str],
    config: Config,
    train_tokens: Iterable[list[str]],
    dim: int,
    progress: Progress | None = None,
    workdir: Path | None = None,
) -> Learned:
    """Trains skip-gram word vectors on the unlabeled files and the training texts.

    Args:
        paths: the ``--unlabeled`` files and directories.
        config: the run's settings (its tokenizer resolved): how texts become tokens, and the seed.
        train_tokens: the training texts' tokens, learned from beside the unlabeled ones.
        dim: numbers per vector.
        progress: told ``("pretraining", epoch, fraction done)`` after each pass.
        workdir: where the texts' tokens are written (the run directory being prepared); None: the system's.

    Raises:
        DataError: a file is missing or unreadable, or the texts hold too few words to learn from.
        ConfigError: gensim is not installed.

    The texts' tokens are written to a temporary file in ``workdir`` (streamed, line by line), and the vectors
    learn from that file: memory is bounded by the vectors and the word counts, whatever the number of lines.
    """
    try:
        import gensim  # noqa: F401
    except ImportError:
        raise ConfigError("--unlabeled needs gensim: pip install gensim") from None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".unlabeled-", dir=workdir) as tmp:
        corpus = Path(tmp) / "tokens.txt"
        counts = _write_corpus(corpus, paths, config, train_tokens)
        if counts["tokens"] < 2 * WINDOW:
            raise DataError(
                f"the --unlabeled and training texts hold {counts['tokens']} words; too few to learn word vectors from"
            )
        epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_TOKENS / counts["tokens"])))
        try:
            model = _skipgram(corpus, dim, epochs, config.seed, progress)
        except RuntimeError:  # gensim: "you must first build vocabulary"
            model = None
    if model is None or not model.wv.index_to_key:
        raise DataError(f"no word occurs {MIN_COUNT} times in the --unlabeled texts; nothing to learn vectors for")
    words = tuple(model.wv.index_to_key)
    vectors = Vectors(words, np.asarray(model.wv.vectors, dtype=np.float32), dim, len(words), 0, "word2vec skip-gram")
    report = {
        "paths": list(paths),
        **counts,
        "words": len(words),
        "dim": dim,
        "epochs": epochs,
        "method": "word2vec skip-gram",
        "seconds": round(time.perf_counter() - started, 1),
    }
    return Learned(vectors, report)


def _skipgram(corpus: Path, dim: int, epochs: int, seed: int, progress: Progress | None) -> Any:
    """gensim's skip-gram word2vec trained on ``corpus`` (a token file) with every core."""
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    class _Epochs(CallbackAny2Vec):  # type: ignore[misc]
        def __init__(self) -> None:
            self.done = 0

        def on_epoch_end(self, model: Any) -> None:
            self.done += 1
            if progress is not None:
                progress("pretraining", self.done, self.done / epochs)

    return Word2Vec(
        corpus_file=str(corpus),
        vector_size=dim,
        window=WINDOW,
        min_count=MIN_COUNT,
        max_final_vocab=MAX_WORDS,
        max_vocab_size=MAX_SCANNED,
        sg=1,
        negative=NEGATIVE,
        epochs=epochs,
        workers=os.cpu_count() or 1,
        seed=seed,
        callbacks=[_Epochs()],
    )


def _write_corpus(
    corpus: Path, paths: Sequence[str], config: Config, train_tokens: Iterable[list[str]]
) -> dict[str, int]:
    """Writes each text's tokens, space-joined, one text a line; returns counts of texts and tokens read."""
    spec = InputSpec(trained_column=config.text_column, encoding="auto")
    counter = InputCounter()
    texts = tokens = train_texts = 0
    with corpus.open("w", encoding="utf-8") as out:
        for row in read_rows([Path(p) for p in paths], spec, counter):
            words = tokenize(row.text, config)
            if words:
                out.write(" ".join(words) + "\n")
                texts, tokens = texts + 1, tokens + len(words)
        unlabeled_tokens = tokens
        for words in train_tokens:
            if words:
                out.write(" ".join(words) + "\n")
                train_texts, tokens = train_texts + 1, tokens + len(words)
    return {"texts": texts, "unlabeled_tokens": unlabeled_tokens, "training_texts": train_texts, "tokens": tokens}
