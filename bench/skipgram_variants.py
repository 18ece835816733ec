"""Which skip-gram vectors ``--unlabeled`` learns: word2vec as built, word2vec keeping words seen once, and
fastText-style subword vectors (gensim's ``FastText``, character 3- to 6-grams, as ``fasttext skipgram``), every
word of the texts given a vector. Measured on a few-labels cut's dev split; the variants replace
``lstmcli.dataset.unlabeled``'s skip-gram step in this process only.

Needs a few-labels cut from ``bench/fewlabels.py`` (``train.csv``, ``unlabeled.txt``, ``dev.csv``).

Usage: python bench/skipgram_variants.py VARIANT CUT [SEED]   (VARIANT: word2vec, word2vec-all or subwords)
"""

from __future__ import annotations

import json
import sys
import types
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vectors import parts_on_test  # noqa: E402

SUBWORD_BUCKETS = 200_000


def subword_skipgram(passes: Any, dim: int, epochs: int, seed: int, progress: Any) -> tuple[Any, int]:
    """gensim's FastText skip-gram, its vectors given to every word of the token file (from its n-grams where
    the word itself was too rare)."""
    from gensim.models import FastText

    from lstmcli.dataset import unlabeled

    model = FastText(
        vector_size=dim,
        window=unlabeled.WINDOW,
        min_count=unlabeled.MIN_COUNT,
        sg=1,
        negative=unlabeled.NEGATIVE,
        epochs=epochs,
        workers=2,
        seed=seed,
        min_n=3,
        max_n=6,
        bucket=SUBWORD_BUCKETS,
    )
    model.build_vocab(corpus_file=str(passes.corpus))
    model.train(corpus_file=str(passes.corpus), total_words=model.corpus_total_words, epochs=epochs)
    with open(passes.corpus, encoding="utf-8") as fh:
        counts = Counter(token for line in fh for token in line.split())
    words = [word for word, _ in counts.most_common(unlabeled.MAX_WORDS)]
    vectors = np.stack([model.wv[word] for word in words])
    return types.SimpleNamespace(wv=types.SimpleNamespace(index_to_key=words, vectors=vectors)), 0


def main() -> int:
    from lstmcli import workflow
    from lstmcli.dataset import unlabeled

    variant, cut = sys.argv[1], Path(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
    if variant == "word2vec-all":
        unlabeled.MIN_COUNT = 1
    elif variant == "subwords":
        unlabeled._skipgram = subword_skipgram  # type: ignore[assignment]
    elif variant != "word2vec":
        raise SystemExit(f"unknown variant {variant}")
    run = cut.parent / "runs" / f"{cut.name}-skipgram-{variant}-{seed}"
    workflow.train(cut / "train.csv", run, overwrite=True, unlabeled=(str(cut / "unlabeled.txt"),), seed=seed)
    dev = parts_on_test(run, cut / "dev.csv")
    scores = {part: round(100 * value["accuracy"], 2) for part, value in dev.items()}
    print(json.dumps({"variant": variant, "cut": cut.name, "seed": seed, **scores}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
