"""Reading pretrained word vectors (word2vec, GloVe, fastText) for an embedding layer; NumPy only.

Formats, told apart by content rather than by the file's name:

- text (``.txt``, ``.vec``): one ``word 0.1 0.2 ...`` per line, with or without word2vec's ``count dim``
  header line (fastText's ``.vec`` has one, GloVe has none);
- word2vec binary (``.bin``): the ``count dim`` header line, then per word its UTF-8 bytes, a space and
  ``dim`` little-endian float32 values, optionally followed by a newline;
- either of them gzip-compressed (``.gz``), recognised by gzip's magic bytes.

The file is streamed: only the rows that are kept are held, as float32. Every row is checked, kept or not,
and anything malformed raises :class:`DataError` naming the file and the line (1-based) before any vector is
returned. A header's dim must match every row; its count is only a hint (files whose count is wrong still
read, as gensim's text reader allows), so a file cut short exactly at a line end reads as a shorter file.
Tokens that cannot be one of the run's tokens (one holding a space, as a few GloVe 840B lines have, or a
word2vec binary token that is not UTF-8, as a few GoogleNews ones are) are skipped, not errors.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import unicodedata
import zlib
from collections.abc import Callable, Collection, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from lstmcli.errors import ConfigError, DataError
from lstmcli.text.vocab import OOV, PAD

_GZIP_MAGIC = b"\x1f\x8b"
_FASTTEXT_MAGIC = struct.pack("<i", 793712314)  # a fastText model (.bin), which holds no plain vectors
_HEADER = re.compile(r"\s*(\d+)\s+(\d+)\s*")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PROBE_BYTES = 1 << 16
_MAX_WORD_BYTES = 1000  # word2vec's own limit is 100; past this a binary file is misread, not a long word
_BATCH_ROWS = 4096  # rows parsed and checked at once
_READ_BYTES = 1 << 20
_FALLBACK_STD = 0.05  # Keras's default embedding initialiser is uniform in +-0.05
_EXAMPLE = "'word 0.418 0.24968 ...' per line"


def normaliser(unicode_form: str = "NFKC", lowercase: bool = True) -> Callable[[str], str]:
    """The token normalisation of a run's cleaning, to match file tokens against the run's vocabulary.

    Args:
        unicode_form: ``NFC``, ``NFKC`` or ``none``, as the run's ``unicode_form`` setting.
        lowercase: whether tokens are case-folded, as the run's ``lowercase`` setting.

    Returns:
        A function from a file's token to the run's form of it; the defaults are those of :class:`Config`.
    """

    def normalise(token: str) -> str:
        if token.isascii():  # every Unicode form leaves ASCII as it is, and casefold is lower there
            return token.lower() if lowercase else token
        if unicode_form != "none":
            token = unicodedata.normalize(unicode_form, token)  # type: ignore[arg-type]
        return token.casefold() if lowercase else token

    return normalise


@dataclass(frozen=True, eq=False)
class Vectors:
    """Pretrained vectors read from one file, keyed by normalised tokens.

    Attributes:
        tokens: the kept tokens, normalised, each once, in file order (most frequent first in most files).
        matrix: float32 array of shape ``(len(tokens), dim)``; row ``i`` is the vector of ``tokens[i]``.
        dim: numbers per vector.
        rows: vectors in the file (lines or binary records, the header not counted).
        duplicates: rows dropped because an earlier row's token normalises to the same token.
        format: ``text`` or ``word2vec binary``, with `` (gzip)`` when compressed.
    """

    tokens: tuple[str, ...]
    matrix: np.ndarray
    dim: int
    rows: int
    duplicates: int
    format: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {tok: i for i, tok in enumerate(self.tokens)})

    @property
    def skipped(self) -> int:
        """Rows not kept: duplicates, rows left out by ``wanted``/``limit``, tokens no run can produce."""
        return self.rows - len(self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index  # type: ignore[attr-defined]

    def get(self, token: str) -> np.ndarray | None:
        """The vector of ``token``, shape ``(dim,)``, or None when the file has none."""
        row = self._index.get(token)  # type: ignore[attr-defined]
        return None if row is None else self.matrix[row]


_DEFAULT_NORMALISE = normaliser()


def read_vectors(
    path: str | os.PathLike[str],
    *,
    dim: int | None = None,
    wanted: Collection[str] | None = None,
    limit: int | None = None,
    normalise: Callable[[str], str] = _DEFAULT_NORMALISE,
) -> Vectors:
    """Reads word vectors from a text, word2vec binary or gzip-compressed file.

    Args:
        path: the vectors file.
        dim: the numbers per vector expected (``--embedding-dim``); None accepts the file's.
        wanted: tokens kept whenever the file has them (the training vocabulary), in normalised form.
        limit: how many other tokens to keep, the earliest in the file (usually the most frequent); None
            keeps every token, 0 only the wanted ones.
        normalise: maps a file token to the run's form (see :func:`normaliser`); when several tokens map to
            one form, the first in the file is kept.

    Returns:
        The kept vectors and counts of what was read.

    Raises:
        DataError: the file is missing, empty or malformed, or its dim is not ``dim``; the message names
            the file and line.
        ConfigError: ``dim`` or ``limit`` is out of range.
    """
    if dim is not None and dim <= 0:
        raise ConfigError(f"--embedding-dim must be a positive integer; received {dim}")
    if limit is not None and limit < 0:
        raise ConfigError(f"the vectors limit must be 0 or more; received {limit}")
    name = os.fspath(path)
    compressed, binary = _sniff(name)
    selector = _Selector(wanted, limit, normalise)
    with _open(name, compressed) as stream:
        reader = _read_binary if binary else _read_text
        matrix, dim, rows = reader(name, stream, dim, selector)
    kind = ("word2vec binary" if binary else "text") + (" (gzip)" if compressed else "")
    return Vectors(tuple(selector.keys), matrix, dim, rows, selector.duplicates, kind)


@dataclass(frozen=True)
class Selected:
    """The rows of a token list that :func:`select_rows` keeps.

    Attributes:
        tokens: the kept tokens, normalised, in list order.
        rows: the list index of each kept token.
        duplicates: tokens dropped because an earlier one normalises to the same form.
    """

    tokens: tuple[str, ...]
    rows: list[int]
    duplicates: int


def select_rows(
    tokens: Iterable[str], wanted: Collection[str] | None, limit: int | None, normalise: Callable[[str], str]
) -> Selected:
    """Which of ``tokens`` (the rows of vectors held elsewhere) to keep, by :func:`read_vectors`'s rules."""
    selector = _Selector(wanted, limit, normalise)
    rows = [i for i, token in enumerate(tokens) if selector.take(token)]
    return Selected(tuple(selector.keys), rows, selector.duplicates)


