"""``predict``: label texts with a trained run, streaming in batches.

Nothing here imports TensorFlow: :mod:`lstmcli.nn.inference` (NumPy) or :mod:`lstmcli.nn.ort` (ONNX Runtime)
runs the network from the exported weights. ``LSTMCLI_ENGINE`` picks the engine: ``auto`` (the default) runs
NumPy until the predictor has labelled :data:`ONNX_ROWS` rows (:data:`CACHED_ONNX_ROWS` where the run holds the
ONNX graph, as training keeps it, or the user's cache does), then ONNX Runtime when it is installed and the
recurrent layers take part; ``numpy`` and ``onnx`` force one.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np

from lstmcli.config import Config
from lstmcli.decision import Decider
from lstmcli.errors import ConfigError, DataError, RunDirError
from lstmcli.nn import ort
from lstmcli.nn.inference import Network
from lstmcli.nn.spec import network_spec
from lstmcli.rundir import RunDir
from lstmcli.text.batching import cut, extents, length_batches, lengths_of
from lstmcli.text.encoder import Encoder
from lstmcli.text.tokens import check_tokenizer
from lstmcli.text.vocab import OOV_ID, Vocabulary

T = TypeVar("T")
BATCH = 2048  # texts read, labelled and written at a time: memory stays flat on any input size
SUB_BATCH = 256  # texts of similar length run through the network together
ENGINE_VARIABLE = "LSTMCLI_ENGINE"
ENGINES = ("auto", "numpy", "onnx")
# Rows "auto" labels in NumPy before it builds an ONNX Runtime session: about what a session costs (0.6 to 1 s,
# importing onnx most of it) over the time ONNX Runtime saves per row (10 to 40 us on sst2's default model, on a
# shared machine of two cores: 22,000 to 90,000 rows). A single text or a short file never pays it.
ONNX_ROWS = 50_000
# With the graph in the run or the cache (ort.engine_model), a session costs what importing onnxruntime and loading
# the graph cost, about 50 ms, a few thousand NumPy rows: "auto" then switches as soon as a batch is that large.
CACHED_ONNX_ROWS = 2_048
ONNX_SUB_BATCH = 64  # ONNX's recurrent operators compute padded steps too: smaller groups waste fewer
# A call of fewer rows (a server's batch of a few requests) is cut into at least this many groups, of no fewer
# than ONNX_MIN_GROUP rows: among 256 texts, groups of 64 span wider lengths than among 2,048 (sst2: 22% of the
# steps they compute are padding, against 3%; in groups of 32, 12%), and cost 52 us of CPU a text against 45 in
# groups of 32 (128 texts: 60 against 49 in groups of 16). A row's probabilities do not depend on its group.
ONNX_GROUPS, ONNX_MIN_GROUP = 8, 16


def engine_setting(engine: str | None = None) -> str:
    """``engine``, else ``$LSTMCLI_ENGINE``, else ``auto``, checked.

    Raises:
        ConfigError: not one of :data:`ENGINES`, or ``onnx`` without onnx and onnxruntime installed.
    """
    given = engine if engine is not None else os.environ.get(ENGINE_VARIABLE, "") or "auto"
    if given not in ENGINES:
        source = "engine" if engine is not None else ENGINE_VARIABLE
        raise ConfigError(f"{source} is '{given}'; engines are: {', '.join(ENGINES)}")
    if given == "onnx" and not ort.available():
        raise ConfigError(
            f"the onnx engine needs {' and '.join(ort.PACKAGES)}: pip install {' '.join(ort.PACKAGES)} "
            f"(or set {ENGINE_VARIABLE}=numpy)"
        )
    return given


def onnx_group_rows(rows: int) -> int:
    """Rows per group when ONNX Runtime labels ``rows`` rows: :data:`ONNX_SUB_BATCH`, or fewer for a call too
    small to fill :data:`ONNX_GROUPS` groups of it (never under :data:`ONNX_MIN_GROUP`)."""
    return max(min(ONNX_SUB_BATCH, rows // ONNX_GROUPS), min(ONNX_MIN_GROUP, ONNX_SUB_BATCH))


def cores() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@lru_cache(maxsize=2)
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers)


class _OneBlasThread:
    """Our two threads run small matrix products; BLAS threads on top of them only contend (and on a busy
    machine slow the forward pass down many times). Calls may overlap (a server labels two batches at once): BLAS
    stays at one thread until the last of them is done, not the first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._limiter: Any = None

    def __enter__(self) -> None:
        with self._lock:
            if not self._inside:
                self._limiter = _blas_controller().limit(limits=1, user_api="blas")
            self._inside += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._inside -= 1
            if not self._inside:
                self._limiter.restore_original_limits()


