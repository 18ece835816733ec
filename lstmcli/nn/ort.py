"""The network's forward pass in ONNX Runtime, from the weights training exported.

A third engine beside Keras (:mod:`lstmcli.nn.model`, training) and NumPy (:mod:`lstmcli.nn.inference`): the
builders of :data:`ONNX`, one per block kind of :func:`lstmcli.nn.spec.network_spec`, add each block's nodes to
one ONNX graph, built with ``onnx.helper`` straight from weights.npz (no TensorFlow, no tf2onnx). Recurrent
layers become ONNX's own LSTM and GRU operators, which project every step's input in one matrix product and run
the steps in ONNX Runtime's vectorised kernels, ``sequence_lens`` leaving out a masked model's padding.

The engine's graph is time-major: ``ids`` ``(steps, n)`` int32, and ``lens`` ``(n,)`` int32 for a masked model,
whose rows :class:`OnnxNetwork` first packs to the front (a masked layer skips padding wherever it stands, so the
trunk sees the same steps). What is cheap gathers, NumPy computes and feeds in: the token vectors of those ids
(``embedded`` ``(steps, n, dim)``), and on the rows as given the staged n-gram classifier's logits
(``ngram_logits`` ``(n, classes)``) and the joint model's bag (``bag`` ``(n, features)``). The graph then holds
none of the large tables (the embedding, the n-gram tables): a few hundred kilobytes, read and loaded in a few
milliseconds.

``build(..., standalone=True)`` is the graph ``lstmcli export --format onnx`` writes, for any ONNX runtime: one
input, ``ids`` ``(n, steps)`` int32 as prepare pads them, and the same builders, the packing, the bag and the
n-gram classifier's logits computed in the graph itself.

onnx and onnxruntime are imported only here, inside the functions that need them: importing onnx takes about a
second (its ml_dtypes registers many NumPy types), so :class:`lstmcli.predictor.Predictor` builds a session only
where that pays: once it has labelled enough rows, or as a server starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.nn import spec
from lstmcli.nn.inference import HASH_MIXER, HASH_MULTIPLIER, HASH_PRIME, Network, Weights, bag
from lstmcli.text.batching import to_front

OPSET = 18  # ReduceMax and ReduceMean take their axes as an input from 18; onnxruntime >= 1.14 runs it
IR_VERSION = 8  # the oldest IR that opset 18 allows: read by every onnxruntime that runs the opset
PACKAGES = ("onnx", "onnxruntime")
ENGINE_FORMAT = 2  # raised when build() makes a different graph from the same weights: cached graphs are rebuilt
INPUTS = ("ids", "embedded", "lens", "bag", "ngram_logits")  # every input a graph may take, in this order
OUTPUT = "probabilities"
# Keras's activation names as the ONNX recurrent operators spell them; "linear" is Affine with alpha 1, beta 0.
RNN_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid", "linear": "Affine"}
DENSE_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid", "softmax": "Softmax", "linear": ""}


def cached_path(weights: Weights, config: Config) -> Path | None:
    """Where the engine's graph of these weights and this config is kept once built: the user's cache, under
    :func:`digest`, so that a retrained run never finds an old graph. None where the user has no cache folder to
    name (no home directory)."""
    from lstmcli.text.packaged import cache_root

    try:
        root = cache_root()
    except (RuntimeError, KeyError):  # Path.home() of a user the system does not know, without $HOME
        return None
    return root / "onnx" / f"{digest(weights, config)}.onnx"


def digest(weights: Weights, config: Config) -> str:
    """What names the engine's graph of these weights and this config: a digest of the weights the graph holds
    (not the tables NumPy reads to feed it, :func:`fed_weights`), the config and the graph's format. A few
    milliseconds: those weights are the recurrent and dense layers'."""
    hashed = hashlib.blake2b(digest_size=20)
    hashed.update(json.dumps([asdict(config), OPSET, IR_VERSION, ENGINE_FORMAT], sort_keys=True).encode())
    for name in sorted(set(weights) - fed_weights(config)):
        array = np.ascontiguousarray(weights[name])
        hashed.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        hashed.update(array.tobytes())
    return hashed.hexdigest()