class _Selector:
    """Decides, row by row, which tokens are kept: the first of each normalised form, wanted or within limit."""

    def __init__(self, wanted: Collection[str] | None, limit: int | None, normalise: Callable[[str], str]):
        self.wanted = frozenset(wanted or ())
        self.limit = limit
        self.normalise = normalise
        self.keys: dict[str, None] = {}  # kept tokens in file order
        self.others = 0  # kept tokens that are not wanted
        self.duplicates = 0

    def take(self, token: str) -> bool:
        """Whether the row of ``token`` is kept (then its normalised form is the next of :attr:`keys`)."""
        key = self.normalise(token)
        if key in self.keys:
            self.duplicates += 1
            return False
        if not key or " " in key or (not key.isascii() and len(key.split()) != 1):
            return False  # the run's tokens are never empty and never hold whitespace
        if key not in self.wanted:
            if self.limit is not None and self.others >= self.limit:
                return False
            self.others += 1
        self.keys[key] = None
        return True


class _Batch:
    """Rows waiting to be checked together; keeps the values of kept rows as float32 blocks."""

    def __init__(self, path: str, dim: int):
        self.path, self.dim = path, dim
        self.linenos: list[int] = []
        self.keep: list[bool] = []
        self.blocks: list[np.ndarray] = []
        self.rows = 0

    def add(self, lineno: int, keep: bool) -> bool:
        """Records a row; True when the batch is full and should be flushed."""
        self.linenos.append(lineno)
        self.keep.append(keep)
        self.rows += 1
        return len(self.linenos) >= _BATCH_ROWS

    def store(self, values: np.ndarray) -> None:
        """Checks ``values`` (shape ``(rows in batch, dim)``) are finite, keeps the kept rows, starts afresh."""
        finite = np.isfinite(values).all(axis=1)
        if not finite.all():
            row = int(np.argmin(finite))
            bad = values[row][~np.isfinite(values[row])][0]
            raise DataError(
                f"{self.path} line {self.linenos[row]} has the value {bad}; vectors must be finite "
                "numbers (nan, inf or beyond float32's range are not)"
            )
        if any(self.keep):
            self.blocks.append(values[np.array(self.keep)].astype(np.float32, copy=False))  # a copy: a mask
        self.linenos, self.keep = [], []

    def matrix(self) -> np.ndarray:
        """All kept rows, float32 of shape ``(kept, dim)``."""
        if not self.blocks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(self.blocks)


