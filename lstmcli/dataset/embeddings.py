"""Pretrained word vectors in a run: where they come from, the vocabulary extended with their words, the start matrix.

Two sources, either or both:

- ``--embeddings``: ``auto`` (the default: installed packaged vectors whose language fits the training texts,
  judged by how many training tokens they cover; none when no package fits), ``none``, the name of packaged
  vectors (:mod:`lstmcli.text.packaged`), or a vectors file;
- ``--unlabeled``: skip-gram vectors learned from texts without labels and the training texts
  (:mod:`lstmcli.dataset.unlabeled`).

With both, each word's start vector is the two side by side: what a large general corpus says of the word,
and what the user's own kind of text says of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.dataset.report import Progress
from lstmcli.errors import ConfigError, DataError
from lstmcli.rundir import RunDir
from lstmcli.text import packaged
from lstmcli.text.vectors import Vectors, coverage, embedding_matrix, normaliser, read_vectors, select_rows
from lstmcli.text.vocab import Vocabulary

# auto takes packaged vectors only where they cover at least this share of the training tokens: below it, the
# texts are in another language than the vectors' (GloVe covers 95-99% of the English shared corpora's tokens).
AUTO_MIN_TOKEN_SHARE = 0.5
LEARNED_DIM = 100  # numbers per learned vector, alone; beside packaged or file vectors, as many as theirs
_NO_VECTORS = ("", "none")
# The settings that make a text's tokens: --init-from's vectors are keyed by tokens, so both runs must share them.
TOKEN_SETTINGS = (
    "unicode_form", "lowercase", "strip_html", "urls", "numbers", "punctuation", "letters_only", "stopwords",
    "tokenizer",
)  # fmt: skip


@dataclass(frozen=True)
class Pretrained:
    """What the vectors gave the run: the extended vocabulary, its start vectors, and the coverage."""

    vocab: Vocabulary  # the training vocabulary, then the vectors' words the training texts never contain
    vectors: np.ndarray  # float32 (len(vocab), dim): row i starts the embedding of token id i
    found: np.ndarray  # bool (len(vocab),): whether row i is a source's vector (else random, or padding)
    report: dict[str, object]  # for prepare.json and the prepare report
    source: str  # what config.embeddings becomes: the vectors' name or file, or "none"

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def check_sources(config: Config) -> None:
    """Raises ConfigError (or DataError for a missing path) when the vectors' sources cannot be used together;
    called before any data is read."""
    missing = [path for path in config.unlabeled if not os.path.exists(path)]
    if missing:
        raise DataError(f"--unlabeled {missing[0]}: no such file or directory")
    if not config.init_from:
        return
    if config.embeddings not in ("auto", *_NO_VECTORS):
        raise ConfigError("--init-from takes the start vectors of another run; leave out --embeddings")
    if config.unlabeled:
        raise ConfigError(
            "--init-from reuses the vectors that run learned from its --unlabeled texts; leave out --unlabeled, or "
            "prepare a new run with all the unlabeled texts and start from it"
        )
    RunDir(Path(config.init_from)).check("prepared")


def with_vectors(
    vocab: Vocabulary,
    counts: Mapping[str, int],
    config: Config,
    train_tokens: Iterable[list[str]] = (),
    progress: Progress | None = None,
    workdir: Path | None = None,
) -> Pretrained | None:
    """Reads or learns the run's vectors and extends ``vocab`` with up to ``embeddings_limit`` words of each source.

    Args:
        vocab: the vocabulary built from the training texts.
        counts: how often each token occurs in the training texts (for the coverage of training tokens).
        config: the run's settings, its tokenizer resolved; ``embedding_dim`` 0 takes the vectors' dimension,
            another must equal it (with ``--unlabeled`` beside other vectors: both together).
        train_tokens: the training texts' tokens, which ``--unlabeled``'s vectors also learn from.
        progress: told of the passes over the unlabeled texts.
        workdir: where the unlabeled texts' tokens are written while vectors learn from them.

    Returns:
        None when there are no vectors (``--embeddings none``, or ``auto`` with nothing that fits, and no
        ``--unlabeled``).

    Raises:
        DataError: a vectors file or unlabeled text is missing or malformed; the message names the file and line.
        ConfigError: the vectors' dimension contradicts ``--embedding-dim``, or another run (``--init-from``)
            made its tokens otherwise.
    """
    found = _given_vectors(vocab, counts, config)
    sources = [] if found is None else [found]
    if config.unlabeled:
        from lstmcli.dataset.unlabeled import learn_vectors

        dim = _learned_dim(config, found[0] if found is not None else None)
        learned = learn_vectors(config.unlabeled, config, train_tokens, dim, progress, workdir)
        kept = _subset(learned.vectors, vocab, config)
        sources.append((kept, {**_coverage(vocab, counts, kept), **learned.report}))
    if not sources:
        return None
    return _combined(vocab, counts, config, sources, found[1]["source"] if found is not None else "none")


def _learned_dim(config: Config, given: Vectors | None) -> int:
    """Numbers per learned vector: ``--embedding-dim`` less the given vectors', else as many as theirs, else 100."""
    if given is None:
        return config.embedding_dim or LEARNED_DIM
    if not config.embedding_dim:
        return given.dim
    if config.embedding_dim <= given.dim:
        raise ConfigError(
            f"with --unlabeled beside {given.dim}-number vectors, --embedding-dim must be more than {given.dim} (the "
            f"rest is learned); received {config.embedding_dim}; leave out --embedding-dim"
        )
    return config.embedding_dim - given.dim


