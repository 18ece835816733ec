"""The one place TensorFlow and Keras are imported, quietly unless asked otherwise.

Importing this module costs seconds: only training and model checks do it, never ``--help`` or ``predict``.
"""

from __future__ import annotations

import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if not os.environ.get("LSTMCLI_VERBOSE") else "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _import_quietly() -> None:
    """Imports TensorFlow with its C++ start-up lines (absl, CUDA probing) sent to /dev/null."""
    if os.environ.get("LSTMCLI_VERBOSE"):
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_quietly()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")
if not os.environ.get("LSTMCLI_VERBOSE"):
    warnings.filterwarnings("ignore", module="keras")
    warnings.filterwarnings("ignore", module="tensorflow")

__all__ = ["keras", "tf"]