_single_threaded_blas = _OneBlasThread()


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    """The BLAS libraries loaded, found once: finding them reads the process's maps, a millisecond or more per
    call, which a server would pay on every batch (NumPy's BLAS is loaded with NumPy, before any forward pass)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class Predictor:
    """A trained run, loaded once: texts in, class probabilities out (a multi-label run's: a sigmoid per label).

    ``engine`` is ``auto``, ``numpy`` or ``onnx`` (see the module's docstring); None reads ``$LSTMCLI_ENGINE``.
    """

    def __init__(self, run: RunDir, engine: str | None = None) -> None:
        self.engine = engine_setting(engine)
        run.check("trained")
        self.config: Config = run.read_config()
        check_tokenizer(self.config.tokenizer)
        self.vocab: Vocabulary = run.read_vocab()
        self.labels: list[str] = run.read_labels()
        self.weights = run.read_weights()
        described = network_spec(self.config)
        missing = sorted(described.weight_names - set(self.weights))
        if missing:
            raise RunDirError(
                f"{run.path}: weights.npz does not match config.json (no {', '.join(missing)}); train the run again"
            )
        outputs = self.weights[described.output.bias].shape[0]
        if outputs != len(self.labels):
            raise DataError(
                f"{run.path}: the model has {outputs} outputs but {len(self.labels)} labels; train the run again"
            )
        self.network = self._check_fit(run)
        thresholds = run.read_thresholds() if self.config.multi_label else None
        per_label = np.asarray(thresholds["per_label"]) if thresholds else None
        if per_label is not None and len(per_label) != len(self.labels):
            raise RunDirError(f"{run.path}: thresholds.json does not fit labels.json; train the run again")
        self.decider = Decider(self.labels, self.config.multi_label, per_label)  # the run's labelling rule
        self.encoder = Encoder(self.config, self.vocab)
        self._rows = 0  # rows labelled so far: "auto" switches engines once they would have repaid a session
        self._warming = threading.Lock()  # calls from several threads (a server's) add their new ids one at a time
        self._cache_looked_up = False
        self._run = run
        self._graph: bytes | None = None  # the engine's graph as the run holds it, once looked up
        self._onnx = self._session() if self.engine == "onnx" else None

    @property
    def engine_in_use(self) -> str:
        """``onnx`` once the ONNX Runtime session is built (it then runs every row), else ``numpy``."""
        return "numpy" if self._onnx is None else "onnx"

    def engine_for(self, rows: int) -> Network | ort.OnnxNetwork:
        """The engine that runs the next ``rows`` rows, building the ONNX Runtime session when it is time.

        "auto" switches once the rows labelled before reach :data:`ONNX_ROWS`, a session's cost in NumPy rows (as
        one rents skis until the rent paid equals their price): a stream of any length costs at most about twice
        what the better choice for its length, unknown in advance, would have cost.
        """
        if self._onnx is None and self.engine == "auto" and (self._rows >= ONNX_ROWS or self._graph_cached(rows)):
            self._switch()
        self._rows += rows
        return self._onnx or self.network

    def _graph_cached(self, rows: int) -> bool:
        """Whether the next ``rows`` bring the stream to :data:`CACHED_ONNX_ROWS` with the engine's graph in the run
        or the cache (looked up once: digesting the weights it holds takes a millisecond or two)."""
        if self._rows + rows < CACHED_ONNX_ROWS or self._cache_looked_up:
            return False
        self._cache_looked_up = True
        if self.network.lstm_silent or not ort.available():
            return False
        self._graph = self._run_graph()
        path = ort.cached_path(self.weights, self.config) if self._graph is None else None
        return self._graph is not None or (path is not None and path.is_file())

    def _session(self) -> ort.OnnxNetwork:
        """The ONNX Runtime engine, from the run's graph where it holds one (else the cache's, or one built)."""
        if self._graph is None and not self._cache_looked_up:
            self._graph = self._run_graph()
        return ort.OnnxNetwork(self.weights, self.config, self.network, model=self._graph)

    def _run_graph(self) -> bytes | None:
        """The engine's graph the run holds, named by the config it holds; in a run of an earlier version, whose
        training named it by the batch size and rate it came to where config.json says auto (0), by those."""
        graph = self._run.read_engine_graph(ort.digest(self.weights, self.config))
        if graph is not None:
            return graph
        try:
            record = self._run.read_training()
            trained = None if record is None else self.config.replace(
                batch_size=self.config.batch_size or record.batch_size or 0,
                learning_rate=self.config.learning_rate or record.learning_rate or 0.0,
            )  # fmt: skip
        except (RunDirError, ConfigError):  # a damaged record names no graph; the model itself loaded
            return None
        if trained is None or trained == self.config:
            return None
        return self._run.read_engine_graph(ort.digest(self.weights, trained))

    def warm_up(self) -> None:
        """Builds now what a long-lived caller (a server) would otherwise build mid-stream: under "auto", the ONNX
        Runtime session (when onnxruntime is installed and the LSTM takes part), faster from the first text on."""
        if self._onnx is None and self.engine == "auto":
            self._switch()

    def _switch(self) -> None:
        """Auto's move to ONNX Runtime, decided once: it stays in NumPy when the LSTM is silent (NumPy then runs
        the n-gram classifier alone), without onnxruntime, or when a session fails (NumPy computes the same)."""
        if not self.network.lstm_silent and ort.available():
            try:
                self._onnx = self._session()
            except Exception:  # an onnxruntime that refuses the graph is no reason to stop labelling
                self._onnx = None
        self.engine = self.engine_in_use

    def _check_fit(self, run: RunDir) -> Network:
        """The NumPy network of the weights; raises RunDirError unless they fit the vocabulary and the config
        (files of one run)."""
        embedding = self.weights[network_spec(self.config).embedding.key]
        rows = embedding.shape[0] if embedding.ndim == 2 else -1
        if rows != len(self.vocab):
            raise RunDirError(
                f"{run.path}: vocab.txt has {len(self.vocab)} tokens but weights.npz embeds {rows}; "
                "the files come from different runs: train the run again"
            )
        try:  # one short text through the network: a layer that does not fit fails here, not mid-stream
            network = Network(self.weights, self.config)
            probs = network.proba(np.array([[OOV_ID, OOV_ID]], dtype=np.int32))
        except (ValueError, IndexError, KeyError) as exc:
            raise RunDirError(
                f"{run.path}: weights.npz does not fit config.json ({type(exc).__name__}); train the run again"
            ) from None
        if probs.shape != (1, len(self.labels)):
            raise RunDirError(
                f"{run.path}: weights.npz gives {probs.shape[-1]} outputs for {len(self.labels)} labels; "
                "train the run again"
            )
        return network

    def encode(self, texts: list[str]) -> np.ndarray:
        """Padded ids ``(n, max_len)`` built exactly as prepare built the training data."""
        return self.encoder.encode(texts)[0]

    def proba_ids(self, ids: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, n_classes)`` for padded ids ``(n, max_len)``.

        Rows run in groups of similar length, each cut to its longest row: with masking the result is
        the same as on the full padding, only faster (and a masked row may hold padding between its tokens,
        as explain's occluded copies do: a group is cut to its widest row's extent, from its first token to its
        last). Without masking, padding changes the result, so inference pads as training did: not at all after
        length-grouped training (each group holds texts of one length), else to ``max_len`` (a random batch's
        longest text is near it). Groups run on two threads in NumPy (which releases the GIL in its
        arithmetic), on a thread per core in ONNX Runtime (one session run per group, each on one thread: the
        groups are independent, where the threads of one run wait for each other at every step).
        """
        out = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        if not len(ids):
            return out
        network, config = self.engine_for(len(ids)), self.config
        if network is self.network:
            with self._warming:
                self.network.warm(ids)
        lengths = extents(ids, config.padding) if config.mask else lengths_of(ids)
        size = SUB_BATCH if network is self.network else onnx_group_rows(len(ids))
        batches = length_batches(lengths, size, same_length=not config.mask and config.length_grouped)
        full = not config.mask and not config.length_grouped

        def run(batch: tuple[np.ndarray, int]) -> None:
            rows, width = batch
            out[rows] = network.proba(cut(ids[rows], ids.shape[1] if full else width, config.padding))

        if len(ids) == 1:  # one row's products are vector products, which BLAS runs on one thread anyway
            run(batches[0])
            return out
        with _single_threaded_blas:
            if len(batches) == 1:
                run(batches[0])
            else:
                list(_pool(min(2, cores()) if network is self.network else cores()).map(run, batches))
        return out

    def proba(self, texts: list[str]) -> np.ndarray:
        return self.proba_ids(self.encode(texts))