def _given_vectors(
    vocab: Vocabulary, counts: Mapping[str, int], config: Config
) -> tuple[Vectors, dict[str, Any]] | None:
    """``--embeddings``'s (or ``--init-from``'s) vectors and their report, or None (``none``, or ``auto`` with
    nothing that fits)."""
    value = config.embeddings
    if config.init_from:
        return _from_run(Path(config.init_from), vocab, counts, config)
    if value in _NO_VECTORS:
        return None
    if value == "auto":
        return _auto(vocab, counts, config)
    if value in packaged.PACKAGES and not os.path.exists(value):
        vectors = _packaged(value, vocab, config)
        _check_dim(vectors, config, value)
    elif not os.path.exists(value) and os.sep not in value and "." not in value:
        raise DataError(
            f"--embeddings '{value}' is neither a file nor the name of packaged vectors; names are: "
            f"{', '.join(packaged.PACKAGES)} (or pass a vectors file, auto or none)"
        )
    else:
        vectors = read_vectors(
            Path(value), dim=_file_dim(config), wanted=set(vocab.tokens), limit=config.embeddings_limit,
            normalise=normaliser(config.unicode_form, config.lowercase),
        )  # fmt: skip
    return vectors, {"file": value, "source": value, **_coverage(vocab, counts, vectors)}


def _file_dim(config: Config) -> int | None:
    """The dimension a vectors file must have: ``--embedding-dim``'s, unless ``--unlabeled`` learns a part of it."""
    return None if config.unlabeled else (config.embedding_dim or None)


def _check_dim(vectors: Vectors, config: Config, what: str) -> None:
    if config.embedding_dim and not config.unlabeled and vectors.dim != config.embedding_dim:
        raise ConfigError(
            f"{what} has {vectors.dim} numbers per word but --embedding-dim is {config.embedding_dim}; leave out "
            f"--embedding-dim (or pass --embedding-dim {vectors.dim})"
        )


def _from_run(
    path: Path, vocab: Vocabulary, counts: Mapping[str, int], config: Config
) -> tuple[Vectors, dict[str, Any]]:
    """The start vectors of the run in ``path``, keyed by its vocabulary (``--init-from``): only the rows that
    came from its sources, not those it drew at random for words they lack."""
    run = RunDir(path)
    matrix, theirs = run.read_embeddings(), run.read_config()
    if matrix is None:
        raise DataError(
            f"--init-from {path}: that run has no start vectors (it was prepared with --embeddings none and no "
            "--unlabeled); prepare it with --unlabeled TEXTS, or leave out --init-from"
        )
    differ = [name for name in TOKEN_SETTINGS if getattr(theirs, name) != getattr(config, name)]
    if differ:
        flags = ", ".join(f"--{name.replace('_', '-')} {getattr(theirs, name)}" for name in differ)
        raise ConfigError(f"--init-from {path}: that run made its tokens otherwise; pass {flags} as it did")
    tokens = run.read_vocab().tokens
    mask = run.read_embeddings_found()
    rows = [i for i in range(2, len(tokens)) if mask is None or mask[i]]  # not padding, unknown or random rows
    theirs_vectors = Vectors(
        tuple(tokens[i] for i in rows), matrix[rows], int(matrix.shape[1]), len(rows), 0, "start vectors of a run"
    )
    vectors = _subset(theirs_vectors, vocab, config)
    _check_dim(vectors, config, f"--init-from {path}")
    return vectors, {
        "file": f"run {path}",
        "source": "none",
        "init_from": str(path),
        **_coverage(vocab, counts, vectors),
    }


def _subset(vectors: Vectors, vocab: Vocabulary, config: Config) -> Vectors:
    """The vectors of ``vocab``'s tokens and of up to ``embeddings_limit`` others, in ``vectors``' order."""
    chosen = select_rows(vectors.tokens, set(vocab.tokens), config.embeddings_limit, str)
    return Vectors(chosen.tokens, vectors.matrix[chosen.rows], vectors.dim, vectors.rows, 0, vectors.format)


