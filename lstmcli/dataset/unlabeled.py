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

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import PREPROCESSING, Config
from lstmcli.dataset.report import Progress
from lstmcli.errors import ConfigError, DataError
from lstmcli.io.inputs import InputCounter, InputSpec, read_rows
from lstmcli.text.packaged import cache_root
from lstmcli.text.tokens import tokenize
from lstmcli.text.vectors import Vectors

log = logging.getLogger(__name__)

# Passes over the texts: enough that a small corpus sees about TARGET_TOKENS token visits, within these bounds.
TARGET_TOKENS, MIN_EPOCHS, MAX_EPOCHS = 5_000_000, 5, 40
WINDOW, NEGATIVE, MIN_COUNT = 5, 5, 2
MAX_WORDS = 500_000  # most distinct words the learned vectors keep (the rarest dropped)
MAX_SCANNED = 10_000_000  # most distinct words counted while scanning (gensim prunes the rarest): bounds memory
SAVE_EVERY = 5.0  # seconds: an epoch that ends this long after the last save is saved (what a kill can lose)
KEPT_DAYS = 7  # the kept passes of a pretraining no command continued are removed after this many days


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
        workdir: where the texts' tokens are written when the passes cannot be kept (the cache unwritable, or
            another process learning from the same texts); None: the system's temporary folder.

    Raises:
        DataError: a file is missing or unreadable, or the texts hold too few words to learn from.
        ConfigError: gensim is not installed.

    The texts' tokens are written to a file (streamed, line by line), and the vectors learn from that file:
    memory is bounded by the vectors and the word counts, whatever the number of lines. The file and the model
    after each pass are kept in the user's cache (:class:`Passes`) until the vectors are learned, so a prepare
    interrupted by Ctrl-C, SIGTERM or a kill continues from the last pass saved when the same command runs again.
    """
    try:
        import gensim  # noqa: F401
    except ImportError:
        raise ConfigError("--unlabeled needs gensim: pip install gensim") from None
    started = time.perf_counter()
    train_tokens = list(train_tokens)
    with Passes.kept_for(paths, config, train_tokens, dim, workdir) as passes:
        counts = passes.counts() or passes.write_corpus(paths, config, train_tokens)
        if counts["tokens"] < 2 * WINDOW:
            raise DataError(
                f"the --unlabeled and training texts hold {counts['tokens']} words; too few to learn word vectors from"
            )
        epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_TOKENS / counts["tokens"])))
        try:
            model, resumed = _skipgram(passes, dim, epochs, config.seed, progress)
        except RuntimeError:  # gensim: "you must first build vocabulary"
            model, resumed = None, 0
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
        **({"resumed_from_epoch": resumed} if resumed else {}),
    }
    return Learned(vectors, report)


class Passes:
    """Where the skip-gram pretraining keeps its token file and, after its epochs, its model.

    Kept passes live in the user's cache, ``$XDG_CACHE_HOME/lstmcli/pretraining/KEY``, keyed by all they learn
    from (the unlabeled files' paths, sizes and modification times, the training texts' tokens, the prepare
    settings, the dimension): the same command run again after Ctrl-C, SIGTERM or a kill continues from the last
    epoch saved, and any change starts afresh. They are removed once the vectors are learned, and a pretraining
    no command continued is removed after :data:`KEPT_DAYS`. Where the cache cannot be written, or another process
    holds the same folder, a temporary folder serves one command and nothing is kept.
    """

    def __init__(self, folder: Path, kept: bool) -> None:
        self.folder, self.kept = folder, kept
        self.corpus = folder / "tokens.txt"
        self.saved = 0  # the epochs the saved model has done
        self._saved_at = time.monotonic()

    @classmethod
    @contextlib.contextmanager
    def kept_for(
        cls, paths: Sequence[str], config: Config, train_tokens: list[list[str]], dim: int, workdir: Path | None
    ) -> Iterator[Passes]:
        """The passes of this pretraining: kept in the cache where they can be, else in a temporary folder.

        Kept ones are removed when the block ends, unless Ctrl-C or SIGTERM (a KeyboardInterrupt) ended it.
        """
        with contextlib.ExitStack() as stack:
            key = _key(paths, config, train_tokens, dim)
            folder = _locked(cache_root() / "pretraining", key, stack) if key else None
            if folder is None:
                temporary = stack.enter_context(tempfile.TemporaryDirectory(prefix=".unlabeled-", dir=workdir))
                yield cls(Path(temporary), False)
                return
            try:
                yield cls(folder, True)
            except KeyboardInterrupt:
                raise
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            shutil.rmtree(folder, ignore_errors=True)

    def counts(self) -> dict[str, int] | None:
        """The counts of a token file written whole earlier, or None."""
        with contextlib.suppress(OSError, ValueError):
            if self.kept and self.corpus.is_file():
                return json.loads((self.folder / "corpus.json").read_text())  # type: ignore[no-any-return]
        return None

    def write_corpus(self, paths: Sequence[str], config: Config, train_tokens: list[list[str]]) -> dict[str, int]:
        """Writes the token file (under another name until it is whole) and its counts; returns them."""
        partial = self.folder / "tokens.txt.partial"
        counts = _write_corpus(partial, paths, config, train_tokens)
        os.replace(partial, self.corpus)
        _write_json(self.folder / "corpus.json", counts)
        return counts

    def load(self) -> tuple[Any, int] | None:
        """The model saved last and the epochs it had done, or None (nothing kept, or unreadable: start afresh)."""
        from gensim.models import Word2Vec

        try:
            state = json.loads((self.folder / "state.json").read_text()) if self.kept else None
            if not state:
                return None
            model = Word2Vec.load(str(self.folder / f"model-{state['epochs']}" / "word2vec.model"))
        except Exception:  # noqa: BLE001 - a damaged model is one more reason to start afresh, never to fail
            return None
        self.saved = int(state["epochs"])
        return model, self.saved

    def epoch_ended(self, model: Any, epochs: int) -> None:
        """Saves the model at an epoch's end, unless the last save was under :data:`SAVE_EVERY` seconds ago."""
        if not self.kept or time.monotonic() - self._saved_at < SAVE_EVERY:
            return
        folder = self.folder / f"model-{epochs}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        model.save(str(folder / "word2vec.model"), ignore=("callbacks",))
        _write_json(self.folder / "state.json", {"epochs": epochs})  # the switch: a kill before it keeps the last
        for old in self.folder.glob("model-*"):
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
        self.saved, self._saved_at = epochs, time.monotonic()

    def interrupted(self, epochs: int) -> None:
        if self.kept and self.saved:
            log.warning(
                "Pretraining interrupted; %d of its %d epochs are kept in %s: the same command continues from there",
                self.saved,
                epochs,
                self.folder,
            )