@dataclass(frozen=True)
class Prediction:
    """One input text's result; ``text`` is None for an empty line (which still gets an output line)."""

    source: str
    text: str | None
    probabilities: np.ndarray | None  # (n_classes,), in the order of the run's labels
    label: str | None = None  # the most probable class
    probability: float | None = None  # its probability
    labels: tuple[str, ...] | None = None  # a multi-label run's: the labels that pass, most probable first


def predict_texts(predictor: Predictor, texts: Iterable[tuple[str, str]]) -> Iterator[Prediction]:
    """Labels ``(source, text)`` pairs in input order, ``BATCH`` at a time.

    Three stages overlap: a thread reads and encodes batch k+2 while another hands batch k+1 to the network and
    the caller writes batch k (the network's NumPy and ONNX Runtime release the GIL while they compute; written
    between batches, the rows left the network idle about 5 ms in every 60).
    """
    batches = _batches(texts)
    first = next(batches, None)
    if first is not None and len(first) < BATCH:  # the whole input: nothing to read ahead
        batch, filled, ids = _encoded(predictor, first)
        yield from _label_batch(predictor, batch, filled, predictor.proba_ids(ids))
    elif first is not None:
        encoded = _ahead(_encoded(predictor, batch) for batch in itertools.chain([first], batches))
        labelled = _ahead(_labelled(predictor, encoded), name="lstmcli-network")
        try:
            for batch, filled, probs in labelled:
                yield from _label_batch(predictor, batch, filled, probs)
        finally:
            labelled.close()


