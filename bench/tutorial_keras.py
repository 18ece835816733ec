"""The tutorial's LSTM classifier as a plain Keras script: the benchmark's speed baseline.

It follows the article step by step: letters only (``re.sub('[^a-zA-Z]', ' ', text).lower()``), English stop
words out, words hashed into ids as Keras 2's ``one_hot`` did, every text pre-padded to one global length, a
two-layer relu LSTM, and ``model.fit`` on NumPy arrays with the stratified 10% split as validation.

Two things differ from the article, both so that runs mean something:

- ``one_hot`` hashed with Python's ``hash``, which changes from run to run; this script uses MD5 (Keras 2's
  ``hashing_trick(..., hash_function='md5')``), so results repeat.
- For Chinese the letters-only cleaning deletes every character, leaving empty texts; Chinese corpora are
  therefore split into characters (whitespace dropped, no stop words) so the figures mean something.

The global length is the longest training text, capped at ``--max-len-cap`` tokens (256 by default: on the
English corpora no text is that long; the Chinese ones have reviews of thousands of characters).

Usage: python bench/tutorial_keras.py TRAIN.csv TEST.csv --epochs 10 --json
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import count_tokens, emit, is_chinese, read_corpus, scores  # noqa: E402

VOCAB = 10000
EMBEDDING_DIM = 45
BATCH_SIZE = 64
NOT_LETTERS = re.compile("[^a-zA-Z]")


def clean(text: str, chinese: bool, stop_words: frozenset[str]) -> list[str]:
    """The article's cleaning for English; characters for Chinese (the letters-only rule would delete them)."""
    if chinese:
        return [c for c in text.lower() if not c.isspace()]
    return [w for w in NOT_LETTERS.sub(" ", text).lower().split() if w not in stop_words]


def one_hot(words: list[str], n: int = VOCAB) -> list[int]:
    """Keras 2's ``one_hot``: each word hashed to an id in ``1 .. n - 1`` (0 stays padding), with a stable hash."""
    return [int(hashlib.md5(w.encode("utf-8")).hexdigest(), 16) % (n - 1) + 1 for w in words]


def build_model(n_classes: int) -> Any:
    """The article's network: embedding, two relu LSTMs, a small dense layer, dropout after each."""
    from keras import Sequential, layers

    model = Sequential(
        [
            layers.Embedding(VOCAB, EMBEDDING_DIM),
            layers.LSTM(128, activation="relu", return_sequences=True),
            layers.Dropout(0.2),
            layers.LSTM(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(32, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(n_classes, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def encode(texts: list[str], chinese: bool, max_len: int) -> np.ndarray:
    """Cleaned, hashed and pre-padded ids ``(n, max_len)``; longer texts lose their start, as pad_sequences does."""
    from keras.utils import pad_sequences
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    ids = [one_hot(clean(t, chinese, ENGLISH_STOP_WORDS)) for t in texts]
    return pad_sequences(ids, maxlen=max_len, padding="pre")


def global_length(texts: list[str], chinese: bool, cap: int) -> int:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    longest = max((len(clean(t, chinese, ENGLISH_STOP_WORDS)) for t in texts), default=1)
    return max(1, min(longest, cap) if cap > 0 else longest)


def run(train_file: str, test_file: str, epochs: int, cap: int, quiet: bool) -> dict[str, Any]:
    """Trains on ``train_file``, scores ``test_file``, and times each step."""
    import keras
    from sklearn.model_selection import train_test_split

    keras.utils.set_random_seed(42)
    train_texts, train_labels = read_corpus(train_file)
    test_texts, test_labels = read_corpus(test_file)
    chinese = is_chinese(train_texts)
    classes = sorted(set(train_labels))
    index = {label: i for i, label in enumerate(classes)}
    started = time.perf_counter()
    max_len = global_length(train_texts, chinese, cap)
    x = encode(train_texts, chinese, max_len)
    y = np.array([index[label] for label in train_labels], dtype=np.int32)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.1, random_state=42, stratify=y)
    prep_seconds = time.perf_counter() - started
    model = build_model(len(classes))
    timer = epoch_timer(quiet)
    fit_started = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=BATCH_SIZE,
        callbacks=[timer],
        verbose=0 if quiet else 2,
    )
    fit_seconds = time.perf_counter() - fit_started
    predict_started = time.perf_counter()
    probs = model.predict(encode(test_texts, chinese, max_len), verbose=0)
    predict_seconds = time.perf_counter() - predict_started
    predicted = [classes[i] for i in probs.argmax(axis=1)]
    return {
        **scores(test_labels, predicted),
        "n_test": len(test_texts),
        "n_train": len(train_texts),
        "tokenization": "characters" if chinese else "letters-only words, stop words out",
        "max_len": max_len,
        "epochs": epochs,
        "prep_seconds": prep_seconds,
        "fit_seconds": fit_seconds,
        "epoch_seconds": timer.seconds,
        "train_tokens": count_tokens(train_texts, chinese),
        "predict_seconds": predict_seconds,
        "predict_texts_per_second": len(test_texts) / predict_seconds,
        "val_accuracy": [float(v) for v in timer.val_accuracy],
    }


def epoch_timer(quiet: bool) -> Any:
    """A Keras callback recording each epoch's seconds and val_accuracy (built here: Keras loads lazily)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.val_accuracy: list[float] = []
            self._start = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.seconds.append(time.perf_counter() - self._start)
            self.val_accuracy.append(float((logs or {}).get("val_accuracy", float("nan"))))
            if quiet:  # with --json, stdout carries only the result
                print(
                    f"epoch {epoch + 1}: {self.seconds[-1]:.2f}s val_accuracy {self.val_accuracy[-1]:.4f}",
                    file=sys.stderr,
                    flush=True,
                )

    return EpochTimer()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train", help="training CSV (text,label)")
    parser.add_argument("test", help="test CSV (text,label)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--max-len-cap",
        type=int,
        default=256,
        help="most tokens per text: the global length is the longest training text up to this (0: no cap)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout; logs go to stderr")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    emit(run(args.train, args.test, args.epochs, args.max_len_cap, quiet=args.json), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
