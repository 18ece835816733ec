"""The one place TensorFlow and Keras are imported, quietly unless asked otherwise.

Importing this module costs seconds: only training and model checks do it, never ``--help`` or ``predict``.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if not os.environ.get("LSTMCLI_VERBOSE") else "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Keras imports its optional integrations as it is imported, wherever they are installed: the scikit-learn
# wrapper (scikit-learn, and through it SciPy's statistics), plotting (matplotlib) and DataFrame input (pandas).
# Nothing here reaches them through Keras, and each import is guarded there (``try: import ... except
# ImportError``). Left out, TensorFlow and Keras imported in 1.75 s instead of 2.9 s (bench/RESULTS.md, "TensorFlow's
# import without Keras's optional integrations"). Code of this project that needs one imports it as usual.
KERAS_EXTRAS = frozenset({"sklearn", "scipy", "matplotlib", "pandas"})


class _LeftOut(importlib.abc.MetaPathFinder):
    """Makes ``import`` of ``names`` (and their submodules) fail in one thread, as if they were not installed.

    Only in that thread: another thread may import one of them meanwhile (prepare reads the CSV with pandas
    while TensorFlow imports on a thread) and gets it as usual. A module already imported is not looked up,
    so it stays what it is.
    """

    def __init__(self, names: frozenset[str]) -> None:
        self.names, self.thread = names, threading.get_ident()

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname.partition(".")[0] in self.names and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"{fullname} is left out of the trainer's import", name=fullname)
        return None


@contextlib.contextmanager
def _left_out(names: frozenset[str]) -> Iterator[None]:
    finder = _LeftOut(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


class _OtherThreads:
    """``sys.stderr`` while one thread imports TensorFlow with file descriptor 2 sent to /dev/null: that thread's
    lines go there too, every other thread's to the real stderr (``train DATA.csv`` shows prepare's progress and
    report meanwhile, which the whole process's /dev/null swallowed)."""

    def __init__(self, quiet: Any, real: Any) -> None:
        self.quiet, self.real, self.thread = quiet, real, threading.get_ident()

    def _stream(self) -> Any:
        return self.quiet if threading.get_ident() == self.thread else self.real

    def write(self, text: str) -> int:
        return int(self._stream().write(text))

    def flush(self) -> None:
        self._stream().flush()

    def isatty(self) -> bool:
        return bool(self._stream().isatty())

    def fileno(self) -> int:
        return int(self._stream().fileno())

    def __getattr__(self, name: str) -> Any:  # encoding, errors, buffer...: the stream's of this thread
        return getattr(self._stream(), name)


@contextlib.contextmanager
def _stderr_quiet() -> Iterator[None]:
    """Sends TensorFlow's C++ start-up lines (absl, CUDA probing) to /dev/null, unless asked for them; Python's
    lines of other threads still reach stderr (:class:`_OtherThreads`)."""
    if os.environ.get("LSTMCLI_VERBOSE"):
        yield
        return
    stderr = sys.stderr
    stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    # Left open once the import is done: another thread may still hold it for a line it is writing.
    real = os.fdopen(os.dup(saved), "w", buffering=1, encoding=stderr.encoding or "utf-8", errors="backslashreplace")
    try:
        sys.stderr = _OtherThreads(stderr, real)  # type: ignore[assignment]
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        sys.stderr = stderr
        real.flush()
        os.close(saved)
        os.close(devnull)


with _stderr_quiet(), _left_out(KERAS_EXTRAS):
    import keras
    import tensorflow as tf

tf.get_logger().setLevel("ERROR")
if not os.environ.get("LSTMCLI_VERBOSE"):
    warnings.filterwarnings("ignore", module="keras")
    warnings.filterwarnings("ignore", module="tensorflow")

__all__ = ["KERAS_EXTRAS", "keras", "tf"]