def _auto(vocab: Vocabulary, counts: Mapping[str, int], config: Config) -> tuple[Vectors, dict[str, Any]] | None:
    """The first installed packaged vectors that cover at least :data:`AUTO_MIN_TOKEN_SHARE` of training tokens."""
    if config.embedding_dim or config.tokenizer in ("char", "jieba"):
        return None  # a size the user chose, or texts written without spaces: no packaged vectors fit
    for name in packaged.PACKAGES:
        if not packaged.installed(name):
            continue
        vectors = _packaged(name, vocab, config)
        report = _coverage(vocab, counts, vectors)
        if float(report["token_share"]) >= AUTO_MIN_TOKEN_SHARE:
            return vectors, {"file": name, "source": name, "chosen": "auto", **report}
    return None


def _packaged(name: str, vocab: Vocabulary, config: Config) -> Vectors:
    return packaged.read_packaged(
        name, wanted=set(vocab.tokens), limit=config.embeddings_limit,
        normalise=normaliser(config.unicode_form, config.lowercase),
    )  # fmt: skip


def _coverage(vocab: Vocabulary, counts: Mapping[str, int], vectors: Vectors) -> dict[str, Any]:
    found = coverage(vocab.tokens, counts, vectors)
    return {
        "format": vectors.format,
        "dim": vectors.dim,
        "vectors_read": vectors.rows,
        "vocab_share": round(found.type_share, 4),
        "token_share": round(found.token_share, 4),
    }


def _combined(
    vocab: Vocabulary,
    counts: Mapping[str, int],
    config: Config,
    sources: list[tuple[Vectors, dict[str, Any]]],
    source: str,
) -> Pretrained:
    """The vocabulary extended by every source's words, and the sources' start matrices side by side."""
    tokens = dict.fromkeys(vocab.tokens)
    for vectors, _ in sources:
        tokens.update(dict.fromkeys(vectors.tokens))
    extended = Vocabulary(tuple(tokens))
    matrix = np.hstack([embedding_matrix(extended.tokens, v, config.seed + i) for i, (v, _) in enumerate(sources)])
    union = {tok for vectors, _ in sources for tok in vectors.tokens}
    found = coverage(vocab.tokens, counts, union)
    report: dict[str, object] = {
        "file": " + ".join(str(r.get("file", "vectors learned from --unlabeled")) for _, r in sources),
        "format": " + ".join(str(r["format"]) for _, r in sources),
        "dim": int(matrix.shape[1]),
        "vectors_read": sources[0][1]["vectors_read"],
        "vocab_share": round(found.type_share, 4),
        "token_share": round(found.token_share, 4),
        "added_words": len(extended) - len(vocab),
        "sources": [r for _, r in sources],
    }
    mask = np.array([tok in union for tok in extended.tokens], dtype=bool)
    return Pretrained(extended, half_precision(matrix), mask, report, source)


def half_precision(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` as float32, each number rounded to float16's precision (11 significant bits) where float16 holds
    it, kept as it is where it is too large.

    Start vectors are held so. The rounding moves a number by at most 1/2048 of itself (1.2e-4 at GloVe's typical
    0.4; below 6e-5, float16's subnormals, by at most 3e-8), a tenth of what one Adam step moves it by at the rates
    training uses (1e-3 and more); and the rows training never moves (a pretrained vocabulary's words no training
    text holds, 50,000 of ag_news's 65,657) then stay float16's numbers, which the published weights keep in half
    the bytes, exactly (``rundir._halved``).
    """
    with np.errstate(over="ignore"):
        half = np.asarray(matrix, dtype=np.float32).astype(np.float16).astype(np.float32)
    return np.where(np.isfinite(half), half, matrix).astype(np.float32)  # type: ignore[no-any-return]


def attach_vectors(
    run: RunDir,
    vocab: Vocabulary,
    counts: Mapping[str, int],
    config: Config,
    train_tokens: Iterable[list[str]] = (),
    progress: Progress | None = None,
) -> tuple[Vocabulary, Config, dict[str, object] | None]:
    """The run's vocabulary and its config with ``embeddings`` and ``embedding_dim`` resolved; the start vectors
    saved in the run.

    Returns:
        The vocabulary (extended by the vectors' words), the config, and the coverage report (None without vectors).
    """
    pretrained = with_vectors(vocab, counts, config, train_tokens, progress, run.path)
    if pretrained is None:
        embeddings = "none" if config.embeddings not in _NO_VECTORS else config.embeddings
        return vocab, config.replace(embeddings=embeddings, embedding_dim=config.embedding_size), None
    run.write_embeddings(pretrained.vectors, pretrained.found)
    config = config.replace(embeddings=pretrained.source, embedding_dim=pretrained.dim)
    return pretrained.vocab, config, pretrained.report
