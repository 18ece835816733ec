"""Few labels: 1,000 stratified training rows, the rest of the corpus's training texts as unlabeled text.

For each corpus: ``train.csv`` is cut into 1,000 rows (stratified, seeded) and the other rows' texts, labels
dropped, one per line, as ``unlabeled.txt``; every system trains on the same 1,000 rows and is scored on the full
test split (and on dev.csv where the corpus has one: designs are chosen there, never on test). Systems:

- ``lstmcli``: the default as installed (``--embeddings auto``), no unlabeled text;
- ``lstmcli-unlabeled``: the default with ``--unlabeled unlabeled.txt``;
- ``lstmcli-none``: ``--embeddings none``, neither vectors nor unlabeled text;
- ``fasttext``: fastText supervised, bigrams, 25 epochs;
- ``fasttext-skipgram``: the same, started from ``fasttext skipgram`` vectors (dim 100) learned from
  ``unlabeled.txt`` and the 1,000 training texts: the fair peer, given the same texts;
- ``tfidf``: TF-IDF + logistic regression.

Usage: python bench/fewlabels.py [--corpora sst2,chnsenticorp] [--systems ...] [--rows 1000] [--seed 42]
       [--train-seed N]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import is_chinese, read_corpus  # noqa: E402
from peers import fasttext_text, run_tfidf  # noqa: E402
from vectors import DATASETS, ROOT, parts_on_test, run_fasttext, run_lstmcli  # noqa: E402

SYSTEMS = ["lstmcli", "lstmcli-unlabeled", "lstmcli-none", "fasttext", "fasttext-skipgram", "tfidf"]
CORPORA = ["sms_spam", "sst2", "ag_news", "chnsenticorp", "emotion", "airline_tweets", "online_shopping_10_cats"]
SKIPGRAM_DIM = 100


def cut(corpus: str, work: Path, rows: int, seed: int) -> Path:
    """``work/CORPUS-ROWS-SEED``: train.csv (``rows`` stratified rows), unlabeled.txt (the others' texts), and
    links to test.csv and dev.csv."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    out = work / f"{corpus}-{rows}-{seed}"
    if (out / "unlabeled.txt").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(DATASETS / corpus / "train.csv", dtype=str, keep_default_na=False)
    frame = frame[(frame["text"].str.strip() != "") & (frame["label"].str.strip() != "")]
    few, rest = train_test_split(frame, train_size=rows, random_state=seed, stratify=frame["label"])
    few.to_csv(out / "train.csv", index=False)
    (out / "unlabeled.txt").write_text("".join(" ".join(t.split()) + "\n" for t in rest["text"]), encoding="utf-8")
    for split in ("test", "dev"):
        if (DATASETS / corpus / f"{split}.csv").is_file():
            (out / f"{split}.csv").symlink_to(DATASETS / corpus / f"{split}.csv")
    return out


def skipgram_vectors(corpus: Path) -> Path:
    """fastText skip-gram vectors (dim 100) learned from the unlabeled and the training texts, as a .vec file."""
    import fasttext

    out = corpus / "skipgram.vec"
    if out.is_file():
        return out
    texts = read_corpus(corpus / "train.csv")[0]
    chinese = is_chinese(texts)
    lines = (corpus / "unlabeled.txt").read_text(encoding="utf-8").splitlines() + texts
    source = corpus / "skipgram-input.txt"
    source.write_text("".join(fasttext_text(t, chinese) + "\n" for t in lines), encoding="utf-8")
    tokens = sum(len(fasttext_text(t, chinese).split()) for t in lines)
    epochs = min(40, max(5, math.ceil(5_000_000 / max(tokens, 1))))  # lstmcli's rule for its own skip-gram
    model = fasttext.train_unsupervised(
        str(source), model="skipgram", dim=SKIPGRAM_DIM, minCount=2, epoch=epochs, thread=2, verbose=0
    )
    with out.open("w", encoding="utf-8") as fh:
        words = model.get_words()
        fh.write(f"{len(words)} {SKIPGRAM_DIM}\n")
        for word in words:
            fh.write(word + " " + " ".join(f"{v:.5g}" for v in model.get_word_vector(word)) + "\n")
    return out


def run_system(system: str, corpus: Path, work: Path, train_seed: int | None = None) -> dict[str, Any]:
    if system.startswith("lstmcli"):
        extra = {
            "lstmcli": [],
            "lstmcli-unlabeled": ["--unlabeled", str(corpus / "unlabeled.txt")],
            "lstmcli-none": ["--embeddings", "none"],
        }[system]
        if train_seed is not None:  # another seed of lstmcli's training (and of its validation split)
            extra, system = [*extra, "--seed", str(train_seed)], f"{system}-seed{train_seed}"
        run = work / "runs" / f"{corpus.name}-{system}"
        result = run_lstmcli(corpus, run, extra)
        if "error" not in result and (corpus / "dev.csv").exists():
            result["dev"] = parts_on_test(run, corpus / "dev.csv")
        return result
    if system.startswith("fasttext"):
        started = time.perf_counter()
        vectors = skipgram_vectors(corpus) if system == "fasttext-skipgram" else None
        pretrain = time.perf_counter() - started
        result = run_fasttext(corpus, vectors, SKIPGRAM_DIM)
        return {**result, "pretrain_seconds": round(pretrain, 1)}
    train, test = read_corpus(corpus / "train.csv"), read_corpus(corpus / "test.csv")
    tfidf = run_tfidf(train, test, is_chinese(train[0]))
    return {"published": {k: v for k, v in tfidf.items() if k in ("accuracy", "macro_f1")}}


def table(results: dict[str, dict[str, Any]], systems: list[str]) -> str:
    """Test accuracy % per corpus and system; lstmcli's cells add dev accuracy where the corpus has dev.csv."""
    head = " | best peer | margin: lstmcli | margin: lstmcli --unlabeled |"
    lines = ["| corpus | " + " | ".join(systems) + head, "|---|" + "---:|" * (len(systems) + 3)]
    for corpus, by_system in results.items():
        cells, accuracy = [], {}
        for system in systems:
            r = by_system.get(system, {})
            if "published" not in r:
                cells.append(str(r.get("error", ""))[:40])
                continue
            accuracy[system] = 100 * r["published"]["accuracy"]
            cell = f"{accuracy[system]:.1f}"
            if "dev" in r:
                cell += f" (dev {100 * r['dev']['published']['accuracy']:.1f})"
            cells.append(cell)
        peers = [accuracy[s] for s in ("fasttext", "fasttext-skipgram", "tfidf") if s in accuracy]
        best = max(peers) if peers else float("nan")
        margins = [accuracy.get(s, float("nan")) - best for s in ("lstmcli", "lstmcli-unlabeled")]
        lines.append(f"| {corpus} | " + " | ".join(cells) + f" | {best:.1f} | {margins[0]:+.1f} | {margins[1]:+.1f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42, help="the seed of the 1,000-row cut")
    parser.add_argument("--train-seed", type=int, help="lstmcli's --seed; results are kept as SYSTEM-seedN")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "fewlabels")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    store = args.work / "fewlabels.json"
    results: dict[str, dict[str, Any]] = json.loads(store.read_text()) if store.is_file() else {}
    for name in args.corpora.split(","):
        corpus = cut(name, args.work, args.rows, args.seed)
        for system in args.systems.split(","):
            print(f"{corpus.name} {system} ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            result = run_system(system, corpus, args.work, args.train_seed)
            result["wall_seconds"] = round(time.perf_counter() - started, 1)
            seeded = args.train_seed is not None and system.startswith("lstmcli")
            results.setdefault(corpus.name, {})[f"{system}-seed{args.train_seed}" if seeded else system] = result
            store.write_text(json.dumps(results, indent=1))
            print(json.dumps(result), file=sys.stderr, flush=True)
    text = table(results, [s for s in SYSTEMS if any(s in r for r in results.values())])
    (args.work / "FEWLABELS.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
