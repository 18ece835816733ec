"""The network, described once: the blocks a config builds, in order, each with its weights and Keras layer names.

Every engine walks this one description: :mod:`lstmcli.nn.model` builds the Keras layers from it and exports
their weights by it, :mod:`lstmcli.nn.inference` runs it in NumPy and checks a weights file against it, and
:mod:`lstmcli.nn.ort` builds an ONNX graph from it. Adding a layer kind means a block class here, a line in
:func:`network_spec`, and one builder per engine.

The names are those of every earlier version (weights.npz keys and Keras layer names), so old runs keep loading.
Pure Python: no TensorFlow, no NumPy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, get_args

from lstmcli.config import Config

F = TypeVar("F", bound=Callable[..., Any])
# The network's input (padded token ids) and output (the probabilities): the names its Keras model, its ONNX
# graph and an export of it give them.
INPUT, OUTPUT = "ids", "probabilities"


@dataclass(frozen=True)
class Weight:
    """One array of weights.npz and where the Keras model keeps it.

    Attributes:
        key: its name in weights.npz.
        layer: the Keras layer that holds it.
        index: its position in that layer's ``get_weights()``.
        inner: the attribute of the layer that owns the weights ("" for the layer itself): a ``Bidirectional``'s
            ``forward_layer``/``backward_layer``, a ``BigramBag``'s ``embedding``.
    """

    key: str
    layer: str
    index: int
    inner: str = ""


class _OneLayer:
    """A block that is one Keras layer, named ``layer`` ("" leaves Keras to name it)."""

    layer: str

    @property
    def layers(self) -> tuple[str, ...]:
        return (self.layer,) if self.layer else ()


class _Weightless:
    """A block without weights."""

    @property
    def weights(self) -> tuple[Weight, ...]:
        return ()


@dataclass(frozen=True)
class Embedding(_OneLayer):
    """Token ids ``(n, steps)`` to vectors ``(n, steps, dim)``; with ``mask_zero`` id 0 is padding downstream."""

    layer: str
    vocab_size: int
    dim: int
    mask_zero: bool
    trainable: bool = True  # False: the vectors it starts from stay as they are (``--freeze-embeddings``)

    @property
    def key(self) -> str:
        return self.layer

    @property
    def weights(self) -> tuple[Weight, ...]:
        return (Weight(self.key, self.layer, 0),)


@dataclass(frozen=True)
class SpatialDropout(_Weightless):
    """Drops whole embedding channels in training (an unnamed Keras layer); identity at inference."""

    rate: float
    layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dropout(_OneLayer, _Weightless):
    """Drops units in training; identity at inference. ``layer`` "" leaves Keras to name it."""

    rate: float
    layer: str = ""


@dataclass(frozen=True)
class Recurrent(_OneLayer):
    """One LSTM or GRU layer, optionally bidirectional (forward outputs first, then backward).

    Input ``(n, steps, features)``; output ``(n, steps, directions * units)`` if ``return_sequences`` else the
    final states ``(n, directions * units)``. ``masked``: padded steps keep the state (and output zeros).
    """

    layer: str
    index: int
    cell: str
    units: int
    bidirectional: bool
    activation: str
    return_sequences: bool
    masked: bool

    @property
    def directions(self) -> tuple[str, ...]:
        return ("fw", "bw") if self.bidirectional else ("fw",)

    def key(self, direction: str, part: str) -> str:
        """The weights.npz name of ``part`` ("kernel", "recurrent" or "bias") of one direction ("fw", "bw")."""
        return f"{self.layer}_{direction}_{part}"

    @property
    def weights(self) -> tuple[Weight, ...]:
        inner = {"fw": "forward_layer", "bw": "backward_layer"} if self.bidirectional else {"fw": ""}
        return tuple(
            Weight(self.key(d, part), self.layer, index, inner[d])
            for d in self.directions
            for index, part in enumerate(("kernel", "recurrent", "bias"))
        )


@dataclass(frozen=True)
class Pooling(_Weightless):
    """The last layer's outputs over time ``(n, steps, f)`` to one vector: ``max``, ``mean`` or ``maxmean``
    (max beside mean, ``(n, 2 f)``); ``masked``: padded steps are left out."""

    mode: str
    masked: bool
    # The Keras layers (class attributes, not fields): the max, the mean, and their Concatenate.
    max_layer, mean_layer, join_layer = "pool_max", "pool_mean", "pool"

    @property
    def layers(self) -> tuple[str, ...]:
        return {
            "max": (self.max_layer,),
            "mean": (self.mean_layer,),
            "maxmean": (self.join_layer, self.max_layer, self.mean_layer),
        }[self.mode]


@dataclass(frozen=True)
class NgramBag:
    """The fastText-style bag: the mean token embedding beside the mean hashed n-gram embedding (n = 2..order).

    Reads the ids and the vectors of the ``tokens`` embedding (an earlier block's); its own weights are the
    n-gram ``table`` ``(buckets + 1, dim)``, row 0 for padding. ``beside_trunk``: the bag is concatenated after
    the trunk's features (joint mode) instead of being the whole output (the staged classifier).
    """

    words_layer: str
    layer: str
    concat_layer: str
    tokens: str
    table: str
    buckets: int
    dim: int
    order: int
    hashing: str
    beside_trunk: bool

    @property
    def weights(self) -> tuple[Weight, ...]:
        return (Weight(self.table, self.layer, 0, "embedding"),)

    @property
    def layers(self) -> tuple[str, ...]:
        return (self.words_layer, self.layer, self.concat_layer)


@dataclass(frozen=True)
class Dense(_OneLayer):
    """``activation(x @ kernel + bias)``; ``zero_kernel`` starts the kernel at zero (the staged LSTM's logits)."""

    layer: str
    units: int
    activation: str
    zero_kernel: bool = False

    @property
    def kernel(self) -> str:
        return f"{self.layer}_kernel"

    @property
    def bias(self) -> str:
        return f"{self.layer}_bias"

    @property
    def weights(self) -> tuple[Weight, ...]:
        return (Weight(self.kernel, self.layer, 0), Weight(self.bias, self.layer, 1))


class _Group:
    """Blocks made of blocks (the whole spec is one): their weights and named layers, member by member."""

    @property
    def members(self) -> tuple[Block, ...]:
        raise NotImplementedError

    @property
    def weights(self) -> tuple[Weight, ...]:
        return tuple(w for block in self.members for w in block.weights)

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(name for block in self.members for name in block.layers)


@dataclass(frozen=True)
class NgramClassifier(_Group):
    """The staged n-gram classifier beside the trunk, and the sum that joins them.

    A linear classifier (``output``) over the bag of its own token ``embedding``. The network's output is
    ``softmax(ngram logits + trunk logits)``, each part's weight folded into its output layer. (Earlier runs
    have a ``BranchDropout`` layer before the sum, identity at inference; nothing reads it.)
    """

    embedding: Embedding
    bag: NgramBag
    dropout: Dropout | None
    output: Dense
    activation: str = "softmax"  # of the sum: "sigmoid" for a multi-label run, a probability per label
    logits_layer: str = "logits"
    probabilities_layer: str = OUTPUT

    @property
    def members(self) -> tuple[Block, ...]:
        """The blocks from ids to the n-gram logits, in order."""
        return (self.embedding, self.bag, *((self.dropout,) if self.dropout else ()), self.output)

    @property
    def layers(self) -> tuple[str, ...]:
        return super().layers + (self.logits_layer, self.probabilities_layer)


Block = Embedding | SpatialDropout | Recurrent | Dropout | Pooling | NgramBag | Dense | NgramClassifier
BLOCK_KINDS: tuple[type, ...] = get_args(Block)


class Engine:
    """One engine's implementation of each block kind (the Keras builder, the NumPy forward pass, the ONNX graph)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.implementations: dict[type, Callable[..., Any]] = {}

    def implements(self, *kinds: type) -> Callable[[F], F]:
        """Decorator: the function implements these block kinds in this engine."""

        def register(function: F) -> F:
            self.implementations.update(dict.fromkeys(kinds, function))
            return function

        return register

    def __getitem__(self, block: Block) -> Callable[..., Any]:
        try:
            return self.implementations[type(block)]
        except KeyError:
            kind = type(block).__name__
            raise NotImplementedError(f"the {self.name} engine has no implementation of {kind} blocks") from None


@dataclass(frozen=True)
class NetworkSpec(_Group):
    """The blocks of the network, from the ids to the class probabilities."""

    blocks: tuple[Block, ...]

    @property
    def members(self) -> tuple[Block, ...]:
        return self.blocks

    @property
    def weight_names(self) -> frozenset[str]:
        """The keys of weights.npz."""
        return frozenset(w.key for w in self.weights)

    @property
    def layer_names(self) -> frozenset[str]:
        """The Keras layers the spec names (dropouts in the trunk are left for Keras to name)."""
        return frozenset(self.layers)

    @property
    def embedding(self) -> Embedding:
        return next(b for b in self.blocks if isinstance(b, Embedding))

    @property
    def frozen_layers(self) -> frozenset[str]:
        """The Keras layers that never train (``--freeze-embeddings``)."""
        return frozenset(b.layer for b in self.blocks if isinstance(b, Embedding) and not b.trainable)

    @property
    def recurrent(self) -> tuple[Recurrent, ...]:
        return tuple(b for b in self.blocks if isinstance(b, Recurrent))

    @property
    def output(self) -> Dense:
        """The trunk's last dense layer: the output (its logits, when an n-gram classifier is added to them)."""
        return [b for b in self.blocks if isinstance(b, Dense)][-1]

    @property
    def ngram_classifier(self) -> NgramClassifier | None:
        return next((b for b in self.blocks if isinstance(b, NgramClassifier)), None)


def network_spec(config: Config, vocab_size: int = 0, n_classes: int = 0) -> NetworkSpec:
    """The network ``config`` describes, block by block.

    Args:
        config: the architecture settings.
        vocab_size: rows of the token embeddings; only the Keras builder reads it (0 where unknown: names do not
            depend on it, and the NumPy pass reads shapes from the weights).
        n_classes: units of the output layers, likewise.
    """
    blocks: list[Block] = [
        Embedding("embedding", vocab_size, config.embedding_size, config.mask, not config.freeze_embeddings)
    ]
    if config.spatial_dropout:
        blocks.append(SpatialDropout(config.spatial_dropout))
    blocks += _recurrent_layers(config)
    if config.pooling != "last":
        blocks.append(Pooling(config.pooling, config.mask))
    if config.ngram_buckets and not config.staged_ngrams:
        # Bag of words and of word n-grams beside the LSTM: strong on topic-like tasks and small data.
        blocks.append(_bag(config, "pool_words", "bigrams", "features", "embedding", "bigram_embedding", True))
    if config.dropout:
        blocks.append(Dropout(config.dropout))
    if config.dense_units:
        blocks.append(Dense("hidden", config.dense_units, config.dense_activation))
        if config.dropout:
            blocks.append(Dropout(config.dropout))
    if config.staged_ngrams:
        blocks.append(Dense("output", n_classes, "linear", zero_kernel=True))
        blocks.append(_ngram_classifier(config, vocab_size, n_classes))
    else:
        blocks.append(Dense("output", n_classes, config.output_activation))
    return NetworkSpec(tuple(blocks))


def _recurrent_layers(config: Config) -> list[Block]:
    """``rnn_0``, ``rnn_1``...: every layer but the last returns sequences (the last too unless it is pooled
    by its final state), with dropout between layers."""
    blocks: list[Block] = []
    for i, units in enumerate(config.units):
        last = i == len(config.units) - 1
        recurrent = Recurrent(
            layer=f"rnn_{i}",
            index=i,
            cell=config.cell,
            units=units,
            bidirectional=config.bidirectional,
            activation=config.activation,
            return_sequences=not last or config.pooling != "last",
            masked=config.mask,
        )
        blocks.append(recurrent)
        if config.dropout and not last:
            blocks.append(Dropout(config.dropout))
    return blocks


def _bag(config: Config, words: str, layer: str, concat: str, tokens: str, table: str, beside: bool) -> NgramBag:
    return NgramBag(
        words, layer, concat, tokens, table, config.ngram_buckets, config.ngram_dim, config.ngram_order,
        config.ngram_hash, beside,
    )  # fmt: skip


def _ngram_classifier(config: Config, vocab_size: int, n_classes: int) -> NgramClassifier:
    return NgramClassifier(
        embedding=Embedding("ngram_embedding", vocab_size, config.embedding_size, False),
        bag=_bag(config, "ngram_words", "ngrams", "ngram_features", "ngram_embedding", "ngram_table", False),
        dropout=Dropout(config.dropout, "ngram_dropout") if config.dropout else None,
        output=Dense("ngram_output", n_classes, "linear"),
        activation=config.output_activation,
    )
