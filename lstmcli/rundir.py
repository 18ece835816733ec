"""The run directory: every artifact's name, and how each is written (atomically) and read (validated).

Later commands only read what earlier ones wrote here. Writes go to a temporary file that is renamed into
place, so a crash leaves the old artifact or the new one, never half of one.
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
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.config import Config
from lstmcli.errors import ConfigError, DataError, RunDirError
from lstmcli.text.vocab import Vocabulary

DEFAULT_RUN_DIR = "lstmcli-run"
RUN_DIR_ENV = "LSTMCLI_RUN_DIR"
FORMAT = 1  # bumped when a run directory written by this version cannot be read by an older one

CONFIG = "config.json"
VOCAB = "vocab.txt"
LABELS = "labels.json"
MANIFEST = "manifest.json"
PREPARE_REPORT = "prepare.json"
DATA_DIR = "data"
ARRAYS = ("train_x", "train_y", "val_x", "val_y")
VAL_TEXTS = "val_texts.json"
SHARDS_DIR = f"{DATA_DIR}/shards"  # a streamed prepare's arrays: .npy shards per part, listed in the index
SHARD_INDEX = f"{SHARDS_DIR}/index.json"
SHARD_PARTS = ("train", "val")
MODEL = "model.keras"
WEIGHTS = "weights.npz"
HISTORY = "history.json"
METRICS = "metrics.json"
CONFUSION_PNG = "confusion_matrix.png"  # evaluate --plots
CURVES_PNG = "training_curves.png"  # evaluate --plots
REPORT = "report.html"  # lstmcli report's default --out
CHECKPOINT_DIR = "checkpoint"
LAST_MODEL = "last.keras"
TRAIN_STATE = "state.json"
CHECKPOINT_CONFIG = f"{CHECKPOINT_DIR}/{CONFIG}"  # the config of the training in progress, for --resume


def resolve_run_dir(option: Path | None) -> Path:
    """``--run-dir`` if given, else ``$LSTMCLI_RUN_DIR``, else ``./lstmcli-run``."""
    if option is not None:
        return option
    return Path(os.environ.get(RUN_DIR_ENV) or DEFAULT_RUN_DIR)


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Calls ``write(tmp)`` for a temporary sibling of ``path`` and renames it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        write(tmp)
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
    found = {"python": platform.python_version()}
    for package in ("lstmcli", "tensorflow", "keras"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


@dataclass(frozen=True)
class Prepared:
    """The prepared arrays: ids ``(n, max_len)`` int32 and label indices ``(n,)`` int32."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray


