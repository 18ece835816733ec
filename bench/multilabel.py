"""Multi-label benchmark: ``lstmcli train --multi-label`` against fastText (``-loss ova``) and TF-IDF + one-vs-rest
logistic regression, on goemotions and reuters21578 (``../shared/datasets``, read in place).

Every system learns on the training split; each peer's decision thresholds are chosen on the corpus's dev split
(goemotions), or on a 10% validation split of train (reuters21578, which has none: the peer then learns on the other
90%, as lstmcli, whose ``train`` holds out its own 10% for the blend and the thresholds). The peers' thresholds
follow lstmcli's own rule (``lstmcli.decision.choose_thresholds``: one global threshold, or per label where that
wins on held-out rows), so the three differ in their models only. All are scored on the official test split:
micro- and macro-F1 over the labels of the training split (test labels never seen in training are left out),
with scikit-learn. *train wall* is the training process end to end; *fit* the training call of each peer.

Usage: python bench/multilabel.py [--corpora goemotions,reuters21578] [--write-results]
(the benchmarks of this machine take turns: run it as ``flock /tmp/bench.lock python bench/multilabel.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATASETS = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(HERE))
from common import command_and_load, publish  # noqa: E402

CORPORA = ("reuters21578", "goemotions")
FASTTEXT_EPOCHS = 25
SEED = 42
LSTMCLI = str(Path(sys.executable).with_name("lstmcli"))


def read_sets(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    """The texts and label sets of a ``text,labels`` CSV (labels joined by ``|``), as lstmcli reads them."""
    from lstmcli.io.labelsets import read_label_sets

    data = read_label_sets(path, "text", "labels")
    return data.texts, data.label_sets


def matrix(sets: list[tuple[str, ...]], labels: list[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(labels)}
    y = np.zeros((len(sets), len(labels)), dtype=bool)
    for row, names in enumerate(sets):
        y[row, [index[n] for n in names if n in index]] = True
    return y


def split_for_thresholds(corpus: Path) -> dict[str, Any]:
    """Train, threshold-picking and test rows: dev where the corpus has one, else a 10% split of train."""
    texts, sets = read_sets(corpus / "train.csv")
    test = read_sets(corpus / "test.csv")
    if (corpus / "dev.csv").is_file():
        return {"train": (texts, sets), "dev": read_sets(corpus / "dev.csv"), "test": test, "dev_from": "dev.csv"}
    from lstmcli.dataset.multilabel import stratified_split

    labels = sorted({n for s in sets for n in s})
    train_idx, dev_idx = stratified_split(matrix(sets, labels).astype(np.uint8), 0.1, SEED)
    pick = lambda idx: ([texts[i] for i in idx], [sets[i] for i in idx])  # noqa: E731
    return {"train": pick(train_idx), "dev": pick(dev_idx), "test": test, "dev_from": "10% of train"}


def f1s(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import f1_score

    return {
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def thresholded(dev_probs: np.ndarray, dev_y: np.ndarray, test_probs: np.ndarray) -> tuple[np.ndarray, str]:
    from lstmcli.decision import choose_thresholds

    chosen = choose_thresholds(dev_probs, dev_y, SEED)
    return test_probs >= np.asarray(chosen.per_label), chosen.kind


def run_tfidf(data: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2)), OneVsRestClassifier(LogisticRegression(max_iter=1000), n_jobs=1)
    )
    started = time.perf_counter()
    model.fit(data["train"][0], matrix(data["train"][1], labels))
    fit = time.perf_counter() - started
    predicted, kind = thresholded(
        model.predict_proba(data["dev"][0]), matrix(data["dev"][1], labels), model.predict_proba(data["test"][0])
    )
    return {
        **f1s(matrix(data["test"][1], labels), predicted),
        "fit_seconds": fit,
        "train_wall": fit,
        "thresholds": kind,
    }


def run_fasttext(data: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    import fasttext

    tag = {name: "__label__" + "_".join(name.split()) for name in labels}
    clean = lambda t: " ".join(t.lower().split())  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train.txt")
        with open(path, "w", encoding="utf-8") as fh:
            for text, names in zip(*data["train"]):
                fh.write(" ".join(tag[n] for n in names) + f" {clean(text)}\n")
        started = time.perf_counter()
        model = fasttext.train_supervised(
            path, loss="ova", wordNgrams=2, epoch=FASTTEXT_EPOCHS, verbose=0, thread=2, seed=SEED
        )
        fit = time.perf_counter() - started
    back = {v: i for i, v in enumerate(tag[n] for n in labels)}

    def probs(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(labels)))
        tags, ps = model.predict([clean(t) for t in texts], k=-1, threshold=0.0)
        for row, (names, values) in enumerate(zip(tags, ps)):
            for name, p in zip(names, values):
                out[row, back[name]] = min(float(p), 1.0)
        return out

    predicted, kind = thresholded(probs(data["dev"][0]), matrix(data["dev"][1], labels), probs(data["test"][0]))
    return {
        **f1s(matrix(data["test"][1], labels), predicted),
        "fit_seconds": fit,
        "train_wall": fit,
        "thresholds": kind,
    }


def run_lstmcli(corpus: Path, workdir: Path, options: list[str]) -> dict[str, Any]:
    run = workdir / f"run-{corpus.name}"
    started = time.perf_counter()
    trained = subprocess.run(
        [
            LSTMCLI,
            "train",
            str(corpus / "train.csv"),
            "--multi-label",
            "-r",
            str(run),
            "--overwrite",
            "--json",
            *options,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    summary = json.loads(trained.stdout)
    evaluated = subprocess.run(
        [LSTMCLI, "evaluate", "-r", str(run), "--data", str(corpus / "test.csv"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    metrics = json.loads(evaluated.stdout)
    thresholds = json.loads((run / "thresholds.json").read_text())
    blend = summary.get("blend") or {}
    return {
        "micro_f1": metrics["micro_f1"],
        "macro_f1": metrics["macro_f1"],
        "samples_f1": metrics["samples_f1"],
        "fit_seconds": summary["seconds"],
        "train_wall": wall,
        "epochs": summary["epochs_run"],
        "thresholds": thresholds["kind"],
        "blend": [blend.get("ngram_weight"), blend.get("lstm_weight")],
        "parts": blend.get("scores"),
    }


def bench_corpus(
    name: str, workdir: Path, datasets: Path = DATASETS, options: list[str] | None = None, peers: bool = True
) -> dict[str, Any]:
    corpus = datasets / name
    data = split_for_thresholds(corpus)
    labels = sorted({n for s in read_sets(corpus / "train.csv")[1] for n in s})
    out: dict[str, Any] = {"labels": len(labels), "dev_from": data["dev_from"], "test_rows": len(data["test"][0])}
    for system, runner in (
        ("tfidf", lambda: run_tfidf(data, labels)),
        ("fasttext", lambda: run_fasttext(data, labels)),
    ):
        if peers:
            out[system] = runner()
            print(name, system, out[system], file=sys.stderr, flush=True)
    out["lstmcli"] = run_lstmcli(corpus, workdir, options or [])
    print(name, "lstmcli", out["lstmcli"], file=sys.stderr, flush=True)
    return out


def table(results: dict[str, Any]) -> str:
    lines = [
        "## Multi-label: lstmcli --multi-label, fastText -loss ova, TF-IDF + one-vs-rest LR (bench/multilabel.py)",
        "",
        f"{command_and_load(results)} {results['note']}",
        "",
        "| corpus | system | micro-F1 | macro-F1 | thresholds | train wall (s) | fit (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    names = {"lstmcli": "lstmcli train --multi-label", "fasttext": "fastText -loss ova", "tfidf": "TF-IDF + OvR LR"}
    for corpus, row in results["corpora"].items():
        for system in ("lstmcli", "fasttext", "tfidf"):
            r = row[system]
            if "error" in r:
                lines.append(f"| {corpus} | {names[system]} | failed: {r['error']} | | | | |")
                continue
            lines.append(
                f"| {corpus} | {names[system]} | {r['micro_f1']:.4f} | {r['macro_f1']:.4f} | {r['thresholds']} | "
                f"{r['train_wall']:.1f} | {r['fit_seconds']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def others() -> list[str]:
    """The busiest processes of the machine but this benchmark's, for the note on what else ran."""
    listing = subprocess.run(["ps", "-eo", "pcpu,etime,args", "--sort=-pcpu"], capture_output=True, text=True).stdout
    return [line.strip()[:160] for line in listing.splitlines()[1:8] if "multilabel.py" not in line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--note", default="", help="what else ran on the machine, for RESULTS.md")
    parser.add_argument("--datasets", type=Path, default=DATASETS, help="the folder holding the corpora")
    parser.add_argument("--lstmcli-options", default="", help="extra options of lstmcli train (default: none)")
    parser.add_argument(
        "--peers-from", type=Path, help="a results JSON of an earlier run whose peers' figures to reuse (peers not run)"
    )
    parser.add_argument("--write-results", action="store_true", help="put the table in bench/RESULTS.md")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "command": "flock /tmp/bench.lock python bench/multilabel.py " + " ".join(argv or sys.argv[1:]),
        "load": os.getloadavg(),
        "note": args.note,
        "others_at_start": others(),
        "corpora": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.corpora.split(","):
            options = args.lstmcli_options.split()
            results["corpora"][name] = bench_corpus(name, Path(tmp), args.datasets, options, not args.peers_from)
            if args.peers_from:
                earlier = json.loads(args.peers_from.read_text(encoding="utf-8"))["corpora"][name]
                results["corpora"][name].update({k: earlier[k] for k in ("tfidf", "fasttext")})
                results["peers_from"] = str(args.peers_from)
            (HERE / "multilabel.partial.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    results["load_end"], results["others_at_end"] = os.getloadavg(), others()
    publish(results, HERE / "multilabel.json", table(results), "bench/multilabel.py", args.write_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