def _sniff(path: str) -> tuple[bool, bool]:
    """(whether ``path`` is gzip-compressed, whether it is word2vec binary), from its first bytes."""
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == _GZIP_MAGIC
    except OSError as exc:
        raise DataError(f"cannot read the vectors file {path}: {exc.strerror or exc}") from None
    with _open(path, compressed) as stream:
        try:
            probe = stream.read(_PROBE_BYTES)
        except (EOFError, OSError, zlib.error) as exc:
            raise DataError(f"{path} line 1: the gzip data is corrupt ({exc}); download the file again") from None
    if not probe.strip():
        raise DataError(f"{path} line 1: the file is empty; expected word vectors, {_EXAMPLE}")
    if probe.startswith(_FASTTEXT_MAGIC):
        raise DataError(
            f"{path} line 1: this is a fastText model, not word vectors; use the .vec file of the "
            "same download (or write one with: fasttext print-word-vectors)"
        )
    return compressed, _is_binary(probe)


def _is_binary(probe: bytes) -> bool:
    """Whether the first bytes are a ``count dim`` header followed by raw floats rather than text."""
    head, newline, body = probe.partition(b"\n")
    header = _header(head.decode("latin-1"))
    if not newline or header is None:
        return False
    fields = body.split(b"\n", 1)[0].split()
    if len(fields) == header[1] + 1 and all(_is_number(field.decode("latin-1")) for field in fields[1:]):
        return False  # a text row, whatever its word's encoding
    sample = body[: 4 * header[1] + 256]
    if _CONTROL.search(sample):
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(sample) - 3  # a character cut at the sample's end is still text
    return False


def _open(path: str, compressed: bool) -> BinaryIO:
    return gzip.open(path, "rb") if compressed else open(path, "rb")  # type: ignore[return-value]


def _header(line: str) -> tuple[int, int] | None:
    """(count, dim) when ``line`` is word2vec's header line."""
    match = _HEADER.fullmatch(line)
    return (int(match[1]), int(match[2])) if match else None


def _check_dim(path: str, lineno: int, found: int, expected: int | None) -> int:
    """Returns the file's dim ``found`` on line ``lineno`` after checking it against ``expected``."""
    if found <= 0:
        raise DataError(
            f"{path} line {lineno}: the header says the vectors have {found} numbers; "
            "the header must be 'count dim' with dim at least 1"
        )
    if expected is not None and found != expected:
        raise DataError(
            f"{path} line {lineno}: the vectors have {found} numbers per word but --embedding-dim "
            f"is {expected}; pass --embedding-dim {found} (or use vectors of dim {expected})"
        )
    return found


