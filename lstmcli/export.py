"""``export``: the published network (token ids in, probabilities out) as a SavedModel or an ONNX file.

The export holds the graph, ``vocab.txt``, ``labels.json``, ``config.json`` (the preprocessing settings),
``export.json`` (names, shapes, the check's result) and a README on feeding it. Before it is put in place,
its probabilities on the run's validation texts are compared with the NumPy path's (:class:`Predictor`).
Both are built from weights.npz: the ONNX file by the builders of :mod:`lstmcli.nn.ort` (no TensorFlow), the
SavedModel by Keras from the network the config describes (:func:`lstmcli.nn.model.model_from_weights`),
TensorFlow imported (through :mod:`lstmcli.nn.backend`) only inside the functions that need it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.errors import ConfigError, LstmcliError, RunDirError
from lstmcli.nn import ort
from lstmcli.nn.spec import INPUT, OUTPUT
from lstmcli.predictor import Predictor
from lstmcli.rundir import RunDir, versions, write_json, write_text

FORMATS = ("savedmodel", "onnx")
TOLERANCE = 1e-5  # largest difference from the NumPy path's probabilities an export may show
CHECK_TEXTS = 2000  # validation texts the check runs, at most
CHECK_BATCH = 256
SAVEDMODEL_VERSION = "1"  # TensorFlow Serving loads numbered versions under its --model_base_path
ONNX_FILE = "model.onnx"
EXPORT_INFO = "export.json"
EXTRAS = {"onnx": ort.PACKAGES}


@dataclass(frozen=True)
class ExportResult:
    """Where the export went, its size, and how far its probabilities are from the NumPy path's."""

    path: Path
    format: str
    bytes: int
    max_abs_diff: float
    checked_texts: int
    tolerance: float = TOLERANCE