def _labelled(
    predictor: Predictor, encoded: Iterator[tuple[list[tuple[str, str]], list[int], np.ndarray]]
) -> Iterator[tuple[list[tuple[str, str]], list[int], np.ndarray]]:
    """Each encoded batch with its probabilities."""
    for batch, filled, ids in encoded:
        yield batch, filled, predictor.proba_ids(ids)


def _batches(items: Iterable[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, BATCH)):
        yield batch


def _encoded(predictor: Predictor, batch: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[int], np.ndarray]:
    """The batch, the rows that hold text (an empty line gets no probabilities), and their padded ids."""
    filled = [i for i, (_, text) in enumerate(batch) if text.strip()]
    texts = [batch[i][1] for i in filled]
    return batch, filled, predictor.encode(texts) if texts else np.zeros((0, predictor.config.max_len), np.int32)


_DONE = object()


def _ahead(items: Iterator[T], name: str = "lstmcli-encode") -> Generator[T, None, None]:
    """``items``, computed one ahead on a thread; an exception raised there is raised here, in its place.

    Closing the generator (a reader that stopped early) stops the thread after the item it is computing; once
    it has let go of ``items``, they are closed in turn (another ``_ahead`` among them stops its thread).
    """
    slots: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: Any, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                slots.put((item, error), timeout=0.1)
                return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed over to the consumer, which raises it
            put(None, exc)

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()


def _label_batch(
    predictor: Predictor, batch: list[tuple[str, str]], filled: list[int], probs: np.ndarray
) -> Iterator[Prediction]:
    labels = predictor.labels
    best = probs.argmax(axis=1) if len(filled) else np.zeros(0, np.int64)
    names = [labels[i] for i in best.tolist()]
    tops = probs[np.arange(len(filled)), best].tolist()
    multi = predictor.decider.multi_label
    row_of = dict(zip(filled, range(len(filled))))
    for i, (source, text) in enumerate(batch):
        j = row_of.get(i)
        if j is None:
            yield Prediction(source, None, None)
        else:
            row = probs[j]
            chosen = tuple(n for n, _ in predictor.decider.ranked(row)) if multi else None
            yield Prediction(source, text, row, names[j], tops[j], chosen)
