"""The vocabulary: tokens to ids, and its one-token-per-line file form."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lstmcli.errors import DataError

PAD, OOV = "<pad>", "<unk>"
PAD_ID, OOV_ID = 0, 1
END_ID = -1  # where :meth:`Vocabulary.id_array` met the token that ends a text


@dataclass(frozen=True)
class Vocabulary:
    """Token ids: 0 is padding, 1 is out-of-vocabulary, then tokens from most to least frequent."""

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ids", dict(zip(self.tokens, range(len(self.tokens)))))
        object.__setattr__(self, "_with_end", {})  # end token -> the lookup that maps it to END_ID

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], max_size: int, min_count: int) -> Vocabulary:
        """Counts tokens and keeps the ``max_size - 2`` most frequent seen at least ``min_count`` times."""
        return cls.from_counts(Counter(tok for tokens in token_lists for tok in tokens).items(), max_size, min_count)

    @classmethod
    def from_counts(cls, counts: Iterable[tuple[str, int]], max_size: int, min_count: int) -> Vocabulary:
        """Keeps the ``max_size - 2`` most frequent ``(token, count)`` pairs seen ``min_count`` times; ties by token."""
        ranked = sorted((item for item in counts if item[1] >= min_count), key=lambda kv: (-kv[1], kv[0]))
        return cls((PAD, OOV, *(tok for tok, _ in ranked[: max_size - 2])))

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """Reads the one-token-per-line form written by :meth:`to_text`."""
        tokens = tuple(text.split("\n")[:-1]) if text.endswith("\n") else tuple(text.split("\n"))
        if len(tokens) < 2 or tokens[:2] != (PAD, OOV):
            raise DataError(f"vocabulary must start with the lines '{PAD}' and '{OOV}'")
        vocab = cls(tokens)
        if len(vocab._ids) != len(tokens):  # type: ignore[attr-defined]  # a token twice keeps one id
            raise DataError("vocabulary has a token twice")
        return vocab

    def to_text(self) -> str:
        return "".join(tok + "\n" for tok in self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def ids(self, tokens: Iterable[str]) -> list[int]:
        lookup: dict[str, int] = self._ids  # type: ignore[attr-defined]
        return [lookup.get(tok, OOV_ID) for tok in tokens]

    def id_array(self, tokens: Sequence[str], end: str) -> np.ndarray:
        """int32 ids of ``tokens`` ``(len(tokens),)`` in one pass: OOV_ID for an unknown token, END_ID for ``end``
        (a token the vocabulary cannot hold, such as a line end)."""
        lookups: dict[str, dict[str, int]] = self._with_end  # type: ignore[attr-defined]
        lookup = lookups.get(end)
        if lookup is None:
            lookup = lookups[end] = {**self._ids, end: END_ID}  # type: ignore[attr-defined]
        found = map(lookup.get, tokens, itertools.repeat(OOV_ID, len(tokens)))
        return np.fromiter(found, np.int32, len(tokens))

    def byte_ids(self, data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, end: str) -> np.ndarray:
        """:meth:`id_array` of ASCII tokens given as bytes: token ``k`` is ``data[starts[k] : starts[k] +
        lengths[k]]``; ``end`` is one character, and no other token holds a zero byte.

        A token of up to :data:`KEY_BYTES` bytes is its bytes read as two integers, looked up in a hash table of
        the vocabulary's tokens read so (:class:`_ByteTable`, built at the first call): a few NumPy passes over a
        chunk, no string made, the ids the dict gives. The longer ones (well under 1% of English tokens) are
        looked up in the dict.

        Args:
            data: uint8 ``(bytes,)``; starts, lengths: int64 ``(tokens,)``.

        Returns:
            int32 ``(tokens,)``.
        """
        table: _ByteTable | None = getattr(self, "_byte_table", None)
        if table is None:
            table = _ByteTable(self.tokens, self._ids)  # type: ignore[attr-defined]
            object.__setattr__(self, "_byte_table", table)
        ids = table.get(byte_keys(data, starts, lengths))
        ids[(lengths == 1) & (data[starts] == ord(end))] = END_ID
        long = np.flatnonzero(lengths > KEY_BYTES)
        if len(long):
            ids[long] = self.id_array(byte_strings(data, starts[long], lengths[long]), end)
        return ids


KEY_BYTES = 16  # a token of up to this many bytes is two uint64 words (byte_keys), looked up without a string


def byte_keys(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each token ``data[start : start + length]`` as the two uint64 whose little-endian bytes are its first
    :data:`KEY_BYTES` bytes (zeros past its end), ``(tokens, 2)``: tokens of up to that length without a zero
    byte have distinct keys, and none has the key (0, 0)."""
    padded = np.zeros(len(data) + KEY_BYTES, dtype=np.uint8)
    padded[: len(data)] = data
    windows = np.lib.stride_tricks.as_strided(padded, shape=(len(data), KEY_BYTES), strides=(1, 1))
    words = np.ascontiguousarray(windows[starts]).view("<u8")
    return words & _LOW_BYTES[np.minimum(lengths, KEY_BYTES)]