def fed_weights(config: Config) -> set[str]:
    """The weights.npz arrays the engine's graph does not hold: NumPy reads them to compute its inputs (the token
    vectors, the bag, the n-gram classifier's logits)."""
    network = spec.network_spec(config)
    fed = {network.embedding.key}
    for block in network.blocks:
        if isinstance(block, spec.NgramBag):
            fed |= {block.tokens, block.table}
        elif isinstance(block, spec.NgramClassifier):
            fed |= {weight.key for weight in block.weights}
    return fed


def engine_model(weights: Weights, config: Config, rebuild: bool = False) -> bytes:
    """The engine's graph (:func:`build`), read from the cache when built before, else built and cached.

    Building imports onnx (about a second); reading the cache imports nothing. Where the cache cannot be
    written, the graph is built each time. ``rebuild``: built and cached again whatever the cache holds (a
    cached graph that onnxruntime refused).
    """
    path = cached_path(weights, config)
    if path is not None:
        forget_old_graphs(path.parent)
    if path is not None and not rebuild:
        with contextlib.suppress(OSError):
            return path.read_bytes()
    model = build(weights, config)
    if path is not None:
        _keep(path, model)
    return model


def forget_old_graphs(folder: Path) -> None:
    """Removes the graphs of earlier formats from the cache ``folder``, which nothing reads any more (their names
    digest another format): format 1's held the token embedding, 13 MB for 63,000 words. Done once a format: the
    file ``.format`` says which format the folder was last cleared for, so the graphs are read only then (which
    imports onnx, where there are graphs to read). A graph that cannot be read or removed is left as it is."""
    marker = folder / ".format"
    with contextlib.suppress(OSError):
        if marker.read_text(encoding="ascii").strip() == str(ENGINE_FORMAT):
            return
    graphs = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
    if graphs:
        import onnx

        for graph in graphs:
            with contextlib.suppress(Exception):  # onnx raises many types for a file that is not a graph
                if graph_format(onnx.load(str(graph), load_external_data=False)) < ENGINE_FORMAT:
                    graph.unlink()
    with contextlib.suppress(OSError):  # half written, it names no format: the folder is cleared again next time
        folder.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(ENGINE_FORMAT), encoding="ascii")


def graph_format(model: Any) -> int:
    """The :data:`ENGINE_FORMAT` of an engine's graph (an ``onnx.ModelProto``): 2 takes the token vectors as its
    ``embedded`` input, 1 gathered them from the embedding it held. (Raising the format means telling its graphs
    apart here.)"""
    return 2 if any(value.name == "embedded" for value in model.graph.input) else 1


def _keep(path: Path, model: bytes) -> None:
    """Writes ``model`` to ``path`` whole or not at all (another process may write the same graph at once); a
    write that fails or is interrupted removes its temporary file."""
    part: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as fh:
            part = Path(fh.name)
            fh.write(model)
        os.replace(part, path)  # whole or absent: a reader never sees half a graph
        part = None
    except OSError:
        pass
    finally:
        if part is not None:
            with contextlib.suppress(OSError):
                part.unlink()


def available() -> bool:
    """Whether onnx and onnxruntime are installed (found, not imported)."""
    return all(importlib.util.find_spec(name) is not None for name in PACKAGES)