def _text_lines(path: str, stream: BinaryIO) -> Iterator[tuple[int, str]]:
    """The file's non-blank lines as (1-based line number, text without trailing whitespace)."""
    lineno = 0
    try:
        while raws := stream.readlines(_READ_BYTES):
            text = _decode(path, lineno, raws)
            lines = text.split("\n")
            if text.endswith("\n"):
                lines.pop()
            if lineno == 0:
                lines[0] = lines[0].removeprefix("\ufeff")
            start = lineno + 1  # numbering goes on from the last block
            for lineno, line in enumerate(lines, start):
                line = line.rstrip()
                if line:
                    yield lineno, line
    except _GZIP_ERRORS as exc:
        raise _corrupt(path, lineno + 1, exc) from None


def _decode(path: str, lineno: int, raws: list[bytes]) -> str:
    """The UTF-8 text of the lines ``raws`` that follow line ``lineno``; DataError at the first binary one."""
    data = b"".join(raws)
    try:
        if b"\0" not in data:
            return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for number, raw in enumerate(raws, lineno + 1):
        if b"\0" in raw:
            raise DataError(
                f"{path} line {number} holds binary data (a NUL byte); expected a text vectors "
                f"file ({_EXAMPLE}) or word2vec binary starting with a 'count dim' line"
            )
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path} line {number} is not UTF-8 (byte 0x{raw[exc.start]:02x} at byte "
                f"{exc.start + 1} of the line); vectors files are UTF-8 text ({_EXAMPLE}) or "
                "word2vec binary starting with a 'count dim' line"
            ) from None
    raise AssertionError("unreachable: the lines decode one by one but not together")


def _read_text(path: str, stream: BinaryIO, dim: int | None, selector: _Selector) -> tuple[np.ndarray, int, int]:
    """Reads the text format; returns (kept vectors, dim, rows read)."""
    lines = _text_lines(path, stream)
    first = next(lines, None)
    if first is None:
        raise DataError(f"{path} line 1: the file is empty; expected word vectors, {_EXAMPLE}")
    header = _header(first[1])
    if header is not None:
        batch = _TextBatch(path, _check_dim(path, first[0], header[1], dim), "the header on line 1 says")
    else:
        found = len(first[1].split()) - 1
        if found == 0:
            raise DataError(
                f"{path} line {first[0]} has a word but no numbers ('{_preview(first[1])}'); "
                f"expected word vectors, {_EXAMPLE} (is this a vectors file?)"
            )
        batch = _TextBatch(path, _check_dim(path, first[0], found, dim), f"line {first[0]} has")
        batch.add_line(*first, selector)
        batch.flush()  # a file of prose or CSV fails here, on its first line, rather than on a ragged later one
    for lineno, line in lines:
        if batch.add_line(lineno, line, selector):
            batch.flush()
    batch.flush()
    if not batch.rows:
        raise DataError(f"{path} line 2: no vectors after the header '{first[1]}'; expected {_EXAMPLE}")
    return batch.matrix(), batch.dim, batch.rows