# The masks of a token's first n bytes, n = 0..16, over its two words.
_LOW_BYTES = np.array(
    [[(1 << (8 * min(n, 8))) - 1, (1 << (8 * max(n - 8, 0))) - 1] for n in range(KEY_BYTES + 1)], dtype=np.uint64
)


def byte_strings(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> list[str]:
    """ASCII tokens ``data[start : start + length]`` as strings: their bytes gathered with a space after each, one
    decode, one split (a token holds no whitespace)."""
    spans = lengths + 1
    ends = np.cumsum(spans)
    source = np.repeat(starts - (ends - spans), spans) + np.arange(int(ends[-1]) if len(ends) else 0)
    gathered = data[np.minimum(source, len(data) - 1)]
    gathered[ends - 1] = ord(" ")
    return gathered.tobytes().decode("ascii").split()


class _ByteTable:
    """A vocabulary's tokens of up to :data:`KEY_BYTES` bytes as :func:`byte_keys`, in an open-addressing hash
    table (linear probing, under half full) that NumPy probes for a whole chunk of keys at once: ``first`` and
    ``second`` hold each slot's key, ``ids`` its id. A token's first word is never 0 (a token has a first byte,
    and it is not zero): 0 marks an empty slot."""

    def __init__(self, tokens: tuple[str, ...], lookup: dict[str, int]) -> None:
        ids = np.arange(len(tokens), dtype=np.int32)
        if len(lookup) != len(tokens):  # a token twice: the dict holds its last id
            tokens, ids = tuple(lookup), np.fromiter(lookup.values(), np.int32, len(lookup))
        joined = "\n".join(tokens)
        if joined.count("\n") > max(len(tokens) - 1, 0) or "\x00" in joined:
            # A token holding a zero byte would share its key with a shorter one, one holding a line end would be
            # split below: neither is kept (no token byte_ids looks up holds either).
            kept = [i for i, token in enumerate(tokens) if "\n" not in token and "\x00" not in token]
            tokens, ids = tuple(tokens[i] for i in kept), ids[kept]
            joined = "\n".join(tokens)
        data = np.frombuffer(joined.encode("utf-8", "surrogatepass") + b"\n", np.uint8)
        ends = np.flatnonzero(data == ord("\n"))
        starts = np.concatenate([[0], ends[:-1] + 1])
        lengths = ends - starts
        usable = (lengths > 0) & (lengths <= KEY_BYTES)
        keys, ids = byte_keys(data, starts[usable], lengths[usable]), ids[usable]
        self.mask = (1 << max(int(2 * len(keys)).bit_length(), 4)) - 1
        self.first, self.second = np.zeros((2, self.mask + 1), dtype=np.uint64)
        self.ids = np.full(self.mask + 1, OOV_ID, dtype=np.int32)  # an empty slot's: what a miss gives
        slot, pending = self._slot(keys[:, 0], keys[:, 1]), np.arange(len(keys))
        claim = np.full(self.mask + 1, -1, dtype=np.int64)
        while len(pending):  # each round places the keys whose slot is free, one per slot; the others move on
            free = np.flatnonzero(self.first[slot] == 0)
            claim[slot[free]] = free
            won = free[claim[slot[free]] == free]
            claim[slot[free]] = -1
            placed, at = pending[won], slot[won]
            self.first[at], self.second[at], self.ids[at] = keys[placed, 0], keys[placed, 1], ids[placed]
            lost = np.ones(len(pending), dtype=bool)
            lost[won] = False
            pending, slot = pending[lost], (slot[lost] + 1) & self.mask

    def _slot(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Fibonacci hashing of the two words: the high bits of a product by 2**64 over the golden ratio."""
        mixed = (first ^ (second * np.uint64(0xC2B2AE3D27D4EB4F))) * np.uint64(0x9E3779B97F4A7C15)
        return (mixed >> np.uint64(64 - self.mask.bit_length())).astype(np.int64)

    def get(self, keys: np.ndarray) -> np.ndarray:
        """int32 ids of ``keys`` ``(n, 2)``, OOV_ID where the vocabulary has none."""
        first, second = np.ascontiguousarray(keys[:, 0]), np.ascontiguousarray(keys[:, 1])
        slot = self._slot(first, second)
        held = self.first[slot]
        hit = (held == first) & (self.second[slot] == second)
        found = self.ids[slot]
        found[~hit] = OOV_ID
        pending = np.flatnonzero(~hit & (held != 0))  # the others found their key or an empty slot
        slot = slot[pending]
        while len(pending):
            slot = (slot + 1) & self.mask
            held = self.first[slot]
            hit = (held == first[pending]) & (self.second[slot] == second[pending])
            found[pending[hit]] = self.ids[slot[hit]]
            going = ~hit & (held != 0)
            pending, slot = pending[going], slot[going]
        return found
