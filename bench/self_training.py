"""Self-training of the n-gram classifier at few labels: measured, not built.

The published model (n-gram classifier and LSTM blended) labels the cut's unlabeled texts; the linear n-gram
classifier (``lstmcli/nn/linear.py``) is trained again on the 1,000 labelled rows plus the unlabeled texts whose
label it gives with at least a threshold's probability, and blended again with the LSTM part on the run's
validation rows. Dev accuracy of the n-gram classifier alone and of the new blend, against the same classifier
trained on the labelled rows alone.

Needs a few-labels cut and its ``lstmcli-unlabeled`` run from ``bench/fewlabels.py``.

Usage: python bench/self_training.py [--work bench/work/fewlabels] [--corpora sst2,ag_news,chnsenticorp]
       [--system lstmcli-unlabeled-seed1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import read_corpus  # noqa: E402

THRESHOLDS = (0.0, 0.7, 0.9)
MOST_UNLABELED = 50_000


def fit_linear(data: tuple[np.ndarray, ...], config, vocab: int, n: int, vectors):  # type: ignore[no-untyped-def]
    """The linear n-gram classifier, early-stopped on the validation loss as training stops it."""
    from lstmcli.nn import linear

    best, best_loss, wait = None, np.inf, 0
    for epoch, (model, logs) in enumerate(linear.epochs(data, config, vocab, n, None, vectors)):
        if logs["val_loss"] < best_loss:
            best, best_loss, wait = model.copy(), logs["val_loss"], 0
        else:
            wait += 1
        if wait >= config.patience or epoch + 1 >= config.epochs:
            return best
    return best


def measure(cut: Path, run_path: Path) -> list[str]:
    from lstmcli.nn import linear
    from lstmcli.nn.blend import choose
    from lstmcli.nn.spec import network_spec
    from lstmcli.nn.staging import bag_vectors
    from lstmcli.predictor import Predictor
    from lstmcli.rundir import RunDir

    run = RunDir(run_path)
    predictor = Predictor(run, engine="numpy")
    config = run.read_config().for_training(run.train_rows())
    prepared, labels, vocab = run.read_prepared(), run.read_labels(), len(run.read_vocab())
    vectors, bag = bag_vectors(run), network_spec(config).ngram_classifier.bag  # type: ignore[union-attr]
    texts = (cut / "unlabeled.txt").read_text(encoding="utf-8").splitlines()
    rng = np.random.default_rng(0)
    texts = [texts[i] for i in rng.permutation(len(texts))[:MOST_UNLABELED]]
    unlabeled_x = predictor.encode(texts)
    teacher = predictor.proba_ids(unlabeled_x)
    dev_texts, dev_labels = read_corpus(cut / "dev.csv")
    keep = [i for i, label in enumerate(dev_labels) if label in labels]
    dev_x = predictor.encode([dev_texts[i] for i in keep])
    dev_y = np.array([labels.index(dev_labels[i]) for i in keep])
    lstm_dev, lstm_val = predictor.network.part_logits(dev_x)[1], predictor.network.part_logits(prepared.val_x)[1]
    published = np.mean(predictor.proba_ids(dev_x).argmax(1) == dev_y)
    lines = [f"| {cut.name} | (the published model, teaching) | | {published:.4f} |"]

    def row(name: str, x: np.ndarray, y: np.ndarray) -> None:
        model = fit_linear((x, y, prepared.val_x, prepared.val_y), config, vocab, len(labels), vectors)
        on_dev = model.logits(linear.Features.of(dev_x, vocab, bag, vectors))
        on_val = model.logits(linear.Features.of(prepared.val_x, vocab, bag, vectors))
        blend = choose(on_val, lstm_val, prepared.val_y)
        blended = blend.ngram_weight * on_dev + blend.lstm_weight * lstm_dev
        lines.append(
            f"| {cut.name} | {name} | {np.mean(on_dev.argmax(1) == dev_y):.4f} | {np.mean(blended.argmax(1) == dev_y):.4f} |"
        )

    row("labelled rows alone", prepared.train_x, prepared.train_y)
    width = prepared.train_x.shape[1]
    padded = np.zeros((len(unlabeled_x), width), dtype=prepared.train_x.dtype)
    padded[:, : min(width, unlabeled_x.shape[1])] = unlabeled_x[:, :width]
    for threshold in THRESHOLDS:
        chosen = teacher.max(axis=1) >= threshold
        x = np.concatenate([prepared.train_x, padded[chosen]])
        y = np.concatenate([prepared.train_y, teacher.argmax(axis=1)[chosen]])
        row(f"+ {chosen.sum():,} unlabeled, probability >= {threshold}", x, y)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / "work" / "fewlabels")
    parser.add_argument("--corpora", default="sst2,ag_news,chnsenticorp")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42, help="the cut's seed")
    parser.add_argument("--system", default="lstmcli-unlabeled", help="whose run teaches (lstmcli-unlabeled-seedN)")
    args = parser.parse_args()
    print("| cut | n-gram classifier trained on | n-gram part, dev | blend with the LSTM part, dev |")
    print("|---|---|---:|---:|")
    for name in args.corpora.split(","):
        cut = args.work / f"{name}-{args.rows}-{args.seed}"
        for line in measure(cut, args.work / "runs" / f"{cut.name}-{args.system}"):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