def _key(paths: Sequence[str], config: Config, train_tokens: list[list[str]], dim: int) -> str | None:
    """A digest of all a pretraining learns from, or None where a file cannot be read (its reading says why)."""
    files = []
    try:
        for path in map(Path, paths):
            members = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
            files += [[str(m.resolve()), m.stat().st_size, m.stat().st_mtime_ns] for m in members]
    except OSError:  # reading the files says what is wrong with them
        return None
    settings = {name: getattr(config, name) for name in sorted(PREPROCESSING)}
    digest = hashlib.sha256(json.dumps([files, settings, dim, config.seed], default=str).encode())
    for words in train_tokens:
        digest.update("\x1f".join(words).encode() + b"\n")
    return digest.hexdigest()[:24]


def _locked(root: Path, key: str, stack: contextlib.ExitStack) -> Path | None:
    """``root/key``, locked for this process until ``stack`` closes; None where another process holds it or it
    cannot be made. The folders of pretrainings not touched for :data:`KEPT_DAYS` are removed first."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        for old in root.iterdir():
            if old.is_dir() and time.time() - old.stat().st_mtime > KEPT_DAYS * 86_400 and old.name != key:
                shutil.rmtree(old, ignore_errors=True)
        folder = root / key
        folder.mkdir(exist_ok=True)
        lock = stack.enter_context((folder / ".lock").open("a"))
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return None
    stack.callback(fcntl.flock, lock, fcntl.LOCK_UN)
    return folder


def _write_json(path: Path, value: Any) -> None:
    """Writes ``value`` whole or not at all: a kill leaves the old file or the new one."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value))
    os.replace(partial, path)


def _skipgram(passes: Passes, dim: int, epochs: int, seed: int, progress: Progress | None) -> tuple[Any, int]:
    """gensim's skip-gram word2vec trained on the passes' token file with every core, from the last pass saved if
    any; returns the model and the passes it started from (0: a fresh start)."""
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    loaded = passes.load()
    if loaded is not None:
        model, done = loaded
        log.info("Continuing the pretraining after epoch %d of %d (kept in %s)", done, epochs, passes.folder)
    else:
        done = 0
        model = Word2Vec(
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
        )
        model.build_vocab(corpus_file=str(passes.corpus))

    class _Epochs(CallbackAny2Vec):  # type: ignore[misc]
        def __init__(self) -> None:
            self.done = done

        def on_epoch_end(self, model: Any) -> None:
            self.done += 1
            passes.epoch_ended(model, self.done)
            if progress is not None:
                progress("pretraining", self.done, self.done / epochs)

    # The rate falls linearly over all the epochs, so a model resumed after ``done`` starts where it had come to.
    start = model.alpha - (model.alpha - model.min_alpha) * done / epochs
    try:
        model.train(
            corpus_file=str(passes.corpus),
            total_words=model.corpus_total_words,
            epochs=epochs - done,
            start_alpha=start,
            end_alpha=model.min_alpha,
            callbacks=[_Epochs()],
        )
    except KeyboardInterrupt:
        passes.interrupted(epochs)
        raise
    return model, done


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