class RunDir:
    """Knows where each artifact of one run lives, and reads and writes it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # --- state ---
    def exists(self) -> bool:
        return self.path.is_dir()

    def is_prepared(self) -> bool:
        return all((self / name).is_file() for name in (CONFIG, VOCAB, LABELS, MANIFEST))

    def is_trained(self) -> bool:
        return (self / MODEL).is_file() or (self / WEIGHTS).is_file()

    def check(self, need: str) -> None:
        """Raises RunDirError unless the run directory holds what a command needs ("prepared" or "trained")."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"run directory {self.path} is a file; pass --run-dir with a directory")
        if not self.path.is_dir():
            raise RunDirError(
                f"run directory {self.path} does not exist; run 'lstmcli train DATA.csv --run-dir {self.path}' first"
            )
        missing = [name for name in (CONFIG, VOCAB, LABELS, MANIFEST) if not (self / name).is_file()]
        if missing:
            raise RunDirError(
                f"run directory {self.path} is incomplete (missing {', '.join(missing)}); "
                "run 'lstmcli prepare' or 'lstmcli train' with a CSV"
            )
        self.read_manifest()
        if need == "trained" and not (self / WEIGHTS).is_file():
            raise RunDirError(
                f"run directory {self.path} holds no trained model; run 'lstmcli train --run-dir {self.path}' first"
            )

    # --- config, vocabulary, labels, manifest ---
    def write_config(self, config: Config, name: str = CONFIG) -> None:
        write_text(self / name, config.to_json())

    def read_config(self, name: str = CONFIG) -> Config:
        """The run's resolved config (``auto`` settings already chosen by prepare), validated."""
        try:
            config = Config.from_json(self._read_text(name))
        except ConfigError as exc:
            raise RunDirError(f"{self / name}: {exc}") from None
        if config.max_len < 1 or config.tokenizer == "auto":
            raise RunDirError(
                f"{self / name} is damaged: max_len and tokenizer must be resolved by prepare (found "
                f"max_len {config.max_len}, tokenizer '{config.tokenizer}'); run 'lstmcli prepare' again"
            )
        return config

    def write_vocab(self, vocab: Vocabulary) -> None:
        write_text(self / VOCAB, vocab.to_text())

    def read_vocab(self) -> Vocabulary:
        try:
            return Vocabulary.from_text(self._read_text(VOCAB))
        except DataError as exc:
            raise RunDirError(f"{self / VOCAB} is damaged: {exc}") from None

    def write_labels(self, labels: list[str]) -> None:
        write_json(self / LABELS, labels)

    def read_labels(self) -> list[str]:
        labels = self._read_json(LABELS)
        if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
            raise RunDirError(f"{self / LABELS} is damaged: expected a JSON list of at least two label strings")
        return labels

    def write_manifest(self, data_file: Path) -> None:
        write_json(
            self / MANIFEST,
            {
                "format": FORMAT,
                "versions": versions(),
                "data_file": str(data_file),
                "data_sha256": sha256_of(data_file),
            },
        )

    def read_manifest(self) -> dict[str, Any]:
        manifest = self._read_json(MANIFEST)
        if not isinstance(manifest, dict) or type(manifest.get("format")) is not int:
            raise RunDirError(f"{self / MANIFEST} is damaged: expected a JSON object with an integer 'format'")
        if manifest["format"] > FORMAT:
            written_by = manifest.get("versions", {}).get("lstmcli", "a newer lstmcli")
            raise RunDirError(
                f"run directory {self.path} was written by lstmcli {written_by} (format {manifest['format']}); "
                f"this lstmcli reads format {FORMAT}. Upgrade lstmcli or train a new run"
            )
        return manifest

    # --- prepared data ---
    def write_prepared(self, prepared: Prepared, val_texts: list[str]) -> None:
        for name in ARRAYS:
            atomic_write(self / DATA_DIR / f"{name}.npy", functools.partial(_save_npy, array=getattr(prepared, name)))
        write_json(self / DATA_DIR / VAL_TEXTS, val_texts)

    def read_prepared(self) -> Prepared:
        """All prepared arrays in memory; a streamed prepare's shards are joined (train reads them in pieces)."""
        if self.is_sharded():
            return self._joined_shards()
        arrays = {}
        for name in ARRAYS:
            path = self / DATA_DIR / f"{name}.npy"
            try:
                arrays[name] = np.load(path, allow_pickle=False)
            except FileNotFoundError:
                raise RunDirError(f"{path} is missing; run 'lstmcli prepare' again") from None
            except (ValueError, OSError, EOFError) as exc:
                raise RunDirError(f"{path} is damaged ({exc}); run 'lstmcli prepare' again") from None
        prepared = Prepared(**arrays)
        self._check_prepared(prepared)
        return prepared

    def _check_prepared(self, prepared: Prepared) -> None:
        """Raises RunDirError unless the arrays fit each other, the vocabulary and the labels."""
        n_ids, n_labels = len(self.read_vocab()), len(self.read_labels())
        for part in ("train", "val"):
            x, y = getattr(prepared, f"{part}_x"), getattr(prepared, f"{part}_y")
            ok = (
                x.ndim == 2
                and y.ndim == 1
                and len(x) == len(y) > 0
                and x.dtype.kind in "iu"
                and y.dtype.kind in "iu"
                and x.shape[1] == prepared.train_x.shape[1]
            )
            if ok:
                ok = 0 <= x.min() and x.max() < n_ids and 0 <= y.min() and y.max() < n_labels
            if not ok:
                raise RunDirError(
                    f"{self / DATA_DIR} is damaged: {part}_x {x.shape} and {part}_y {y.shape} do not fit "
                    f"each other, the vocabulary or the labels; run 'lstmcli prepare' again"
                )

    # --- prepared data in shards (prepare --streaming) ---
    def is_sharded(self) -> bool:
        return (self / SHARD_INDEX).is_file()

    def write_shard(self, part: str, number: int, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """Writes one shard of ``part``: ids ``(n, max_len)`` and labels ``(n,)``; returns its index entry."""
        entry: dict[str, Any] = {kind: f"{part}-{number:05d}-{kind}.npy" for kind in ("x", "y")}
        for kind, array in (("x", x), ("y", y)):
            atomic_write(self / SHARDS_DIR / entry[kind], functools.partial(_save_npy, array=array))
        return {**entry, "rows": int(len(y))}

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
            raise RunDirError(f"{self / SHARD_INDEX} is damaged; run 'lstmcli prepare' again")
        return index

    def shard_arrays(self, part: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields each shard of ``part`` as memory-mapped ``(x, y)``: only what is read comes into memory."""
        for shard in self.read_shard_index()["parts"][part]["shards"]:
            x, y = (self._load_shard(shard[kind]) for kind in ("x", "y"))
            if x.ndim != 2 or y.shape != (shard["rows"],) or len(x) != len(y):
                raise RunDirError(
                    f"{self / SHARDS_DIR / shard['x']} does not fit its index; run 'lstmcli prepare' again"
                )
            yield x, y

    def _load_shard(self, name: str) -> np.ndarray:
        path = self / SHARDS_DIR / name
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise RunDirError(f"{path} is missing; run 'lstmcli prepare' again") from None
        except (ValueError, OSError, EOFError) as exc:
            raise RunDirError(f"{path} is damaged ({exc}); run 'lstmcli prepare' again") from None

    def _joined_shards(self) -> Prepared:
        arrays: dict[str, np.ndarray] = {}
        for part in SHARD_PARTS:
            pieces = list(self.shard_arrays(part))
            arrays[f"{part}_x"] = np.concatenate([x for x, _ in pieces]) if pieces else np.zeros((0, 1), np.int32)
            arrays[f"{part}_y"] = np.concatenate([y for _, y in pieces]) if pieces else np.zeros(0, np.int32)
        prepared = Prepared(**arrays)
        self._check_prepared(prepared)
        return prepared

    def read_val_texts(self) -> list[str]:
        texts = self._read_json(f"{DATA_DIR}/{VAL_TEXTS}")
        return texts if isinstance(texts, list) else []

    # --- training results ---
    def write_history(self, history: list[dict[str, float]]) -> None:
        write_json(self / HISTORY, history)

    def read_history(self) -> list[dict[str, float]]:
        return self._read_json(HISTORY) if (self / HISTORY).is_file() else []

    def write_weights(self, weights: dict[str, np.ndarray]) -> None:
        atomic_write(self / WEIGHTS, lambda tmp: _save_npz(tmp, weights))

    def read_weights(self) -> dict[str, np.ndarray]:
        path = self / WEIGHTS
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {name: npz[name] for name in npz.files}
        except FileNotFoundError:
            raise RunDirError(f"{path} is missing; run 'lstmcli train' first") from None
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise RunDirError(f"{path} is damaged ({type(exc).__name__}); train the run again") from None

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self / METRICS, metrics)

    # --- helpers ---
    def _read_text(self, name: str) -> str:
        path = self / name
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
            raise RunDirError(f"{self / name} is damaged: not valid JSON") from None

    def read_json(self, name: str) -> Any:
        return self._read_json(name)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as fh:
        np.save(fh, array, allow_pickle=False)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with path.open("wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Holds an exclusive lock for writing ``run_dir``; a second writer gets RunDirError naming the holder."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = run_dir.parent / f".{run_dir.name}.lock"
    fh = lock_path.open("a+")
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
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
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
        raise RunDirError(
            f"run directory {run_dir} already holds a run; pass --overwrite to replace it, or choose another --run-dir"
        )
    stage = run_dir.parent / f".{run_dir.name}.new-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
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