@dataclass
class _Graph:
    """The graph so far: its nodes, initializers and inputs, and the name of the latest block's output ``x``.

    ``ids`` and ``lens`` name the time-major ids and the token counts the trunk reads; ``rows``, in a standalone
    graph, the ids as given ``(n, steps)``, from which the graph computes what NumPy feeds the engine's.
    """

    weights: Weights
    x: str = "ids"
    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    inputs: set[str] = field(default_factory=lambda: {"ids"})
    ids: str = "ids"
    lens: str = "lens"
    rows: str = ""
    _names: int = 0

    def name(self, stem: str) -> str:
        self._names += 1
        return f"{stem}_{self._names}"

    def constant(self, array: np.ndarray, stem: str = "const") -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def weight(self, key: str) -> str:
        """The weights.npz array ``key`` as an initializer of that name (added once)."""
        if all(init.name != key for init in self.initializers):
            from onnx import numpy_helper

            self.initializers.append(numpy_helper.from_array(np.asarray(self.weights[key], np.float32), key))
        return key

    def node(self, op: str, inputs: list[str], outputs: int = 1, **attributes: Any) -> Any:
        """Adds one ``op`` node; returns its output's name (a list of ``outputs`` names if more than one)."""
        from onnx import helper

        names = [self.name(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, **attributes))
        return names[0] if outputs == 1 else names

    def filled(self) -> str:
        """Bool ``(steps, n, 1)``: true at a token, false at padding (of packed rows: the steps past ``lens``)."""
        return self.unsqueezed(self.node("Not", [self.node("Equal", [self.ids, self.constant(np.array(0, np.int32))])]))

    def unsqueezed(self, x: str, axis: int = 2) -> str:
        return self.node("Unsqueeze", [x, self.constant(np.array([axis], np.int64))])

    def summed(self, x: str, axis: int) -> str:
        return self.node("ReduceSum", [x, self.constant(np.array([axis], np.int64))], keepdims=0)


def build(weights: Weights, config: Config, standalone: bool = False, ngrams_only: bool = False) -> bytes:
    """The serialised ONNX model of the network ``config`` describes, with ``weights`` (weights.npz's arrays).

    Args:
        standalone: the graph an export holds: its one input ``ids`` ``(n, steps)`` int32 as prepare pads them;
            otherwise the engine's, whose inputs are those of :data:`INPUTS` the network reads (see the module's
            docstring).
        ngrams_only: (standalone) the staged n-gram classifier alone, for a run whose LSTM's logits are all zero.

    Returns:
        The model; its output ``probabilities`` is ``(n, classes)`` float32.

    Raises:
        NotImplementedError: a block kind has no ONNX builder.
    """
    from onnx import TensorProto, helper

    graph = _Graph(weights)
    network = spec.network_spec(config)
    if standalone:
        _standalone_ids(graph, config.mask)
    ngrams = network.ngram_classifier
    if ngrams_only and ngrams is not None:
        activation = DENSE_ACTIVATIONS[ngrams.activation]  # softmax, or a multi-label run's sigmoid
        kwargs = {"axis": -1} if activation == "Softmax" else {}
        graph.x = graph.node(activation, [_ngram_logits(graph, ngrams)], **kwargs)
    else:
        for block in network.blocks:
            ONNX[block](block, graph)
    graph.nodes.append(helper.make_node("Identity", [graph.x], [OUTPUT]))
    shapes = {"ids": ["n", "steps"] if standalone else ["steps", "n"], "lens": ["n"], "bag": ["n", "features"]}
    shapes["embedded"] = ["steps", "n", "dim"]
    shapes["ngram_logits"] = ["n", "classes"]
    types = {"ids": TensorProto.INT32, "lens": TensorProto.INT32}
    inputs = [
        helper.make_tensor_value_info(name, types.get(name, TensorProto.FLOAT), shapes[name])
        for name in INPUTS
        if name in graph.inputs
    ]
    output = helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["n", "classes"])
    onnx_graph = helper.make_graph(graph.nodes, "lstmcli", inputs, [output], graph.initializers)
    model = helper.make_model(
        onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION, producer_name="lstmcli"
    )
    return bytes(model.SerializeToString())


