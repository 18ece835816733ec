"""Where one training epoch of the default goes, beside the bare Keras layer stack of the same shapes.

For each corpus (``../shared/datasets/<corpus>/train.csv``, prepared with the default settings into
``bench/work/profile/``) and each stage of the default (the n-gram classifier, then the LSTM with the
classifier frozen), it times, over one whole epoch of the training batches and after a warm-up epoch:

- ``input``: the ``tf.data`` pipeline alone (batches read, nothing computed);
- ``forward``: the stage's model in training mode;
- ``forward_backward``: the same with the gradients of the trainable weights;
- ``train_epoch``: ``Model.fit`` for one epoch without validation (forward, backward, optimizer);
  ``optimizer`` is ``train_epoch - forward_backward``;
- ``validation``: ``Model.evaluate`` on the validation batches;
- ``checkpoint``: saving the whole model (``.keras``, with its optimizer) once; training saves it up to twice
  an epoch (the last epoch's, and the best's when it improves).

Beside them, ``bare_keras``: ``Embedding -> Bidirectional(LSTM) -> GlobalMaxPooling1D -> Dense -> Dense``
of the default's shapes (embedding 128, 64 units, dense 64, no mask, no dropout), fitted for one epoch on the
same batches at the same batch size, and the n-gram-free trunk throughput it implies. Tokens/s count the
training rows' real tokens (padding left out).

With ``--baseline DIR`` (a checkout of an earlier lstmcli, e.g. a ``git worktree``) the same profile runs on
that code too, in a child process, one after the other in the same run: before and after side by side.

Usage: .venv/bin/python bench/epoch_profile.py [--corpora sst2,emotion] [--baseline ../before] [--write-results]
Writes bench/work/profile/profile.json; ``--write-results`` also writes the "Where an epoch goes" section of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import command_and_load, publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
WORK = ROOT / "bench" / "work" / "profile"


def _seconds(function: Any) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _prepared(corpus: str) -> Any:
    from lstmcli import workflow

    run_dir = WORK / corpus
    workflow.prepare(DATASETS / corpus / "train.csv", run_dir, overwrite=True)
    return run_dir


def _over_batches(step: Any, ds: Any) -> float:
    """Seconds for ``step`` over every batch of ``ds``, after one warm-up pass (graph tracing left out)."""
    for x, y in ds:
        step(x, y)
    started = time.perf_counter()
    for x, y in ds:
        out = step(x, y)
    if out is not None:
        _ = [float(o.numpy().ravel()[0]) for o in out if hasattr(o, "numpy")]
    return time.perf_counter() - started


def _stage_profile(model: Any, train_ds: Any, val_ds: Any, tokens: int, path: Path) -> dict[str, float]:
    import tensorflow as tf

    from lstmcli.nn.fit import _save_model

    variables = model.trainable_variables
    loss_fn = model.loss if callable(model.loss) else tf.keras.losses.get(model.loss)

    @tf.function(reduce_retracing=True)
    def forward(x: Any, y: Any) -> Any:
        return (model(x, training=True),)

    @tf.function(reduce_retracing=True)
    def forward_backward(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, variables)
        return [tf.reduce_sum(g.values if isinstance(g, tf.IndexedSlices) else g) for g in grads if g is not None]

    times = {
        "input": _over_batches(lambda x, y: None, train_ds),
        "forward": _over_batches(forward, train_ds),
        "forward_backward": _over_batches(forward_backward, train_ds),
    }
    model.fit(train_ds, epochs=1, verbose=0)  # warm-up: the train function is traced
    times["train_epoch"] = _seconds(lambda: model.fit(train_ds, epochs=1, verbose=0))
    times["optimizer"] = times["train_epoch"] - times["forward_backward"]
    model.evaluate(val_ds, verbose=0)
    times["validation"] = _seconds(lambda: model.evaluate(val_ds, verbose=0))
    times["checkpoint"] = _seconds(lambda: _save_model(model, path))
    times["tokens_per_second"] = tokens / times["train_epoch"]
    return {k: round(v, 3) for k, v in times.items()}


def _bare_keras(train_ds: Any, vocab: int, classes: int, config: Any, tokens: int) -> dict[str, float]:
    import keras

    units = config.units[0]
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(vocab, config.embedding_size),
            keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True)),
            keras.layers.GlobalMaxPooling1D(),
            keras.layers.Dense(config.dense_units, activation="relu"),
            keras.layers.Dense(classes, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train_ds, epochs=1, verbose=0)
    seconds = _seconds(lambda: model.fit(train_ds, epochs=1, verbose=0))
    return {"train_epoch": round(seconds, 3), "tokens_per_second": round(tokens / seconds, 1)}


def profile(corpus: str, batch_size: int = 0) -> dict[str, Any]:
    """One corpus's profile: the default's stages and the bare stack, each over one epoch."""
    import numpy as np

    from lstmcli.nn.data import make_dataset
    from lstmcli.nn.model import build_model, stage_model
    from lstmcli.rundir import RunDir
    from lstmcli.text.batching import lengths_of

    run = RunDir(_prepared(corpus))
    prepared = run.read_prepared()
    config = run.read_config().replace(batch_size=batch_size) if batch_size else run.read_config()
    if hasattr(config, "for_training"):  # what train resolves an auto batch size to (earlier versions had none)
        config = config.for_training(len(prepared.train_y))
    vocab, classes = len(run.read_vocab()), len(run.read_labels())
    tokens = int(np.minimum(lengths_of(prepared.train_x), prepared.train_x.shape[1]).sum())
    train_ds, steps = make_dataset(prepared.train_x, prepared.train_y, config, shuffle=True)
    val_ds, _ = make_dataset(prepared.val_x, prepared.val_y, config, shuffle=False)
    model = build_model(config, vocab, classes)
    result: dict[str, Any] = {
        "rows": len(prepared.train_y),
        "tokens": tokens,
        "steps": steps,
        "batch_size": config.batch_size,
        "stages": {},
    }
    for stage in ("ngrams", "lstm") if config.staged_ngrams else ("",):
        fitted = stage_model(model, config, stage) if stage else model
        result["stages"][stage or "whole"] = _stage_profile(fitted, train_ds, val_ds, tokens, WORK / "model.keras")
    result["bare_keras"] = _bare_keras(train_ds, vocab, classes, config, tokens)
    lstm = result["stages"].get("lstm")
    if lstm:
        result["lstm_share_of_bare"] = round(lstm["tokens_per_second"] / result["bare_keras"]["tokens_per_second"], 3)
    return result


COMPONENTS = ("input", "forward", "forward_backward", "optimizer", "train_epoch", "validation", "checkpoint")


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "## Where an epoch goes (bench/epoch_profile.py)",
        "",
        f"{command_and_load(results)} Seconds for one warm epoch of the training batches; "
        "`optimizer` is the train epoch less forward and backward (Keras's own per-step work included); "
        "`checkpoint` is one save of the whole model. `bare` is the plain Keras stack of the same shapes at the "
        "same batch size.",
        "",
        "| code | corpus | batch | stage | " + " | ".join(COMPONENTS) + " | tokens/s | bare tokens/s | share of bare |",
        "|---|---|---|---|" + "---|" * (len(COMPONENTS) + 3),
    ]
    for code, profiles in results["runs"].items():
        for corpus, r in profiles["corpora"].items():
            for stage, t in r["stages"].items():
                cells = " | ".join(f"{t[k]:.2f}" for k in COMPONENTS)
                bare = r["bare_keras"]["tokens_per_second"] if stage in ("lstm", "whole") else None
                share = f"{t['tokens_per_second'] / bare:.0%}" if bare else ""
                lines.append(
                    f"| {code} | {corpus} | {r.get('batch_size', '')} | {stage} | {cells} | "
                    f"{t['tokens_per_second']:,.0f} | {f'{bare:,.0f}' if bare else ''} | {share} |"
                )
    return "\n".join(lines) + "\n"


def _child(checkout: Path, corpora: str, batch_size: int, out: Path) -> dict[str, Any]:
    """The profile of the lstmcli in ``checkout``, run in its own process."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(checkout), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [
        sys.executable,
        __file__,
        "--child",
        "--corpora",
        corpora,
        "--batch-size",
        str(batch_size),
        "--out",
        str(out),
    ]
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="sst2,emotion", help="comma-separated folders of ../shared/datasets")
    parser.add_argument("--batch-size", type=int, default=0, help="instead of the prepared run's (0: keep it)")
    parser.add_argument("--baseline", type=Path, help="a checkout of an earlier lstmcli, profiled beside this one")
    parser.add_argument("--out", default=str(WORK / "profile.json"), help="where the figures go (JSON)")
    parser.add_argument("--write-results", action="store_true", help="write the section of bench/RESULTS.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    WORK.mkdir(parents=True, exist_ok=True)
    if args.child:
        results: dict[str, Any] = {"corpora": {}}
        for corpus in args.corpora.split(","):
            results["corpora"][corpus] = profile(corpus, args.batch_size)
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        return 0
    results = {
        "command": "python bench/epoch_profile.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "load": os.getloadavg(),
        "runs": {},
    }
    checkouts = [("after", ROOT)] + ([("before", args.baseline.resolve())] if args.baseline else [])
    for name, checkout in checkouts:
        results["runs"][name] = _child(checkout, args.corpora, args.batch_size, WORK / f"profile-{name}.json")
    results["load_end"] = os.getloadavg()
    publish(results, Path(args.out), markdown(results), "bench/epoch_profile.py", args.write_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