class _TextBatch(_Batch):
    """A batch of text rows, parsed with one NumPy call and looked at row by row only when that fails."""

    def __init__(self, path: str, dim: int, dim_source: str):
        super().__init__(path, dim)
        self.dim_source = dim_source  # where dim came from, for the ragged-row message
        self.numbers: list[str] = []

    def add_line(self, lineno: int, line: str, selector: _Selector) -> bool:
        """Adds one line; True when the batch is full."""
        token, _, numbers = line.partition(" ")
        if not numbers or numbers.count(" ") + 1 != self.dim or "\t" in token:  # not single spaces: look closer
            fields = line.split()
            if len(fields) > self.dim + 1 and not _is_number(fields[-self.dim - 1]):
                token, numbers = "", " ".join(fields[-self.dim :])  # a token with spaces: checked, never kept
            elif len(fields) - 1 != self.dim:
                raise self._ragged(lineno, len(fields) - 1)
            else:
                token, numbers = fields[0], " ".join(fields[1:])
        self.numbers.append(numbers)
        self.linenos.append(lineno)
        self.keep.append(bool(token) and selector.take(token))
        self.rows += 1
        return len(self.numbers) >= _BATCH_ROWS

    def flush(self) -> None:
        if not self.numbers:
            return
        values = _parse(self.numbers, self.dim)
        if values is None:  # find the culprit and say which line it is on
            values = np.array([self._parse_row(i) for i in range(len(self.numbers))], dtype=np.float32)
        self.store(values)
        self.numbers = []

    def _parse_row(self, i: int) -> list[float]:
        """The numbers of the batch's row ``i``; DataError naming the first value that is not a number."""
        fields = self.numbers[i].split()
        if len(fields) != self.dim:
            raise self._ragged(self.linenos[i], len(fields))
        try:
            return [float(field) for field in fields]
        except ValueError:
            bad = next(field for field in fields if not _is_number(field))
            raise DataError(
                f"{self.path} line {self.linenos[i]}: '{_preview(bad)}' is not a number; "
                f"expected a word and {self.dim} numbers (is this a vectors file?)"
            ) from None

    def _ragged(self, lineno: int, found: int) -> DataError:
        return DataError(
            f"{self.path} line {lineno} has {found} numbers, expected {self.dim} as {self.dim_source}; "
            f"each line must be a word and {self.dim} numbers"
        )


