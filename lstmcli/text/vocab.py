"""The vocabulary and fixed-length encoding: tokens to ids, ids to padded arrays."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lstmcli.config import Config
from lstmcli.errors import DataError
from lstmcli.text.tokens import tokenize

PAD, OOV = "<pad>", "<unk>"
PAD_ID, OOV_ID = 0, 1


@dataclass(frozen=True)
class Vocabulary:
    """Token ids: 0 is padding, 1 is out-of-vocabulary, then tokens from most to least frequent."""

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ids", {tok: i for i, tok in enumerate(self.tokens)})

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], max_size: int, min_count: int) -> Vocabulary:
        """Counts tokens and keeps the ``max_size - 2`` most frequent seen at least ``min_count`` times."""
        counts = Counter(tok for tokens in token_lists for tok in tokens)
        ranked = sorted((item for item in counts.items() if item[1] >= min_count), key=lambda kv: (-kv[1], kv[0]))
        return cls((PAD, OOV, *(tok for tok, _ in ranked[: max_size - 2])))

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """Reads the one-token-per-line form written by :meth:`to_text`."""
        tokens = tuple(text.split("\n")[:-1]) if text.endswith("\n") else tuple(text.split("\n"))
        if len(tokens) < 2 or tokens[:2] != (PAD, OOV):
            raise DataError(f"vocabulary must start with the lines '{PAD}' and '{OOV}'")
        if len(set(tokens)) != len(tokens):
            raise DataError("vocabulary has a token twice")
        return cls(tokens)

    def to_text(self) -> str:
        return "".join(tok + "\n" for tok in self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def ids(self, tokens: Iterable[str]) -> list[int]:
        lookup: dict[str, int] = self._ids  # type: ignore[attr-defined]
        return [lookup.get(tok, OOV_ID) for tok in tokens]


def pad(sequences: Sequence[Sequence[int]], max_len: int, padding: str, truncating: str) -> np.ndarray:
    """Pads or truncates id sequences to one length, like Keras's ``pad_sequences``.

    Returns:
        int32 array of shape ``(len(sequences), max_len)``, padding id 0.
    """
    out = np.zeros((len(sequences), max_len), dtype=np.int32)
    for row, seq in enumerate(sequences):
        seq = seq[-max_len:] if truncating == "pre" else seq[:max_len]
        if not seq:
            continue
        if padding == "pre":
            out[row, max_len - len(seq) :] = seq
        else:
            out[row, : len(seq)] = seq
    return out


def encode(texts: Iterable[str], vocab: Vocabulary, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """Turns texts into padded ids with the run's saved settings.

    Returns:
        ids of shape ``(n, config.max_len)`` and the number of tokens per text before truncation, ``(n,)``.
    """
    sequences = [vocab.ids(tokenize(t, config)) for t in texts]
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    return pad(sequences, config.max_len, config.padding, config.truncating), lengths
