"""The non-neural peers of the benchmark: fastText and TF-IDF + logistic regression.

Each trains on the training CSV, labels the test CSV and times both steps, in this one process (the benchmark
runs it as a child process so that its peak memory is its own).

- fastText: supervised, ``wordNgrams=2``, ``epoch=25``, otherwise its defaults; text lower-cased with newlines
  turned into spaces; Chinese text split into characters separated by spaces.
- TF-IDF + LR: word 1-2 grams (character 1-2 grams for Chinese) and scikit-learn's LogisticRegression
  (``max_iter=1000``), otherwise defaults.

Usage: python bench/peers.py {fasttext,tfidf} TRAIN.csv TEST.csv --json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import count_tokens, emit, is_chinese, read_corpus, scores  # noqa: E402

FASTTEXT_EPOCHS = 25


def fasttext_text(text: str, chinese: bool) -> str:
    """One line of fastText input: lower case, whitespace collapsed; Chinese as space-separated characters."""
    text = text.lower()
    return " ".join(c for c in text if not c.isspace()) if chinese else " ".join(text.split())


Split = tuple[list[str], list[str]]  # texts, labels


def run_fasttext(train: Split, test: Split, chinese: bool) -> dict[str, Any]:
    import fasttext

    labels = sorted(set(train[1]))
    tag = {label: "__label__" + "_".join(label.split()) for label in labels}
    back = {v: k for k, v in tag.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train.txt")
        with open(path, "w", encoding="utf-8") as fh:
            for text, label in zip(*train, strict=True):
                fh.write(f"{tag[label]} {fasttext_text(text, chinese)}\n")
        started = time.perf_counter()
        model = fasttext.train_supervised(
            path, wordNgrams=2, epoch=FASTTEXT_EPOCHS, verbose=0, thread=max(1, min(12, os.cpu_count() or 1))
        )
        fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted, _ = model.predict([fasttext_text(t, chinese) for t in test[0]], k=1)
    predict_seconds = time.perf_counter() - started
    return {
        **scores(test[1], [back[p[0]] if p else "" for p in predicted]),
        "fit_seconds": fit_seconds,
        "epochs": FASTTEXT_EPOCHS,
        "predict_seconds": predict_seconds,
        "tokenization": "characters" if chinese else "whitespace words",
    }


def run_tfidf(train: Split, test: Split, chinese: bool) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    analyzer = "char" if chinese else "word"
    model = make_pipeline(TfidfVectorizer(analyzer=analyzer, ngram_range=(1, 2)), LogisticRegression(max_iter=1000))
    started = time.perf_counter()
    model.fit(train[0], train[1])
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = model.predict(test[0]).tolist()
    predict_seconds = time.perf_counter() - started
    return {
        **scores(test[1], predicted),
        "fit_seconds": fit_seconds,
        "epochs": 1,
        "predict_seconds": predict_seconds,
        "tokenization": f"{analyzer} 1-2 grams",
    }


PEERS = {"fasttext": run_fasttext, "tfidf": run_tfidf}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", choices=sorted(PEERS))
    parser.add_argument("train", help="training CSV (text,label)")
    parser.add_argument("test", help="test CSV (text,label)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    train, test = read_corpus(args.train), read_corpus(args.test)
    chinese = is_chinese(train[0])
    result = PEERS[args.peer](train, test, chinese)
    result.update(
        n_train=len(train[0]),
        n_test=len(test[0]),
        train_tokens=count_tokens(train[0], chinese),
        predict_texts_per_second=len(test[0]) / max(result["predict_seconds"], 1e-9),
    )
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
