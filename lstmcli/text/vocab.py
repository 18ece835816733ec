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