def _standalone_ids(graph: _Graph, masked: bool) -> None:
    """The ids as the trunk reads them from the input ``(n, steps)``: time-major, and masked, each row's tokens
    moved to its front (as :func:`lstmcli.text.batching.to_front`) with their counts as ``lens``."""
    graph.rows = "ids"
    packed = graph.rows
    if masked:
        filled = graph.node("Not", [graph.node("Equal", [graph.rows, graph.constant(np.array(0, np.int32))])])
        counts = graph.summed(graph.node("Cast", [filled], to=6), 1)  # 6: INT32
        graph.lens = graph.node("Max", [counts, graph.constant(np.array(1, np.int32))])  # ONNX refuses length 0
        steps = graph.node("Gather", [graph.node("Shape", [graph.rows]), graph.constant(np.array(1, np.int64))])
        one, two = graph.constant(np.array(1, np.int64)), graph.constant(np.array(2, np.int64))
        positions = graph.node("Range", [graph.constant(np.array(0, np.int64)), steps, one])
        # Tokens first, each kind in order: the key of a token falls with its position, above every padding's.
        tokens_first = graph.node("Mul", [graph.node("Cast", [filled], to=7), graph.node("Mul", [steps, two])])  # INT64
        key = graph.node("Sub", [tokens_first, positions])
        k = graph.node("Reshape", [steps, graph.constant(np.array([1], np.int64))])
        order = graph.node("TopK", [key, k], 2, axis=1, largest=1, sorted=1)[1]
        packed = graph.node("GatherElements", [graph.rows, order], axis=1)
    graph.ids = graph.x = graph.node("Transpose", [packed], perm=[1, 0])


def _mean_rows(graph: _Graph, table: str) -> str:
    """The mean of the ``table`` rows each row's tokens pick ``(n, dim)``, as ``inference.pool``'s mean."""
    gathered = graph.node("Gather", [table, graph.rows])  # (n, steps, dim)
    filled = graph.node("Not", [graph.node("Equal", [graph.rows, graph.constant(np.array(0, np.int32))])])
    valid = graph.node("Cast", [graph.unsqueezed(filled)], to=1)  # 1: FLOAT
    return graph.node("Div", [graph.summed(graph.node("Mul", [gathered, valid]), 1), graph.summed(valid, 1)])


def _ngram_mean(graph: _Graph, table: str, block: spec.NgramBag) -> str:
    """The mean ``table`` row of every hashed n-gram, n = 2..order, ``(n, dim)``, as ``inference.ngram_bag``."""
    ids = graph.node("Cast", [graph.rows], to=7)  # 7: INT64
    total = count = ""
    for n in range(2, block.order + 1):
        grams, valid = _hashed_ngrams(graph, ids, n, block)
        valid = graph.node("Cast", [graph.unsqueezed(valid)], to=1)
        found = graph.summed(graph.node("Mul", [graph.node("Gather", [table, grams]), valid]), 1)
        total = graph.node("Add", [total, found]) if total else found
        count = graph.node("Add", [count, graph.summed(valid, 1)]) if count else graph.summed(valid, 1)
    return graph.node("Div", [total, graph.node("Max", [count, graph.constant(np.array(1.0, np.float32))])])


