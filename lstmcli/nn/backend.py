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


@contextlib.contextmanager
def _stderr_quiet() -> Iterator[None]:
    """Sends TensorFlow's C++ start-up lines (absl, CUDA probing) to /dev/null, unless asked for them."""
    if os.environ.get("LSTMCLI_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
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
