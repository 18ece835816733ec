"""The run directory: every artifact's name, and how each is written (atomically) and read (validated).

Later commands only read what earlier ones wrote here. Writes go to a temporary file that is renamed into
place, so a crash leaves the old artifact or the new one, never half of one. No other module builds a path
inside a run: every file name is declared here, and :class:`RunDir` has a typed method for each artifact.
What a command decided is recorded, not derived again by the next: prepare's split kind in ``prepare.json``,
training's best epoch and its monitor in ``training.json``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import glob
import hashlib
import json
import os
import platform
import shutil
import time
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lstmcli.config import Config
from lstmcli.errors import USER_ERRNOS, ConfigError, DataError, RunDirError, os_error_message
from lstmcli.text.vocab import Vocabulary

DEFAULT_RUN_DIR = "lstmcli-run"
RUN_DIR_ENV = "LSTMCLI_RUN_DIR"
# The one format number of a run directory, in manifest.json; bumped when a run directory written by this
# version cannot be read by an older one. Files added since format 1 (training.json) are optional: a run
# without them reads as before. The shard index once carried a "format" of its own, 1; it is ignored.
# Format 2: weights.npz and data/embeddings_moved.npz may keep a matrix halved (_halved), which format 1 cannot read;
# a run trained by this version is of format 2 whoever prepared it.
FORMAT = 2

CONFIG = "config.json"
VOCAB = "vocab.txt"
LABELS = "labels.json"
MANIFEST = "manifest.json"
PREPARE_REPORT = "prepare.json"
DATA_DIR = "data"
ARRAYS = ("train_x", "train_y", "val_x", "val_y")
VAL_TEXTS = "val_texts.json"
EMBEDDINGS = "embeddings.npy"  # under data/: the start vectors (--embeddings, --unlabeled) of a new model's embeddings
EMBEDDINGS_FOUND = "embeddings_found.npy"  # under data/: which rows of them a source gave (the others are random)
# Under data/, once a model is published: the rows of the start vectors that training moved, the others being
# the published embeddings' own rows in weights.npz (for pretrained vectors, most of them: words no training
# text holds), so that a trained run holds each vector once. It replaces embeddings.npy.
EMBEDDINGS_MOVED = "embeddings_moved.npz"
SHARDS_DIR = f"{DATA_DIR}/shards"  # a streamed prepare's arrays: .npy shards per part, listed in the index
SHARD_INDEX = f"{SHARDS_DIR}/index.json"
SHARD_PARTS = ("train", "val")
SPILL_DIR = ".spill"  # under data/: a streamed prepare's first-pass token ids, removed by its second pass
MODEL = "model.keras"  # the published Keras model, written by earlier versions: weights.npz holds the network
WEIGHTS = "weights.npz"
# The ONNX Runtime engine's graph of weights.npz (lstmcli.nn.ort), built when a model is published: under engine/,
# named by the digest of what it is built from, so that prediction never takes a graph of other weights.
ENGINE_DIR = "engine"
HISTORY = "history.json"
TRAINING = "training.json"  # what the training that published the model decided: its best epoch and monitor
METRICS = "metrics.json"
THRESHOLDS = "thresholds.json"  # a multi-label run's decision thresholds, chosen on validation
CONFUSION_PNG = "confusion_matrix.png"  # evaluate --plots
CURVES_PNG = "training_curves.png"  # evaluate --plots
PER_LABEL_PNG = "per_label.png"  # evaluate --plots of a multi-label run, where the confusion matrix stands otherwise
REPORT = "report.html"  # lstmcli report's default --out
FIGURES = (CONFUSION_PNG, CURVES_PNG, PER_LABEL_PNG)
CHECKPOINT_DIR = "checkpoint"
LAST_MODEL = "last.keras"  # under checkpoint/: the last epoch's model with its optimizer, for --resume
BEST_MODEL = "best.keras"  # under checkpoint/: the best epoch's model so far, published as weights.npz
TRAIN_STATE = "state.json"
# Under checkpoint/: a staged training's stage optimizer (Adam's step count and moments), which last.keras lacks: the
# stage fits a model of its own over the whole network's layers, with an optimizer of its own.
STAGE_OPTIMIZER = "optimizer.npz"
CHECKPOINT_CONFIG = f"{CHECKPOINT_DIR}/{CONFIG}"  # the config of the training in progress, for --resume
_RESULTS = (
    METRICS,
    CONFUSION_PNG,
    CURVES_PNG,
    PER_LABEL_PNG,
    REPORT,
)  # they describe one model: stale once another is published


def resolve_run_dir(option: Path | None) -> Path:
    """``--run-dir`` if given, else ``$LSTMCLI_RUN_DIR``, else ``./lstmcli-run``."""
    if option is not None:
        return option
    return Path(os.environ.get(RUN_DIR_ENV) or DEFAULT_RUN_DIR)


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Calls ``write(tmp)`` for a temporary sibling of ``path`` and renames it into place.

    Raises:
        RunDirError: the write failed (no space, permission denied, a read-only file system, a file in the
            way); nothing of it is left behind.
    """
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        with os_errors(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            write(tmp)
            with tmp.open("rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def os_errors(path: Path) -> Iterator[None]:
    """Turns an OSError a user can cause into a one-line RunDirError naming the path and the fix."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in USER_ERRNOS:
            raise
        raise RunDirError(os_error_message(exc, path, "cannot write")) from None


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """Versions of lstmcli, Python, TensorFlow and Keras, read without importing TensorFlow."""
    return {"python": platform.python_version(), **package_versions("lstmcli", "tensorflow", "keras")}


def package_versions(*packages: str) -> dict[str, str]:
    """Each installed package's version by its name, ``not installed`` for one that is not."""
    from importlib import metadata  # 10 ms (email's modules): only the commands that record versions pay it

    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


@dataclass(frozen=True)
class Prepared:
    """The prepared arrays: ids ``(n, max_len)`` int32 and label indices ``(n,)`` int32, or for a multi-label run
    a 0/1 matrix ``(n, labels)`` uint8."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray


@dataclass
class TrainState:
    """Where a training stands, saved in ``checkpoint/state.json`` for ``--resume``.

    Mutable: the fit loop updates it epoch by epoch, and writes it after the checkpoint's models whenever it
    writes them (at most every 30 seconds, and at a stage's end: see ``nn/fit.py``).
    """

    epoch: int = 0  # epochs finished
    best_epoch: int = 0  # the epoch whose model is checkpoint/best.keras; 0 before the first epoch ends
    best: dict[str, float] = field(default_factory=dict)  # that epoch's logs
    wait: int = 0  # epochs since the best one, for early stopping
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per finished epoch
    stage: int = 0  # index into lstmcli.nn.staging.stages(config)
    stage_start: int = 0  # the epoch the current stage started after

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> TrainState:
        """Reads a state, checked so that a damaged one is reported, not half used.

        A state written before staged training has no ``stage`` and ``stage_start``: both are 0.

        Raises:
            ValueError: not JSON, a field missing or of the wrong type, or numbers that do not fit each other.
        """
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        data = {"stage": 0, "stage_start": 0, **data}
        if any(not isinstance(data.get(name), kind) for name, kind in _STATE_TYPES.items()):
            raise ValueError("a field is missing or of the wrong type")
        state = cls(**{name: data[name] for name in _STATE_TYPES})
        if (
            len(state.history) != state.epoch
            or not 1 <= state.best_epoch <= state.epoch
            or not 0 <= state.stage <= 1
            or not 0 <= state.stage_start <= state.epoch
        ):
            raise ValueError("its numbers do not fit each other")
        return state


_STATE_TYPES: dict[str, type] = {
    "epoch": int,
    "best_epoch": int,
    "best": dict,
    "wait": int,
    "stopped_early": bool,
    "history": list,
    "stage": int,
    "stage_start": int,
}


@dataclass(frozen=True)
class TrainingRecord:
    """What the training that published the model decided, saved in ``training.json``.

    ``epochs_run`` ties the record to ``history.json``: a history of another length means an older lstmcli
    trained the run again since, and the record no longer applies.
    """

    best_epoch: int  # the epoch whose weights were published
    monitor: str  # the score that chose it: val_loss (lowest) or val_accuracy (highest, ties: lowest val_loss)
    epochs_run: int
    # A staged model whose LSTM stage ran: the weights of the n-gram classifier's and the LSTM's logits
    # (lstmcli.nn.blend), and the validation scores of each part and of the published blend.
    ngram_weight: float | None = None
    lstm_weight: float | None = None
    parts: dict[str, dict[str, float]] | None = None
    # What an auto (0) batch size and learning rate came to (config.json keeps the 0s: a later training with
    # other options resolves them afresh); None in runs trained before they were recorded.
    batch_size: int | None = None
    learning_rate: float | None = None

    @classmethod
    def from_history(cls, history: list[dict[str, Any]]) -> TrainingRecord | None:
        """What a run trained before ``training.json`` existed kept: the first epoch with the lowest val_loss."""
        scored = [row for row in history if "val_loss" in row]
        if not scored:
            return None
        best = min(scored, key=lambda row: row["val_loss"])  # min keeps the first of equal values, as training did
        return cls(int(best["epoch"]), "val_loss", len(history))


class ValTextsWriter:
    """Writes the validation texts as one JSON list, a text at a time, renamed into place by :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".tmp-{path.name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = self.tmp.open("w", encoding="utf-8")
        self.fh.write("[")
        self.first = True

    def add(self, text: str) -> None:
        self.fh.write(("\n  " if self.first else ",\n  ") + json.dumps(text, ensure_ascii=False))
        self.first = False

    def close(self) -> None:
        self.fh.write("\n]\n")
        self.fh.close()
        self.tmp.replace(self.path)

    def discard(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


class RunDir:
    """Knows where each artifact of one run lives, and reads and writes it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _file(self, name: str) -> Path:
        return self.path / name

    # --- state ---
    def exists(self) -> bool:
        return self.path.is_dir()

    def is_prepared(self) -> bool:
        return all(self._file(name).is_file() for name in (CONFIG, VOCAB, LABELS, MANIFEST))

    def is_trained(self) -> bool:
        return self._file(MODEL).is_file() or self._file(WEIGHTS).is_file()

    def check(self, need: str) -> None:
        """Raises RunDirError unless the run directory holds what a command needs ("prepared" or "trained")."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"run directory {self.path} is a file; pass --run-dir with a directory")
        if not self.path.is_dir():
            raise RunDirError(
                f"run directory {self.path} does not exist; run 'lstmcli train DATA.csv --run-dir {self.path}' first"
            )
        missing = [name for name in (CONFIG, VOCAB, LABELS, MANIFEST) if not self._file(name).is_file()]
        if missing:
            raise RunDirError(
                f"run directory {self.path} is incomplete (missing {', '.join(missing)}); "
                "run 'lstmcli prepare' or 'lstmcli train' with a CSV"
            )
        self.read_manifest()
        if need == "trained" and not self._file(WEIGHTS).is_file() and self.has_checkpoint():
            raise RunDirError(
                f"run directory {self.path} holds no trained model yet: its training was interrupted before it "
                f"saved one; continue it with 'lstmcli train --run-dir {self.path} --resume'"
            )
        if need == "trained" and not self._file(WEIGHTS).is_file():
            raise RunDirError(
                f"run directory {self.path} holds no trained model; run 'lstmcli train --run-dir {self.path}' first"
            )

    def list_files(self) -> list[dict[str, Any]]:
        """Every file in the run as ``{"path": relative path, "bytes": size}``, sorted by path."""
        return [
            {"path": path.relative_to(self.path).as_posix(), "bytes": path.stat().st_size}
            for path in sorted(self.path.rglob("*"))
            if path.is_file()
        ]

    # --- config, vocabulary, labels, manifest ---
    def write_config(self, config: Config) -> None:
        write_text(self._file(CONFIG), config.to_json())

    def read_config(self) -> Config:
        """The run's resolved config (``auto`` settings already chosen by prepare), validated."""
        return self._config(CONFIG)

    def write_checkpoint_config(self, config: Config) -> None:
        """The config of the training in progress: config.json itself changes only when its model is published."""
        write_text(self._file(CHECKPOINT_CONFIG), config.to_json())

    def has_checkpoint_config(self) -> bool:
        return self._file(CHECKPOINT_CONFIG).is_file()

    def read_checkpoint_config(self) -> Config:
        """The config an interrupted training ran with, which ``--resume`` continues."""
        return self._config(CHECKPOINT_CONFIG)

    def _config(self, name: str) -> Config:
        try:
            config = Config.from_json(self._read_text(name))
        except ConfigError as exc:
            raise RunDirError(f"{self._file(name)}: {exc}") from None
        if config.max_len < 1 or config.tokenizer == "auto":
            raise RunDirError(
                f"{self._file(name)} is damaged: max_len and tokenizer must be resolved by prepare (found "
                f"max_len {config.max_len}, tokenizer '{config.tokenizer}'); run 'lstmcli prepare' again"
            )
        return config

    def write_vocab(self, vocab: Vocabulary) -> None:
        write_text(self._file(VOCAB), vocab.to_text())

    def read_vocab(self) -> Vocabulary:
        try:
            return Vocabulary.from_text(self._read_text(VOCAB))
        except DataError as exc:
            raise RunDirError(f"{self._file(VOCAB)} is damaged: {exc}") from None

    def write_labels(self, labels: list[str]) -> None:
        write_json(self._file(LABELS), labels)

    def read_labels(self) -> list[str]:
        labels = self._read_json(LABELS)
        if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
            raise RunDirError(f"{self._file(LABELS)} is damaged: expected a JSON list of at least two label strings")
        return labels

    def write_manifest(self, data_file: Path) -> None:
        write_json(
            self._file(MANIFEST),
            {
                "format": FORMAT,
                "versions": versions(),
                "data_file": str(data_file),
                "data_sha256": sha256_of(data_file),
            },
        )

    def read_manifest(self) -> dict[str, Any]:
        """The manifest, whose ``format`` this lstmcli must be able to read.

        Raises:
            RunDirError: the manifest is damaged, or its format is newer than :data:`FORMAT` (the message names
                the lstmcli version and the format that wrote it).
        """
        manifest = self._read_json(MANIFEST)
        if not isinstance(manifest, dict) or type(manifest.get("format")) is not int or manifest["format"] < 1:
            raise RunDirError(f"{self._file(MANIFEST)} is damaged: expected a JSON object with an integer 'format'")
        if manifest["format"] > FORMAT:
            written_by = manifest.get("versions", {}).get("lstmcli", "a newer lstmcli")
            raise RunDirError(
                f"run directory {self.path} was written by lstmcli {written_by} (format {manifest['format']}); "
                f"this lstmcli reads format {FORMAT}. Upgrade lstmcli or train a new run"
            )
        return manifest

    def write_prepare_report(self, report: Mapping[str, Any]) -> None:
        """What prepare read, dropped, chose and built (``PrepareReport.to_dict()``), as ``prepare.json``."""
        write_json(self._file(PREPARE_REPORT), dict(report))

    def read_prepare_report(self) -> dict[str, Any] | None:
        """Prepare's report, None for a run prepared before it was saved.

        A report written before the split kind was recorded gets it from its mode: a streamed prepare's
        split is by a hash of each text, an in-memory one's stratified.
        """
        if not self._file(PREPARE_REPORT).is_file():
            return None
        report = self._read_json(PREPARE_REPORT)
        if not isinstance(report, dict):
            raise RunDirError(f"{self._file(PREPARE_REPORT)} is damaged: expected a JSON object")
        if "split" not in report:
            report["split"] = "hashed" if report.get("mode") == "streaming" else "stratified"
        return report

    # --- prepared data ---
    def write_prepared(self, prepared: Prepared, val_texts: list[str]) -> None:
        """Writes the prepared arrays and the validation texts; ids of a vocabulary under 65,536 as uint16 (half
        the bytes: chnsenticorp's 9,600 texts padded to 541 characters, 19 to 9 MB), read back as int32."""
        for name in ARRAYS:
            array = getattr(prepared, name)
            if name.endswith("_x") and array.size and 0 <= array.min() and array.max() <= np.iinfo(np.uint16).max:
                array = array.astype(np.uint16)
            atomic_write(self._array_path(name), functools.partial(_save_npy, array=array))
        write_json(self._file(f"{DATA_DIR}/{VAL_TEXTS}"), val_texts)

    def open_val_texts(self) -> ValTextsWriter:
        """A writer that adds the validation texts one at a time (a streamed prepare's)."""
        return ValTextsWriter(self._file(f"{DATA_DIR}/{VAL_TEXTS}"))

    def read_val_texts(self) -> list[str]:
        texts = self._read_json(f"{DATA_DIR}/{VAL_TEXTS}")
        return texts if isinstance(texts, list) else []

    def read_val_texts_at(self, rows: Collection[int]) -> tuple[dict[int, str], int]:
        """The validation texts of ``rows`` (by position) and how many texts the file holds.

        Both prepares write one text a line, so the file is read a line at a time and memory holds only the texts
        asked for, however many there are; a file laid out otherwise is read whole. No file: none, 0.
        """
        path, wanted = self._file(f"{DATA_DIR}/{VAL_TEXTS}"), set(rows)
        found: dict[int, str] = {}
        count = 0
        try:
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    item = line.strip().removesuffix(",")
                    if item in ("[", "]", "[]"):
                        continue
                    if not item.startswith('"'):
                        raise ValueError("not one text a line")
                    if count in wanted:
                        found[count] = _one_text(item)
                    count += 1
        except FileNotFoundError:
            return {}, 0
        except (ValueError, UnicodeDecodeError, OSError):  # json.JSONDecodeError is a ValueError
            texts = self.read_val_texts()
            return {i: texts[i] for i in wanted if 0 <= i < len(texts)}, len(texts)
        return found, count

    def _array_path(self, name: str) -> Path:
        return self._file(f"{DATA_DIR}/{name}.npy")

    def write_embeddings(self, vectors: np.ndarray, found: np.ndarray | None = None) -> None:
        """Keeps the start vectors ``(vocab, dim)``, row ``i`` for token id ``i``, for training to start from, and
        ``found`` ``(vocab,)``, whether each row came from the vectors' sources (else it was drawn at random)."""
        atomic_write(self._file(f"{DATA_DIR}/{EMBEDDINGS}"), functools.partial(_save_npy, array=vectors))
        self._file(f"{DATA_DIR}/{EMBEDDINGS_MOVED}").unlink(missing_ok=True)
        if found is not None:
            atomic_write(self._file(f"{DATA_DIR}/{EMBEDDINGS_FOUND}"), functools.partial(_save_npy, array=found))

    def has_embeddings(self) -> bool:
        """Whether prepare kept start vectors for the embeddings (without reading them)."""
        return any(self._file(f"{DATA_DIR}/{name}").is_file() for name in (EMBEDDINGS, EMBEDDINGS_MOVED))

    def read_embeddings_found(self) -> np.ndarray | None:
        """Which rows of the start vectors a source gave, bool ``(vocab,)``; None where the run did not record it.

        Raises:
            RunDirError: the file is damaged.
        """
        return self._read_data_array(EMBEDDINGS_FOUND, 1, np.bool_, "a vector of booleans")

    def read_embeddings(self) -> np.ndarray | None:
        """The start vectors prepare kept, or None for a run prepared without any (``--embeddings none``).

        Raises:
            RunDirError: the file is damaged.
        """
        whole = self._read_data_array(EMBEDDINGS, 2, np.float32, "a float32 matrix")
        if whole is not None or not self._file(f"{DATA_DIR}/{EMBEDDINGS_MOVED}").is_file():
            return whole
        return self._moved_embeddings()

    def _moved_embeddings(self) -> np.ndarray:
        """The start vectors kept as the rows training moved (:data:`EMBEDDINGS_MOVED`), the others read from the
        published embeddings, which must be those the rows were kept beside (their digest says)."""
        path = self._file(f"{DATA_DIR}/{EMBEDDINGS_MOVED}")
        try:
            with np.load(path, allow_pickle=False) as npz:
                kept = _npz_arrays(npz)
            key, digest, rows, vectors = str(kept["key"]), kept["digest"].tobytes(), kept["rows"], kept["vectors"]
        except _DAMAGED as exc:
            raise RunDirError(f"{path} is damaged ({type(exc).__name__}); prepare the run again") from None
        published = self._read_weight(key)
        if published is None or _digest(published) != digest:
            raise RunDirError(f"{path} does not fit {self._file(WEIGHTS)}; prepare the run again")
        try:
            published[rows] = vectors
        except _DAMAGED as exc:
            raise RunDirError(f"{path} is damaged ({type(exc).__name__}); prepare the run again") from None
        return published

    def _read_weight(self, key: str) -> np.ndarray | None:
        """One array of weights.npz (the others are not read), or None where it has no such array."""
        try:
            with np.load(self._file(WEIGHTS), allow_pickle=False) as npz:
                return _npz_arrays(npz, [key]).get(key)
        except _DAMAGED:
            return None

    def _read_data_array(self, name: str, ndim: int, dtype: type, what: str) -> np.ndarray | None:
        """The array ``data/name`` of ``ndim`` dimensions and ``dtype``, or None when there is no such file."""
        path = self._file(f"{DATA_DIR}/{name}")
        if not path.is_file():
            return None
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise RunDirError(f"{path} is damaged ({exc}); prepare the run again") from None
        if array.ndim != ndim or array.dtype != dtype:
            raise RunDirError(f"{path} is not {what}; prepare the run again")
        return array

    def read_prepared(self) -> Prepared:
        """All prepared arrays in memory; a streamed prepare's shards are joined (train reads them in pieces)."""
        if self.is_sharded():
            return self._joined_shards()
        arrays = {name: _load_npy(self._array_path(name)) for name in ARRAYS}
        prepared = Prepared(
            **{name: _as_ids(array) if name.endswith("_x") else array for name, array in arrays.items()}
        )
        self._check_prepared(prepared)
        return prepared

    def train_rows(self) -> int:
        """The prepared training rows, from the shard index or the labels' array header (nothing else read)."""
        if self.is_sharded():
            return int(sum(self.read_shard_index()["parts"]["train"]["length_counts"]))
        return len(_load_npy(self._array_path("train_y"), mmap_mode="r"))

    def _check_prepared(self, prepared: Prepared) -> None:
        """Raises RunDirError unless the arrays fit each other, the vocabulary and the labels."""
        n_ids, n_labels = len(self.read_vocab()), len(self.read_labels())
        for part in ("train", "val"):
            x, y = getattr(prepared, f"{part}_x"), getattr(prepared, f"{part}_y")
            ok = (
                x.ndim == 2
                and (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == n_labels))  # multi-label: 0/1 per label
                and len(x) == len(y) > 0
                and x.dtype.kind in "iu"
                and y.dtype.kind in "iu"
                and x.shape[1] == prepared.train_x.shape[1]
            )
            if ok:
                ok = 0 <= x.min() and x.max() < n_ids and 0 <= y.min() and y.max() < (n_labels if y.ndim == 1 else 2)
            if not ok:
                raise RunDirError(
                    f"{self._file(DATA_DIR)} is damaged: {part}_x {x.shape} and {part}_y {y.shape} do not fit "
                    f"each other, the vocabulary or the labels; run 'lstmcli prepare' again"
                )

    # --- prepared data in shards (prepare --streaming) ---
    def is_sharded(self) -> bool:
        return self._file(SHARD_INDEX).is_file()

    def spill_dir(self) -> Path:
        """Where a streamed prepare's first pass keeps its token ids until the second pass encodes them."""
        return self._file(f"{DATA_DIR}/{SPILL_DIR}")

    def write_shard(self, part: str, number: int, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """Writes one shard of ``part``: ids ``(n, max_len)`` and labels ``(n,)``; returns its index entry."""
        entry: dict[str, Any] = {kind: f"{part}-{number:05d}-{kind}.npy" for kind in ("x", "y")}
        for kind, array in (("x", x), ("y", y)):
            atomic_write(self._shard_path(entry[kind]), functools.partial(_save_npy, array=array))
        return {**entry, "rows": int(len(y))}

    def write_shard_index(self, max_len: int, parts: Mapping[str, Mapping[str, Any]]) -> None:
        """Lists the shards: per part, ``rows``, ``length_counts`` (a list) and the entries of :meth:`write_shard`."""
        write_json(self._file(SHARD_INDEX), {"max_len": max_len, "parts": {k: dict(v) for k, v in parts.items()}})

    def read_shard_index(self) -> dict[str, Any]:
        """The shard index: ``max_len`` and, per part, ``rows``, ``length_counts`` and the ``shards``."""
        index = self._read_json(SHARD_INDEX)
        try:
            parts = [index["parts"][part] for part in SHARD_PARTS]
            ok = isinstance(index["max_len"], int) and all(
                isinstance(p["rows"], int)
                and isinstance(p["length_counts"], list)
                and all({"x", "y", "rows"} <= set(s) for s in p["shards"])
                for p in parts
            )
        except (KeyError, TypeError):
            ok = False
        if not ok:
            raise RunDirError(f"{self._file(SHARD_INDEX)} is damaged; run 'lstmcli prepare' again")
        return index

    def shard_paths(self, part: str) -> list[tuple[Path, Path]]:
        """The ``(ids, labels)`` files of each shard of ``part``, in the index's order."""
        return [
            (self._shard_path(s["x"]), self._shard_path(s["y"]))
            for s in self.read_shard_index()["parts"][part]["shards"]
        ]

    def shard_arrays(self, part: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields each shard of ``part`` as memory-mapped ``(x, y)``: only what is read comes into memory."""
        for shard in self.read_shard_index()["parts"][part]["shards"]:
            x, y = (self._load_shard(shard[kind]) for kind in ("x", "y"))
            if x.ndim != 2 or y.shape != (shard["rows"],) or len(x) != len(y):
                raise RunDirError(f"{self._shard_path(shard['x'])} does not fit its index; run 'lstmcli prepare' again")
            yield x, y

    def _shard_path(self, name: str) -> Path:
        return self._file(f"{SHARDS_DIR}/{name}")

    def _load_shard(self, name: str) -> np.ndarray:
        return _load_npy(self._shard_path(name), mmap_mode="r")

    def _joined_shards(self) -> Prepared:
        arrays: dict[str, np.ndarray] = {}
        for part in SHARD_PARTS:
            pieces = list(self.shard_arrays(part))
            arrays[f"{part}_x"] = np.concatenate([x for x, _ in pieces]) if pieces else np.zeros((0, 1), np.int32)
            arrays[f"{part}_y"] = np.concatenate([y for _, y in pieces]) if pieces else np.zeros(0, np.int32)
        prepared = Prepared(**arrays)
        self._check_prepared(prepared)
        return prepared

    # --- training in progress (checkpoint/) ---
    def best_model_path(self) -> Path:
        """Where Keras saves the best epoch's model so far (its directory is created)."""
        return self._checkpoint_file(BEST_MODEL)

    def last_model_path(self) -> Path:
        """Where Keras saves the last epoch's model with its optimizer, for ``--resume``."""
        return self._checkpoint_file(LAST_MODEL)

    def _checkpoint_file(self, name: str) -> Path:
        self._file(CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
        return self._file(f"{CHECKPOINT_DIR}/{name}")

    def last_model_is_best(self) -> None:
        """Makes the last model the best one, as a stage that ends on its best epoch leaves it: a hard link to the
        best model's file (a copy where the file system has none), renamed into place."""
        best = self.best_model_path()

        def link(tmp: Path) -> None:
            try:
                os.link(best, tmp)
            except OSError:
                shutil.copyfile(best, tmp)

        atomic_write(self.last_model_path(), link)

    def has_checkpoint(self) -> bool:
        """Whether an interrupted training left what ``--resume`` needs: its state and its last model."""
        return all(self._file(f"{CHECKPOINT_DIR}/{name}").is_file() for name in (TRAIN_STATE, LAST_MODEL))

    def write_stage_optimizer(self, values: list[np.ndarray]) -> None:
        """Keeps the fitted stage's optimizer variables, in their order, beside the last model."""
        arrays = {f"v{i:04d}": np.asarray(value) for i, value in enumerate(values)}
        # Not deflated whole: Adam's moments barely compress (24 MB to 20 in 0.65 s, at every checkpoint write).
        atomic_write(self._checkpoint_file(STAGE_OPTIMIZER), lambda tmp: _save_npz(tmp, arrays))

    def read_stage_optimizer(self) -> list[np.ndarray] | None:
        """The stage optimizer's variables :meth:`write_stage_optimizer` kept; None where there are none, or where
        they are unreadable (the stage then starts its optimizer afresh, as versions before this file did)."""
        path = self._file(f"{CHECKPOINT_DIR}/{STAGE_OPTIMIZER}")
        try:
            with np.load(path, allow_pickle=False) as archive:
                return [archive[name] for name in sorted(archive.files)]
        except (OSError, ValueError, zipfile.BadZipFile):
            return None

    def clear_stage_optimizer(self) -> None:
        self._file(f"{CHECKPOINT_DIR}/{STAGE_OPTIMIZER}").unlink(missing_ok=True)

    def clear_checkpoint(self) -> None:
        shutil.rmtree(self._file(CHECKPOINT_DIR), ignore_errors=True)

    def write_train_state(self, state: TrainState) -> None:
        write_text(self._file(f"{CHECKPOINT_DIR}/{TRAIN_STATE}"), state.to_json())

    def read_train_state(self) -> TrainState:
        """The checkpoint's training state.

        Raises:
            RunDirError: the state is missing or damaged.
        """
        name = f"{CHECKPOINT_DIR}/{TRAIN_STATE}"
        try:
            return TrainState.from_json(self._read_text(name))
        except ValueError:
            raise RunDirError(
                f"{self._file(name)} is damaged; train again with --overwrite instead of --resume"
            ) from None

    # --- training results ---
    def export_dir(self, export_format: str) -> Path:
        """Where ``lstmcli export`` writes an export by default: ``export/FORMAT`` in the run directory."""
        return self._file(f"export/{export_format}")

    def copy_description(self, dest: Path) -> None:
        """Copies what it takes to feed the model — vocabulary, labels and config — into ``dest``."""
        for name in (VOCAB, LABELS, CONFIG, THRESHOLDS):
            if name != THRESHOLDS or self._file(name).is_file():  # a multi-label run's thresholds go with it
                shutil.copyfile(self._file(name), dest / name)

    def clear_results(self) -> None:
        """Removes what described the model a new one replaces: its metrics, figures and report, and the
        ``model.keras`` earlier versions published beside weights.npz (the network is weights.npz alone; what
        needs it as a Keras model builds it from the config and those weights)."""
        for stale in (*_RESULTS, MODEL):
            self._file(stale).unlink(missing_ok=True)

    def write_history(self, history: list[dict[str, Any]]) -> None:
        write_json(self._file(HISTORY), history)

    def read_history(self) -> list[dict[str, Any]]:
        return self._read_json(HISTORY) if self._file(HISTORY).is_file() else []

    def write_training(self, record: TrainingRecord) -> None:
        write_json(self._file(TRAINING), asdict(record))

    def read_training(self) -> TrainingRecord | None:
        """The best epoch training kept and the monitor that chose it; None before training.

        A run trained before ``training.json`` existed, or trained again since by such an lstmcli, gets what
        training then kept: the first epoch with the lowest val_loss.
        """
        history = self.read_history()
        if self._file(TRAINING).is_file():
            data = self._read_json(TRAINING)
            try:
                record = TrainingRecord(
                    int(data["best_epoch"]),
                    str(data["monitor"]),
                    int(data["epochs_run"]),
                    None if data.get("ngram_weight") is None else float(data["ngram_weight"]),
                    None if data.get("lstm_weight") is None else float(data["lstm_weight"]),
                    data.get("parts") if isinstance(data.get("parts"), dict) else None,
                    None if data.get("batch_size") is None else int(data["batch_size"]),
                    None if data.get("learning_rate") is None else float(data["learning_rate"]),
                )
            except (KeyError, TypeError, ValueError):
                raise RunDirError(f"{self._file(TRAINING)} is damaged; train the run again") from None
            if record.epochs_run == len(history) and 1 <= record.best_epoch <= record.epochs_run:
                return record
        return TrainingRecord.from_history(history)

    def write_weights(self, weights: dict[str, np.ndarray], started_from: str | None = None) -> None:
        """Publishes the network's weights (weights.npz): what makes a run trained.

        Args:
            weights: float32 arrays by the network spec's names.
            started_from: the name of the weights that training started from the start vectors (the token
                embeddings). Where they have the start vectors' shape, data/ then keeps only the start rows that
                differ from them (:data:`EMBEDDINGS_MOVED`). At every moment one form or the other reads whole.
        """
        shutil.rmtree(self._file(ENGINE_DIR), ignore_errors=True)  # graphs of the weights replaced
        moved = self._file(f"{DATA_DIR}/{EMBEDDINGS_MOVED}")
        start = self.read_embeddings() if started_from or moved.is_file() else None
        if start is not None and moved.is_file():  # it reads through the weights.npz about to be replaced
            atomic_write(self._file(f"{DATA_DIR}/{EMBEDDINGS}"), functools.partial(_save_npy, array=start))
            moved.unlink()
        self._raise_format()
        atomic_write(self._file(WEIGHTS), lambda tmp: _save_npz(tmp, weights, halve=True))
        trained = weights.get(started_from) if started_from else None
        if start is None or trained is None or trained.shape != start.shape or trained.dtype != start.dtype:
            return
        rows = np.flatnonzero((start.view(np.uint32) != trained.view(np.uint32)).any(axis=1))  # bit for bit
        kept = {"key": np.array(started_from), "digest": np.frombuffer(_digest(trained), np.uint8)}
        kept |= {"rows": rows, "vectors": start[rows]}
        atomic_write(moved, lambda tmp: _save_npz(tmp, kept, deflate_all=True, halve=True))  # read back only to train
        self._file(f"{DATA_DIR}/{EMBEDDINGS}").unlink()

    def _raise_format(self) -> None:
        """Marks a run prepared by an earlier version as of this version's format before its weights are written in
        it: an earlier version then refuses the run by name instead of misreading halved matrices."""
        path = self._file(MANIFEST)
        if not path.is_file():
            return
        manifest = self.read_manifest()
        if manifest["format"] < FORMAT:
            write_json(path, {**manifest, "format": FORMAT})

    def write_engine_graph(self, digest: str, model: bytes) -> None:
        """Keeps the engine's graph of the published weights, named by its ``digest`` (``lstmcli.nn.ort.digest``)."""
        atomic_write(self._file(f"{ENGINE_DIR}/{digest}.onnx"), lambda tmp: tmp.write_bytes(model))

    def read_engine_graph(self, digest: str) -> bytes | None:
        """The engine's graph named ``digest``, None where the run holds none (an earlier version's run, a model
        published without onnx installed, or a graph of other weights)."""
        try:
            return self._file(f"{ENGINE_DIR}/{digest}.onnx").read_bytes()
        except OSError:
            return None

    def read_weights(self) -> dict[str, np.ndarray]:
        path = self._file(WEIGHTS)
        try:
            with np.load(path, allow_pickle=False) as npz:
                return _npz_arrays(npz)
        except FileNotFoundError:
            raise RunDirError(f"{path} is missing; run 'lstmcli train' first") from None
        except _DAMAGED as exc:
            raise RunDirError(f"{path} is damaged ({type(exc).__name__}); train the run again") from None

    def write_thresholds(self, thresholds: Mapping[str, Any]) -> None:
        """A multi-label run's decision thresholds (``lstmcli.decision.Thresholds.to_dict()``)."""
        write_json(self._file(THRESHOLDS), dict(thresholds))

    def read_thresholds(self) -> dict[str, Any] | None:
        """The thresholds training chose, None for a run without them (single-label).

        Raises:
            RunDirError: the file is damaged.
        """
        if not self._file(THRESHOLDS).is_file():
            return None
        data = self._read_json(THRESHOLDS)
        values = data.get("per_label") if isinstance(data, dict) else None
        if not isinstance(values, list) or not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in values):
            raise RunDirError(f"{self._file(THRESHOLDS)} is damaged: expected per_label probabilities; train again")
        return data

    # --- evaluation results ---
    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self._file(METRICS), metrics)

    def read_metrics(self) -> dict[str, Any] | None:
        """The last evaluate's metrics, None if the model was not evaluated since it was published."""
        return self._read_json(METRICS) if self._file(METRICS).is_file() else None

    def write_figures(self, figures: Mapping[str, bytes]) -> list[Path]:
        """Writes evaluate's figures, PNG bytes by file name (:data:`FIGURES`); returns the paths written."""
        unknown = sorted(set(figures) - set(FIGURES))
        if unknown:
            raise ValueError(f"not a figure of a run: {', '.join(unknown)}")
        return [self._write_bytes(name, png) for name, png in figures.items()]

    def report_path(self) -> Path:
        """Where ``lstmcli report`` writes its page unless told ``--out``."""
        return self._file(REPORT)

    # --- helpers ---
    def _write_bytes(self, name: str, data: bytes) -> Path:
        path = self._file(name)
        atomic_write(path, functools.partial(Path.write_bytes, data=data))
        return path

    def _read_text(self, name: str) -> str:
        path = self._file(name)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RunDirError(f"{path} is missing; run 'lstmcli prepare' or 'lstmcli train' with a CSV") from None
        except (UnicodeDecodeError, OSError) as exc:
            raise RunDirError(f"{path} is damaged ({type(exc).__name__})") from None

    def _read_json(self, name: str) -> Any:
        try:
            return json.loads(self._read_text(name))
        except json.JSONDecodeError:
            raise RunDirError(f"{self._file(name)} is damaged: not valid JSON") from None


def _one_text(item: str) -> str:
    """One JSON string of a line of ``val_texts.json``; ValueError if the line holds anything else."""
    text = json.loads(item)
    if not isinstance(text, str):
        raise ValueError("not a text")
    return text


def _as_ids(array: np.ndarray) -> np.ndarray:
    """Prepared ids as int32, as every reader takes them (written as uint16 where the vocabulary fits)."""
    return array.astype(np.int32) if array.dtype == np.uint16 else array


def _load_npy(path: Path, mmap_mode: Literal["r"] | None = None) -> np.ndarray:
    """A prepared array, memory-mapped with ``mmap_mode="r"``; RunDirError if it is missing or damaged."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing; run 'lstmcli prepare' again") from None
    except (ValueError, OSError, EOFError) as exc:
        raise RunDirError(f"{path} is damaged ({exc}); run 'lstmcli prepare' again") from None


def _save_npy(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as fh:
        np.save(fh, array, allow_pickle=False)


def _digest(array: np.ndarray) -> bytes:
    """A digest of an array's bytes: tells the published embeddings that moved start rows were kept beside."""
    return hashlib.blake2b(np.ascontiguousarray(array).data, digest_size=16).digest()


def _save_npz(path: Path, arrays: dict[str, np.ndarray], deflate_all: bool = False, halve: bool = False) -> None:
    """``np.savez``'s archive, an array of which a tenth or more is zeros deflated (the n-gram tables' rows no
    n-gram of the data hashes to, the n-gram classifier's rows of words only pretrained vectors brought: 4 MB to
    0.2 MB for the tickets example, 4.3 to 2.2 MB for ag_news, read back in 15 ms), the others stored: GloVe's
    vectors deflate by only 10%, in 0.35 s, and would take 60 ms more to load for every prediction. With
    ``deflate_all``, every array is deflated (an archive that only training reads); with ``halve``, a float32
    matrix most of whose rows float16 holds exactly is kept in two bytes a number (:func:`_halved`), read back
    whole and unchanged by :func:`_npz_arrays`."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            zeros = array.size > 1024 and np.count_nonzero(array) <= array.size * 0.9
            parts = _halved(name, array) if halve and not zeros else {name: array}  # zeros: deflating does better
            for key, part in parts.items():
                member: str | zipfile.ZipInfo = f"{key}.npy"  # a name: deflated, as the archive's members are
                if not (deflate_all or zeros):
                    member = zipfile.ZipInfo(f"{key}.npy", time.localtime()[:6])
                    member.compress_type = zipfile.ZIP_STORED
                with archive.open(member, "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.asanyarray(part), allow_pickle=False)


# A float32 matrix kept halved is three members: NAME@half, all of it as float16, and NAME@rows, the rows float16
# does not hold exactly, whose float32 numbers are NAME@float32.
_HALF, _ROWS, _FLOAT32 = "@half", "@rows", "@float32"
# What reading a damaged archive raises (zlib.error: a deflated member's bytes changed; TypeError: a structured
# array where a matrix was kept; IndexError: rows a matrix does not have).
_DAMAGED = (ValueError, TypeError, OSError, EOFError, KeyError, IndexError, zipfile.BadZipFile, zlib.error)


def _halved(name: str, array: np.ndarray) -> dict[str, np.ndarray]:
    """``{name: array}``, or the matrix as :data:`_HALF`, :data:`_ROWS` and :data:`_FLOAT32` where that takes at most
    three quarters of its bytes: the token embeddings' rows no training text moved are their start vectors, which
    prepare holds at float16's precision (:func:`lstmcli.dataset.embeddings.half_precision`): 50,000 of ag_news's
    65,657 rows. Exact bit for bit: a row is kept halved only where its float32 numbers come back the same."""
    if array.dtype != np.float32 or array.ndim != 2 or array.size <= 1024:
        return {name: array}
    array = np.ascontiguousarray(array)
    with np.errstate(over="ignore"):
        half = array.astype(np.float16)
    exact = (half.astype(np.float32).view(np.uint32) == array.view(np.uint32)).all(axis=1)
    exact &= np.isfinite(array).all(axis=1)  # a NaN's bits need not survive every machine's float16 conversion
    rows = np.flatnonzero(~exact).astype(np.int32)
    if half.nbytes + rows.size * (array.shape[1] * 4 + 4) > array.nbytes * 0.75:
        return {name: array}
    return {name + _HALF: half, name + _ROWS: rows, name + _FLOAT32: array[rows]}


def _npz_arrays(npz: np.lib.npyio.NpzFile, names: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an open ``np.load`` archive by name, each matrix :func:`_halved` kept whole again as float32;
    only ``names`` where given (those it lacks are left out)."""
    suffixes = (_HALF, _ROWS, _FLOAT32)
    stored = dict.fromkeys(next((k[: -len(x)] for x in suffixes if k.endswith(x)), k) for k in npz.files)
    arrays: dict[str, np.ndarray] = {}
    for name in stored if names is None else [n for n in names if n in stored]:
        if name in npz.files:
            arrays[name] = npz[name]
            continue
        whole = npz[name + _HALF].astype(np.float32)
        whole[npz[name + _ROWS]] = npz[name + _FLOAT32]
        arrays[name] = whole
    return arrays


def _lock_path(run_dir: Path) -> Path:
    return run_dir.parent / f".{run_dir.name}.lock"


def writer_pid(run_dir: Path) -> str | None:
    """The process id of the lstmcli process writing ``run_dir`` now (see :func:`locked`), else None.

    A reader that loads a whole run (``serve``'s reload) asks first, so that it never mixes the files of a
    run being published with those of the run before.
    """
    try:
        fh = _lock_path(run_dir).open("r")
    except OSError:  # no lock file: nobody ever wrote the run from here
        return None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return fh.read().strip() or "unknown"
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Holds an exclusive lock for writing ``run_dir``; a second writer gets RunDirError naming the holder."""
    with os_errors(_lock_path(run_dir)):
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        fh = _lock_path(run_dir).open("a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise RunDirError(
            f"run directory {run_dir} is in use by another lstmcli process (pid {holder}); "
            "wait for it to finish or use another --run-dir"
        ) from None
    try:
        with os_errors(_lock_path(run_dir)):
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
        yield
    finally:
        with contextlib.suppress(OSError):  # a full disk must not hide the error that ended the command
            fh.seek(0)
            fh.truncate()
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


# What an interrupted prepare can leave before it writes the manifest, its last file.
_PREPARE_OUTPUTS = frozenset({DATA_DIR, VOCAB, LABELS, CONFIG, PREPARE_REPORT})


@contextlib.contextmanager
def staged(run_dir: Path, overwrite: bool) -> Iterator[RunDir]:
    """Yields the directory to write a new run into; with an old run there, it replaces it only on success.

    Call it under :func:`locked`. A new run directory that fails before its prepare completes is removed
    again; an old run is swapped for the new one only after the ``with`` body succeeds.

    Raises:
        RunDirError: ``run_dir`` is a file, holds files lstmcli did not write, or holds a run and
            ``overwrite`` is False.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} is a file; pass --run-dir with a directory")
    _recover(run_dir)
    if not (run_dir / MANIFEST).is_file():
        _check_no_foreign_files(run_dir)
        yield from _fresh(run_dir)
        return
    if not overwrite:
        resume = (
            " (or continue its interrupted training: lstmcli train --resume)"
            if RunDir(run_dir).has_checkpoint()
            else ""
        )
        raise RunDirError(
            f"run directory {run_dir} already holds a run; pass --overwrite to replace it{resume}, or choose "
            "another --run-dir"
        )
    stage = run_dir.parent / f".{run_dir.name}.new-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    with os_errors(stage):
        stage.mkdir(parents=True)
    try:
        yield RunDir(stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = run_dir.parent / f".{run_dir.name}.old-{os.getpid()}"
    os.replace(run_dir, old)
    os.replace(stage, run_dir)
    shutil.rmtree(old, ignore_errors=True)


def _fresh(run_dir: Path) -> Iterator[RunDir]:
    """Writes in place; on failure, removes what was written unless prepare completed (training can resume)."""
    created = not run_dir.exists()
    with os_errors(run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
    _clear(run_dir)  # an interrupted prepare's files: nothing a later command can use
    try:
        yield RunDir(run_dir)
    except BaseException:
        if not RunDir(run_dir).is_prepared():
            _clear(run_dir)
            if created:
                run_dir.rmdir()
        raise


def _clear(directory: Path) -> None:
    for path in directory.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _check_no_foreign_files(run_dir: Path) -> None:
    if not run_dir.is_dir():
        return
    foreign = sorted(
        p.name for p in run_dir.iterdir() if p.name not in _PREPARE_OUTPUTS and not p.name.startswith(".tmp-")
    )
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise RunDirError(
            f"run directory {run_dir} holds files lstmcli did not write ({shown}); pass an empty or new --run-dir"
        )


def _recover(run_dir: Path) -> None:
    """Cleans up after a process killed while staging or swapping runs (the caller holds the lock)."""
    leftovers = sorted(run_dir.parent.glob(f".{glob.escape(run_dir.name)}.old-*"))
    if not run_dir.exists() and leftovers:
        os.replace(leftovers.pop(), run_dir)  # killed between the two renames: the old run comes back
    for path in [*leftovers, *run_dir.parent.glob(f".{glob.escape(run_dir.name)}.new-*")]:
        shutil.rmtree(path, ignore_errors=True)