def _hashed_ngrams(graph: _Graph, ids: str, n: int, block: spec.NgramBag) -> tuple[str, str]:
    """``inference.hashed_ngrams`` in int64 nodes: the bucket of each run of ``n`` ids ``(n, steps - n + 1)``, 0
    where one is padding, and where none is."""

    def part(k: int) -> str:  # ids[:, k : steps - (n - 1 - k)]
        end = -(n - 1 - k) if n - 1 - k else np.iinfo(np.int64).max
        bounds = [graph.constant(np.array([v], np.int64)) for v in (k, end, 1)]
        return graph.node("Slice", [ids, bounds[0], bounds[1], bounds[2]])

    def const(value: int) -> str:
        return graph.constant(np.array(value, np.int64))

    zero = const(0)
    hashed = part(0)
    valid = graph.node("Greater", [hashed, zero])
    for k in range(1, n):
        nxt = part(k)
        if block.hashing == "linear":
            hashed = graph.node("Add", [graph.node("Mul", [hashed, const(HASH_MULTIPLIER)]), nxt])
        else:
            mixed = graph.node("Mul", [graph.node("Add", [hashed, const(1)]), const(HASH_MIXER)])
            mixed = graph.node("Mod", [graph.node("Add", [mixed, nxt]), const(HASH_PRIME)])
            hashed = graph.node("Mod", [graph.node("Mul", [mixed, mixed]), const(HASH_PRIME)])
        valid = graph.node("And", [valid, graph.node("Greater", [nxt, zero])])
    bucket = graph.node("Add", [graph.node("Mod", [hashed, const(block.buckets)]), const(1)])
    return graph.node("Where", [valid, bucket, zero]), valid


def _ngram_logits(graph: _Graph, block: spec.NgramClassifier) -> str:
    """The staged n-gram classifier's logits ``(n, classes)``, as ``Network.ngram_logits``: linear in the mean
    token and the mean n-gram embedding, so each table row carries its logits."""
    weights, bag = graph.weights, block.bag
    kernel = weights[block.output.kernel]
    split = weights[bag.tokens].shape[1]
    words = _mean_rows(graph, graph.constant(weights[bag.tokens] @ kernel[:split], "token_logits"))
    ngrams = _ngram_mean(graph, graph.constant(weights[bag.table] @ kernel[split:], "ngram_logits"), bag)
    return graph.node("Add", [graph.node("Add", [words, ngrams]), graph.weight(block.output.bias)])


# Each builder adds the ONNX nodes of one kind of spec block after ``graph.x``; ``inference.NUMPY`` runs them too.
ONNX = spec.Engine("ONNX")


@ONNX.implements(spec.Embedding)
def _embedding(block: spec.Embedding, graph: _Graph) -> None:
    """The token vectors ``(steps, n, dim)``: an input of the engine's graph (NumPy gathers them), gathered by a
    standalone graph."""
    if graph.rows:
        graph.x = graph.node("Gather", [graph.weight(block.key), graph.x])
    else:
        graph.inputs.add("embedded")
        graph.x = "embedded"


@ONNX.implements(spec.SpatialDropout, spec.Dropout)
def _dropout(block: spec.Block, graph: _Graph) -> None:
    """Identity at inference."""


@ONNX.implements(spec.Recurrent)
def _recurrent(block: spec.Recurrent, graph: _Graph) -> None:
    """ONNX's LSTM or GRU over ``(steps, n, features)``; its outputs laid out as Keras's (forward units first)."""
    lstm = block.cell == "lstm"
    directions = block.directions
    kernel, recurrent, bias = (
        np.stack([_gates(graph.weights[block.key(d, part)], lstm) for d in directions])
        for part in ("kernel", "recurrent", "bias")
    )
    if lstm:  # Keras adds one bias; ONNX adds an input bias and a recurrent bias
        bias = np.concatenate([bias, np.zeros_like(bias)], axis=-1)
    else:  # reset_after: Keras's (2, 3 units), the input half then the recurrent half
        bias = bias.reshape(len(directions), -1)
    if block.masked and not graph.rows:
        graph.inputs.add("lens")
    names = [graph.constant(kernel.transpose(0, 2, 1), "W"), graph.constant(recurrent.transpose(0, 2, 1), "R")]
    inputs = [graph.x, *names, graph.constant(bias, "B"), graph.lens if block.masked else ""]
    outputs = graph.node("LSTM" if lstm else "GRU", inputs, 2, **_rnn_attributes(block))
    if block.return_sequences:  # Y (steps, directions, n, units) to (steps, n, directions * units)
        steps = graph.node("Transpose", [outputs[0]], perm=[0, 2, 1, 3])
        graph.x = graph.node("Reshape", [steps, graph.constant(np.array([0, 0, -1], np.int64))])
    else:  # Y_h (directions, n, units) to (n, directions * units)
        final = graph.node("Transpose", [outputs[1]], perm=[1, 0, 2])
        graph.x = graph.node("Reshape", [final, graph.constant(np.array([0, -1], np.int64))])