def export_run(run: RunDir, export_format: str, out: Path | None = None, overwrite: bool = False) -> ExportResult:
    """Exports the run's published model (its weights.npz) to ``out`` (default: ``RUN/export/FORMAT``).

    The export is written beside ``out`` and renamed into place once it has passed the check, so ``out``
    never holds half an export; an existing ``out`` is replaced only with ``overwrite``.

    Raises:
        ConfigError: unknown format, missing packages, or ``out`` already holds files and not ``overwrite``.
        RunDirError: the run is not trained or its files are damaged.
        LstmcliError: the export's probabilities differ from the NumPy path's by more than ``TOLERANCE``.
    """
    if export_format not in FORMATS:
        raise ConfigError(f"unknown format '{export_format}'; formats are: {', '.join(FORMATS)}")
    out = out or run.export_dir(export_format)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ConfigError(f"{out} already holds files; pass --overwrite to replace them, or another --out")
    _require(export_format)
    predictor = Predictor(run)
    stage = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        _write_graph(run, predictor, stage, export_format)
        texts = _check_texts(run, predictor)
        diff = _max_abs_diff(predictor, texts, stage, export_format)
        if not diff <= TOLERANCE:
            raise LstmcliError(
                f"the exported model's probabilities differ from lstmcli's by {diff:.2e} "
                f"(more than {TOLERANCE:.0e}); nothing was written. Please report this"
            )
        _write_sidecars(run, predictor, stage, export_format, diff, len(texts))
        _replace(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    size = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    return ExportResult(out, export_format, size, diff, len(texts))


def _require(export_format: str) -> None:
    """Raises ConfigError unless the packages the format needs are installed (found, not imported)."""
    missing = [name for name in EXTRAS.get(export_format, ()) if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"exporting to {export_format} needs {', '.join(missing)}; pip install {' '.join(missing)}")


def _network(predictor: Predictor) -> Any:
    """The Keras network that computes what the NumPy path computes.

    A staged run whose LSTM stage never beat the n-gram classifier publishes an LSTM whose output layer is
    all zeros; like the NumPy path, the export then holds the n-gram classifier alone (same probabilities).
    """
    from lstmcli.nn.backend import keras
    from lstmcli.nn.model import model_from_weights

    model = model_from_weights(predictor.weights, predictor.config, len(predictor.vocab), len(predictor.labels))
    ngrams = predictor.network.spec.ngram_classifier
    if not predictor.network.lstm_silent or ngrams is None:
        return model
    logits = model.get_layer(ngrams.output.layer).output
    output = keras.layers.Activation(predictor.config.output_activation, name=OUTPUT)(logits)  # softmax or sigmoid
    return keras.Model(model.inputs, output, name="lstmcli_ngrams")


def _write_graph(run: RunDir, predictor: Predictor, stage: Path, export_format: str) -> None:
    if export_format == "onnx":  # the graph ort builds for its engine, made standalone: ids in, as prepare pads them
        network = predictor.network
        model = ort.build(run.read_weights(), predictor.config, standalone=True, ngrams_only=network.lstm_silent)
        (stage / ONNX_FILE).write_bytes(model)
        return
    from lstmcli.nn.backend import tf

    signature = [tf.TensorSpec((None, None), tf.int32, name=INPUT)]
    model = _network(predictor)
    model.export(str(stage / SAVEDMODEL_VERSION), format="tf_saved_model", verbose=False, input_signature=signature)


def _check_texts(run: RunDir, predictor: Predictor) -> list[str]:
    """The validation texts (every prepare keeps them, a streamed one too), or, for a run prepared before
    ``val_texts.json`` was written, the vocabulary's tokens a few at a time."""
    try:
        texts = [text for text in run.read_val_texts() if text.strip()][:CHECK_TEXTS]
    except RunDirError:
        texts = []
    if not texts:
        tokens = predictor.vocab.tokens[2 : CHECK_TEXTS + 2]
        texts = [" ".join(tokens[i : i + 8]) for i in range(0, len(tokens), 8)] or ["a"]
    return texts


def feed_batches(ids: np.ndarray, config: Config) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Splits padded ids ``(n, max_len)`` into ``(rows, batch)`` as the export must be fed (see its README).

    Padded to ``max_len`` as prepare pads, unless the model was trained without masking on batches of one
    length: then each text goes in unpadded, with texts of its own length, as :class:`Predictor` runs it.
    """
    if config.mask or not config.length_grouped:
        for start in range(0, len(ids), CHECK_BATCH):
            rows = np.arange(start, min(start + CHECK_BATCH, len(ids)))
            yield rows, ids[rows]
        return
    lengths = np.count_nonzero(ids, axis=1)
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        keep = max(int(length), 1)
        yield rows, ids[rows, -keep:] if config.padding == "pre" else ids[rows, :keep]


def _max_abs_diff(predictor: Predictor, texts: list[str], stage: Path, export_format: str) -> float:
    """The largest difference between the export's probabilities and the NumPy path's on ``texts``."""
    ids = predictor.encode(texts)
    expected = predictor.proba_ids(ids)
    got = np.zeros_like(expected)
    run_batch = _runner(stage, export_format)
    for rows, batch in feed_batches(ids, predictor.config):
        got[rows] = run_batch(batch.astype(np.int32))
    return float(np.abs(got - expected).max())


def _runner(stage: Path, export_format: str) -> Any:
    if export_format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(stage / ONNX_FILE), providers=["CPUExecutionProvider"])
        return lambda batch: session.run([OUTPUT], {INPUT: batch})[0]
    from lstmcli.nn.backend import tf

    loaded = tf.saved_model.load(str(stage / SAVEDMODEL_VERSION))
    return lambda batch: loaded.serve(tf.constant(batch)).numpy()


def _write_sidecars(
    run: RunDir, predictor: Predictor, stage: Path, export_format: str, diff: float, checked: int
) -> None:
    run.copy_description(stage)
    config = predictor.config
    unpadded = not config.mask and config.length_grouped
    info = {
        "format": export_format,
        "file": ONNX_FILE if export_format == "onnx" else f"{SAVEDMODEL_VERSION}/",
        "input": {"name": INPUT, "dtype": "int32", "shape": ["batch", "steps"]},
        "output": {
            "name": OUTPUT if export_format == "onnx" else "output_0",
            "dtype": "float32",
            "shape": ["batch", len(predictor.labels)],
        },
        "labels": predictor.labels,
        "max_len": config.max_len,
        "padding": "none: each text unpadded, batched with texts of its length" if unpadded else config.padding,
        "truncating": config.truncating,
        "network": "n-gram classifier alone" if predictor.network.lstm_silent else "full",
        "multi_label": config.multi_label,  # a sigmoid per label, each label predicted at its threshold
        **(
            {"thresholds": dict(zip(predictor.labels, predictor.decider.cutoffs.tolist()))}
            if config.multi_label
            else {}
        ),
        "check": {"texts": checked, "max_abs_diff": diff, "tolerance": TOLERANCE},
        "versions": versions(),
    }
    write_json(stage / EXPORT_INFO, info)
    write_text(stage / "README.md", _readme(info, config))


def _replace(stage: Path, out: Path) -> None:
    """Renames the finished export into place; an old export is removed only once the new one is there."""
    out.parent.mkdir(parents=True, exist_ok=True)
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(stage, out)
    if old.is_dir():
        shutil.rmtree(old)
    elif old.exists():
        old.unlink()


def _readme(info: dict[str, Any], config: Config) -> str:
    """How to feed the export, with this run's own settings filled in."""
    onnx = info["format"] == "onnx"
    if info["padding"].startswith("none"):
        feeding = (
            "This model was trained without masking on batches of texts of one length: feed each text "
            "**unpadded** (its ids only), batching only texts with the same number of ids."
        )
    else:
        side = "front" if config.padding == "pre" else "end"
        feeding = (
            f"Pad every text with id 0 at the **{side}** (`padding: {config.padding}`) to `max_len` = "
            f"{config.max_len} ids"
            + (
                " (with masking, any common length that fits the longest text gives the same result)"
                if config.mask
                else ""
            )
            + "."
        )
    run_it = (ONNX_README if onnx else SAVEDMODEL_README).format(
        input=INPUT, output=info["output"]["name"], version=SAVEDMODEL_VERSION
    )
    return README.format(
        what="An ONNX model (`model.onnx`)" if onnx else f"A TensorFlow SavedModel (`{SAVEDMODEL_VERSION}/`)",
        n=len(info["labels"]),
        labels=json.dumps(info["labels"], ensure_ascii=False),
        max_len=config.max_len,
        truncating=config.truncating,
        cut="first" if config.truncating == "pre" else "last",
        feeding=feeding,
        input=INPUT,
        output=info["output"]["name"],
        run_it=run_it,
        diff=info["check"]["max_abs_diff"],
        checked=info["check"]["texts"],
        rows=MULTI_LABEL_ROWS if config.multi_label else "rows summing to 1",
    )


README = """# lstmcli export

{what} exported by `lstmcli export`: token ids in, class probabilities out.

| file | what |
|---|---|
| `config.json` | the run's settings: how text was cleaned and tokenized (`lowercase`, `tokenizer`, ...) |
| `vocab.txt` | one token per line; line *i* (from 0) is id *i*: 0 is padding, 1 the unknown token |
| `labels.json` | {n} class names: output column *i* is the probability of label *i*: {labels} |
| `export.json` | input and output names, shapes, `max_len`, padding, and the check below |

## Feeding it

1. Tokenize each text exactly as lstmcli does, with the settings in `config.json`. From Python, lstmcli does it:
   ```python
   from pathlib import Path
   from lstmcli.config import Config
   from lstmcli.text import OOV_ID, Vocabulary, pad, tokenize

   config = Config.from_json(Path("config.json").read_text(encoding="utf-8"))
   vocab = Vocabulary.from_text(Path("vocab.txt").read_text(encoding="utf-8"))
   ids = pad([vocab.ids(tokenize(text, config)) or [OOV_ID] for text in texts],
             config.max_len, config.padding, config.truncating)  # int32 (n, max_len)
   ```
2. Map tokens to ids with `vocab.txt`; a token not in it is id 1. A text with no tokens is `[1]`.
3. Keep at most `max_len` = {max_len} ids: a longer text loses its {cut} ids (`truncating: {truncating}`).
4. {feeding}

The input `{input}` is int32 `(batch, steps)`; the output `{output}` is float32 `(batch, {n})`, {rows}.

{run_it}
Checked at export: on {checked} validation texts the probabilities differ from `lstmcli predict`'s by at most
{diff:.2e}.
"""

MULTI_LABEL_ROWS = (
    "a sigmoid per label (each in [0, 1], not summing to 1): a text has each label whose probability reaches its "
    "threshold, chosen on validation in training (`thresholds` in `export.json`, `thresholds.json`)"
)

ONNX_README = """## ONNX Runtime

```python
import onnxruntime
session = onnxruntime.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
probabilities = session.run(["{output}"], {{"{input}": ids}})[0]
```
"""

SAVEDMODEL_README = """## TensorFlow Serving

The SavedModel is version `{version}/` of this directory (`serving_default` signature):

```sh
docker run -p 8501:8501 -v "$PWD:/models/lstmcli" -e MODEL_NAME=lstmcli tensorflow/serving
curl -d '{{"instances": [[0, 0, 0, 12, 7, 431]]}}' http://localhost:8501/v1/models/lstmcli:predict
```

From Python: `tf.saved_model.load("{version}").serve(tf.constant(ids))`, or the signature
`signatures["serving_default"]({input}=ids)["{output}"]`.
"""