def _parse(rows: list[str], dim: int) -> np.ndarray | None:
    """The numbers of ``rows`` (whitespace-separated) as float32 ``(len(rows), dim)``; None if one is malformed."""
    try:
        values = np.loadtxt(rows, dtype=np.float32, comments=None, ndmin=2)  # NumPy's C parser: fast
    except ValueError:
        return None
    return values if values.shape == (len(rows), dim) else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _preview(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _read_binary(path: str, stream: BinaryIO, dim: int | None, selector: _Selector) -> tuple[np.ndarray, int, int]:
    """Reads word2vec's binary format; returns (kept vectors, dim, rows read)."""
    header = _header(stream.readline().decode("latin-1"))
    assert header is not None  # _sniff found it
    batch = _Batch(path, _check_dim(path, 1, header[1], dim))
    pending: list[np.ndarray] = []
    for lineno, word, values in _binary_records(path, stream, batch.dim):
        pending.append(values)
        try:
            token = word.decode("utf-8")
        except UnicodeDecodeError:
            token = ""  # a few GoogleNews words are cut inside a character: skipped, as gensim can
        if batch.add(lineno, bool(token) and selector.take(token)):
            batch.store(np.stack(pending))
            pending = []
    if pending:
        batch.store(np.stack(pending))
    if not batch.rows:
        raise DataError(f"{path} line 2: no vectors after the header '{header[0]} {header[1]}'")
    return batch.matrix(), batch.dim, batch.rows


def _binary_records(path: str, stream: BinaryIO, dim: int) -> Iterator[tuple[int, bytes, np.ndarray]]:
    """Yields (line number, word bytes, float32 view of shape ``(dim,)``) per record after the header."""
    size, need = 4 * dim, 4 * dim + _MAX_WORD_BYTES + 2
    buf, pos, offset, index, eof = b"", 0, _tell(stream), 0, False
    while True:
        if len(buf) - pos < need and not eof:
            more = _read_more(path, stream, index + 2)
            eof = not more
            buf, offset, pos = buf[pos:] + more, offset + pos, 0
            continue
        while buf[pos : pos + 1] in (b"\n", b"\r"):  # the newline word2vec writes after each vector
            pos += 1
        if pos >= len(buf):
            return
        index += 1
        space = buf.find(b" ", pos, pos + _MAX_WORD_BYTES + 1)
        if space < 0 or space + 1 + size > len(buf):
            raise _binary_error(path, index, offset + pos, dim, space < 0 and len(buf) - pos > _MAX_WORD_BYTES)
        yield index + 1, buf[pos:space], np.frombuffer(buf, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + size


def _tell(stream: BinaryIO) -> int:
    """The stream's position (past the header), for the byte offsets in messages; 0 if it cannot tell."""
    try:
        return stream.tell()
    except OSError:
        return 0


_GZIP_ERRORS = (EOFError, OSError, zlib.error)


def _corrupt(path: str, lineno: int, exc: Exception) -> DataError:
    """The error for gzip data that ends early or is corrupt around line ``lineno``."""
    return DataError(f"{path} line {lineno}: the gzip data ends early or is corrupt ({exc}); download the file again")


def _read_more(path: str, stream: BinaryIO, lineno: int) -> bytes:
    try:
        return stream.read(_READ_BYTES)
    except _GZIP_ERRORS as exc:
        raise _corrupt(path, lineno, exc) from None


def _binary_error(path: str, index: int, offset: int, dim: int, no_word: bool) -> DataError:
    where = f"{path} line {index + 1} (vector {index}, byte {offset})"
    if no_word:
        return DataError(
            f"{where}: no word within {_MAX_WORD_BYTES} bytes; the file is damaged or its header's dim ({dim}) is wrong"
        )
    return DataError(
        f"{where}: the file ends inside this vector of {dim} float32 values; it is truncated "
        f"(download it again) or its header's dim ({dim}) is wrong"
    )


@dataclass(frozen=True)
class Coverage:
    """How much of a vocabulary pretrained vectors cover.

    Attributes:
        types: vocabulary tokens (padding and out-of-vocabulary not counted).
        types_found: those with a vector.
        tokens: training tokens, every occurrence counted.
        tokens_found: occurrences of vocabulary tokens with a vector.
    """

    types: int
    types_found: int
    tokens: int
    tokens_found: int

    @property
    def type_share(self) -> float:
        return self.types_found / self.types if self.types else 0.0

    @property
    def token_share(self) -> float:
        return self.tokens_found / self.tokens if self.tokens else 0.0


def coverage(vocab_tokens: Iterable[str], counts: Mapping[str, int], found: Container[str]) -> Coverage:
    """Shares of vocabulary types and of training tokens that have a pretrained vector.

    Args:
        vocab_tokens: the vocabulary, e.g. ``Vocabulary.tokens``; padding and out-of-vocabulary are ignored.
        counts: occurrences of every training token, in or out of the vocabulary (out of it, none has a vector).
        found: the tokens with a vector, e.g. a :class:`Vectors`.

    Returns:
        The counts behind both shares.
    """
    vocab = [tok for tok in vocab_tokens if tok not in (PAD, OOV)]
    hits = [tok for tok in vocab if tok in found]
    return Coverage(len(vocab), len(hits), sum(counts.values()), sum(counts.get(tok, 0) for tok in hits))


def embedding_matrix(vocab_tokens: Sequence[str], vectors: Vectors, seed: int) -> np.ndarray:
    """Initial weights of an embedding layer: the file's vector for each token it has, random ones otherwise.

    Random rows are normal with mean 0 and the standard deviation of the found vectors' values (of all the
    file's kept vectors when none is found), so they are on the same scale; row 0, padding, is zeros.

    Args:
        vocab_tokens: the vocabulary, id order (``Vocabulary.tokens``); id 0 is padding.
        vectors: what :func:`read_vectors` returned, with the vocabulary as ``wanted``.
        seed: seeds the random rows.

    Returns:
        float32 array of shape ``(len(vocab_tokens), vectors.dim)``.
    """
    rows = [vectors._index.get(tok) for tok in vocab_tokens]  # type: ignore[attr-defined]
    found = np.array([i for i, row in enumerate(rows) if row is not None and i != 0], dtype=np.int64)
    source = vectors.matrix[[rows[i] for i in found]] if found.size else vectors.matrix
    std = float(source.std()) if source.size > 1 and source.std() > 0 else _FALLBACK_STD
    out = np.random.default_rng(seed).normal(0.0, std, (len(vocab_tokens), vectors.dim)).astype(np.float32)
    if found.size:
        out[found] = source
    if len(out):
        out[0] = 0.0
    return out