def _gates(array: np.ndarray, lstm: bool) -> np.ndarray:
    """Keras's gate blocks along the last axis in ONNX's order: LSTM i, f, c, o to i, o, f, c (GRU z, r, h as is)."""
    if not lstm:
        return array
    i, f, c, o = np.split(array, 4, axis=-1)
    return np.concatenate([i, o, f, c], axis=-1)


def _rnn_attributes(block: spec.Recurrent) -> dict[str, Any]:
    """The operator's attributes: Keras's sigmoid gates, and its ``activation`` for the candidate (and the
    LSTM's output); a GRU applies its reset gate after the recurrent product, as Keras's ``reset_after``."""
    activation = RNN_ACTIVATIONS[block.activation]
    per_direction = ["Sigmoid", activation, activation] if block.cell == "lstm" else ["Sigmoid", activation]
    activations = per_direction * len(block.directions)
    attributes: dict[str, Any] = {
        "hidden_size": block.units,
        "direction": "bidirectional" if block.bidirectional else "forward",
        "activations": activations,
    }
    affine = activations.count("Affine")
    if affine:
        attributes.update(activation_alpha=[1.0] * affine, activation_beta=[0.0] * affine)
    if block.cell == "gru":
        attributes["linear_before_reset"] = 1
    return attributes


@ONNX.implements(spec.Pooling)
def _pooling(block: spec.Pooling, graph: _Graph) -> None:
    """As ``inference.pool``, over the steps (axis 0); masked, the padding is left out."""
    axis, filled = graph.constant(np.array([0], np.int64)), graph.filled() if block.masked else ""
    pooled = []
    if block.mode in ("max", "maxmean"):
        x = graph.x
        if block.masked:
            x = graph.node("Where", [filled, x, graph.constant(np.array(-1e9, np.float32))])
        # (n, features, steps) for GlobalMaxPool: onnxruntime's ReduceMax over the first axis is several times
        # slower than this transpose and pool (and its optimizer turns a ReduceMax over the last axis back).
        steps_last = graph.node("GlobalMaxPool", [graph.node("Transpose", [x], perm=[1, 2, 0])])
        pooled.append(graph.node("Reshape", [steps_last, graph.constant(np.array([0, -1], np.int64))]))
    if block.mode in ("mean", "maxmean"):
        if block.masked:
            valid = graph.node("Cast", [filled], to=1)  # 1: FLOAT
            total = graph.node("ReduceSum", [graph.node("Mul", [graph.x, valid]), axis], keepdims=0)
            pooled.append(graph.node("Div", [total, graph.node("ReduceSum", [valid, axis], keepdims=0)]))
        else:
            pooled.append(graph.node("ReduceMean", [graph.x, axis], keepdims=0))
    graph.x = pooled[0] if len(pooled) == 1 else graph.node("Concat", pooled, axis=-1)


@ONNX.implements(spec.NgramBag)
def _ngram_bag(block: spec.NgramBag, graph: _Graph) -> None:
    """The bag (``inference.bag``) is an input, computed in NumPy on the rows as given (in a standalone graph, by
    the graph)."""
    features = "bag"
    if graph.rows:
        words = _mean_rows(graph, graph.weight(block.tokens))
        features = graph.node("Concat", [words, _ngram_mean(graph, graph.weight(block.table), block)], axis=-1)
    else:
        graph.inputs.add("bag")
    graph.x = graph.node("Concat", [graph.x, features], axis=-1) if block.beside_trunk else features


