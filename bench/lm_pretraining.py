"""Language-model pretraining of the recurrent part, measured before building it into the tool.

On a few-labels cut made by ``bench/fewlabels.py`` (1,000 labelled rows, the rest of the corpus's training texts
as ``unlabeled.txt``), a run is prepared with ``--unlabeled`` (GloVe where it fits, skip-gram vectors from the
unlabeled texts); then the first bidirectional layer and the token embeddings are pretrained as two language
models, the forward half predicting each next token and the backward half each previous one (a sampled softmax
over the run's vocabulary, 512 samples, output vectors tied to the token embeddings; perplexity on 2% of the
texts held out, full softmax), as in Dai & Le (2015) and ULMFiT's forward and backward models. The classifier is
then trained twice on the same prepared run: from the start vectors only (as the tool does) and with its
embeddings and first recurrent layer taken from the language models. Scored on dev.csv (never on test): the
published model and its two parts apart.

Usage: python bench/lm_pretraining.py CUT_DIR [--epochs 6] [--freeze-embeddings] [--work DIR]
(CUT_DIR: e.g. bench/work/fewlabels/sst2-1000-42, made by ``python bench/fewlabels.py --systems tfidf``)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vectors import LSTMCLI, parts_on_test  # noqa: E402

SAMPLED, BATCH, HELD_OUT = 512, 64, 0.02


def pretrain(run_path: Path, unlabeled: Path, epochs: int, freeze_embeddings: bool, seed: int) -> dict[str, Any]:
    """Pretrains the run's embeddings and first recurrent layer as language models; writes ``lm_start.npz``."""
    from lstmcli.nn.backend import keras, tf
    from lstmcli.nn.fit import start_vectors
    from lstmcli.nn.model import build_model, start_embeddings
    from lstmcli.rundir import RunDir
    from lstmcli.text.encoder import Encoder

    run = RunDir(run_path)
    config, vocab = run.read_config(), run.read_vocab()
    lines = [line for line in unlabeled.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = np.concatenate([Encoder(config, vocab).encode(lines)[0], np.asarray(run.read_prepared().train_x)])
    model = build_model(config, len(vocab), len(run.read_labels()))
    vectors = start_vectors(run, config)
    if vectors is not None:
        start_embeddings(model, config, vectors)
    embedding, recurrent = model.get_layer("embedding"), model.get_layer("rnn_0")
    units, dim = config.units[0], config.embedding_size
    heads = [keras.layers.Dense(dim), keras.layers.Dense(dim)]  # each half's state into the embeddings' space
    bias = tf.Variable(tf.zeros([len(vocab)]))
    dropout = keras.layers.SpatialDropout1D(config.spatial_dropout)
    optimizer = keras.optimizers.Adam(2e-3)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    held = max(200, int(len(texts) * HELD_OUT))
    val, train = texts[order[:held]], texts[order[held:]]

    def predictions(x: Any, training: bool) -> list[tuple[Any, Any]]:
        """(the state's projection, the token it predicts) at every step with a known token to predict."""
        states = recurrent(dropout(embedding(x), training=training), mask=tf.not_equal(x, 0), training=training)
        forward, backward = states[..., :units], states[..., units:]
        nxt, prev = x[:, 1:], x[:, :-1]
        known_next = tf.logical_and(tf.not_equal(nxt, 0), tf.not_equal(nxt, 1))
        known_prev = tf.logical_and(tf.not_equal(nxt, 0), tf.not_equal(prev, 1))
        return [
            (tf.boolean_mask(heads[0](forward[:, :-1]), known_next), tf.boolean_mask(nxt, known_next)),
            (tf.boolean_mask(heads[1](backward[:, 1:]), known_prev), tf.boolean_mask(prev, known_prev)),
        ]

    trained = (recurrent.trainable_weights + heads[0].trainable_weights + heads[1].trainable_weights + [bias]) + (
        [] if freeze_embeddings else embedding.trainable_weights
    )

    @tf.function(reduce_retracing=True)
    def step(x: Any) -> Any:
        with tf.GradientTape() as tape:
            losses = [
                tf.reduce_mean(
                    tf.nn.sampled_softmax_loss(
                        embedding.embeddings, bias, tf.cast(y[:, None], tf.int64), h, SAMPLED, len(vocab)
                    )
                )
                for h, y in predictions(x, True)
            ]
            loss = tf.add_n(losses) / len(losses)
        optimizer.apply_gradients(zip(tape.gradient(loss, trained), trained, strict=True))
        return loss

    def perplexity() -> float:
        total, count = 0.0, 0
        for i in range(0, len(val), 256):
            for h, y in predictions(tf.constant(_trim(val[i : i + 256])), False):
                logits = tf.matmul(h, embedding.embeddings, transpose_b=True) + bias
                total += float(tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)))
                count += int(tf.size(y))
        return float(np.exp(total / max(count, 1)))

    predictions(tf.constant(_trim(val[:4])), False)  # builds the heads
    history, started = [], time.perf_counter()
    lengths = (train != 0).sum(1)
    for epoch in range(epochs):
        begun = time.perf_counter()
        losses = [float(step(tf.constant(_trim(train[batch])))) for batch in _batches(lengths, rng)]
        history.append(
            {"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 3), "perplexity": round(perplexity(), 1)}
        )
        history[-1]["seconds"] = round(time.perf_counter() - begun, 1)
        print(json.dumps(history[-1]), flush=True)
    np.savez(run_path / "lm_start.npz", embedding.get_weights()[0], *recurrent.get_weights())
    tokens = int((texts != 0).sum())
    return {
        "texts": len(texts),
        "tokens": tokens,
        "seconds": round(time.perf_counter() - started, 1),
        "history": history,
    }


def _trim(x: np.ndarray) -> np.ndarray:
    return x[:, : max(int((x != 0).sum(1).max()), 2)]


def _batches(lengths: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of texts of similar length, in random order."""
    order, batches = rng.permutation(len(lengths)), []
    for start in range(0, len(order), BATCH * 50):
        pool = order[start : start + BATCH * 50]
        pool = pool[np.argsort(lengths[pool], kind="stable")]
        batches += [pool[i : i + BATCH] for i in range(0, len(pool), BATCH)]
    rng.shuffle(batches)  # type: ignore[arg-type]
    return batches


def classify(run_path: Path, from_lm: bool, dev: Path) -> dict[str, Any]:
    """Trains the prepared run's classifier (from the language models' weights, or not) and scores dev."""
    import lstmcli.nn.fit as fit
    from lstmcli.workflow import train

    build, start = fit.build_model, fit.start_embeddings
    if from_lm:
        weights = np.load(run_path / "lm_start.npz")

        def from_language_models(config: Any, vocab_size: int, n_classes: int) -> Any:
            model = build(config, vocab_size, n_classes)
            model.get_layer("embedding").set_weights([weights["arr_0"]])
            model.get_layer("rnn_0").set_weights([weights[f"arr_{i}"] for i in range(1, len(weights.files))])
            return model

        fit.build_model, fit.start_embeddings = from_language_models, lambda *args, **kwargs: None
    try:
        result = train(run_dir=run_path, overwrite=True)
    finally:
        fit.build_model, fit.start_embeddings = build, start
    scores = parts_on_test(run_path, dev)
    return {
        "dev_accuracy": {part: round(100 * s["accuracy"], 2) for part, s in scores.items()},
        "best_epoch": result.best_epoch,
        "seconds": round(result.seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cut", type=Path)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--freeze-embeddings", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=Path("bench/work/lm_pretraining"))
    args = parser.parse_args()
    run = args.work / args.cut.name
    unlabeled = args.cut / "unlabeled.txt"
    subprocess.run(
        [
            *LSTMCLI,
            "prepare",
            str(args.cut / "train.csv"),
            "-r",
            str(run),
            "--overwrite",
            "--unlabeled",
            str(unlabeled),
        ],
        check=True,
        capture_output=True,
    )
    report: dict[str, Any] = {
        "corpus": args.cut.name,
        "epochs": args.epochs,
        "freeze_embeddings": args.freeze_embeddings,
    }
    report["without"] = classify(run, False, args.cut / "dev.csv")
    report["pretraining"] = pretrain(run, unlabeled, args.epochs, args.freeze_embeddings, args.seed)
    report["with"] = classify(run, True, args.cut / "dev.csv")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