@ONNX.implements(spec.Dense)
def _dense(block: spec.Dense, graph: _Graph) -> None:
    product = graph.node("MatMul", [graph.x, graph.weight(block.kernel)])
    graph.x = graph.node("Add", [product, graph.weight(block.bias)])
    activation = DENSE_ACTIVATIONS[block.activation]
    if activation:
        graph.x = graph.node(activation, [graph.x], **({"axis": -1} if activation == "Softmax" else {}))


@ONNX.implements(spec.NgramClassifier)
def _ngram_classifier(block: spec.NgramClassifier, graph: _Graph) -> None:
    """The n-gram classifier's logits are an input (``Network.ngram_logits``; in a standalone graph, computed by
    the graph), added to the trunk's; then the output's softmax (one label) or sigmoid (several)."""
    logits = _ngram_logits(graph, block) if graph.rows else "ngram_logits"
    if not graph.rows:
        graph.inputs.add("ngram_logits")
    summed = graph.node("Add", [graph.x, logits])
    activation = DENSE_ACTIVATIONS[block.activation]
    graph.x = graph.node(activation, [summed], **({"axis": -1} if activation == "Softmax" else {}))


class OnnxNetwork:
    """The trained network in an ONNX Runtime session: padded ids in, probabilities out, as :meth:`Network.proba`.

    ``network`` (the NumPy pass of the same weights) computes what the graph takes as inputs, and the rows
    without any token, which ONNX's recurrent operators refuse (``sequence_lens`` 0).
    """

    def __init__(
        self, weights: Weights, config: Config, network: Network, threads: int = 1, model: bytes | None = None
    ) -> None:
        """``model``: the engine's graph of these weights as the run holds it; None: from the cache, or built."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.log_severity_level = 3  # errors only: a pipeline's stderr stays clean
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # threads > 1, a busy machine: wait
        try:
            self.session = onnxruntime.InferenceSession(
                model or engine_model(weights, config), options, providers=["CPUExecutionProvider"]
            )
        except Exception:  # a graph damaged on disk: built again (a graph onnxruntime refuses fails again)
            model = engine_model(weights, config, rebuild=True)
            self.session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.network, self.config = network, config
        self.embedding = np.asarray(weights[network.spec.embedding.key], dtype=np.float32)
        self.classes = weights[network.spec.output.bias].shape[0]

    def proba(self, ids: np.ndarray) -> np.ndarray:
        """Class probabilities for padded ids.

        Args:
            ids: int array ``(n, steps)``; 0 is padding (for a masked model, anywhere in a row).

        Returns:
            float32 array ``(n, n_classes)``, rows summing to 1.
        """
        ids = np.asarray(ids, dtype=np.int32)
        if not self.config.mask:
            return self._run(ids, ids, None)
        packed, lengths = to_front(ids)
        empty = lengths == 0
        if not empty.any():
            return self._run(ids, packed, lengths)
        out = np.empty((len(ids), self.classes), np.float32)
        out[empty] = self.network.proba(ids[empty])
        if not empty.all():
            out[~empty] = self._run(ids[~empty], packed[~empty], lengths[~empty])
        return out

    def _run(self, ids: np.ndarray, packed: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
        """Runs the session on ``packed`` (the rows' ids as the trunk reads them), NumPy's inputs from ``ids``."""
        trunk_ids = np.ascontiguousarray(packed.T)
        feeds = {"ids": trunk_ids}
        if "embedded" in self.inputs:
            feeds["embedded"] = self.embedding[trunk_ids]
        if lengths is not None:
            feeds["lens"] = lengths
        if "ngram_logits" in self.inputs:
            feeds["ngram_logits"] = self.network.ngram_logits(ids).astype(np.float32, copy=False)
        if "bag" in self.inputs:
            block = next(b for b in self.network.spec.blocks if isinstance(b, spec.NgramBag))
            weights = self.network.weights
            feeds["bag"] = bag(ids, weights[block.tokens], weights[block.table], block).astype(np.float32, copy=False)
        return np.asarray(self.session.run([OUTPUT], feeds)[0])
