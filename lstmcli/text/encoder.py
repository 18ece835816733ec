"""Text to ids, written once: a text's tokens, their vocabulary ids, and rows padded to the run's ``max_len``.

prepare (in memory and chunk by chunk into shards), predict and explain all turn text into ids through
:class:`Encoder`, so the model reads at prediction exactly what it was trained on.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import TypeVar

import numpy as np

from lstmcli.config import Config
from lstmcli.text.tokens import TEXT_END, AsciiTokens, token_groups, tokenize
from lstmcli.text.vocab import END_ID, OOV_ID, Vocabulary

T = TypeVar("T")
PAD_ROWS = 8192  # rows padded at once: bounds the temporaries whatever the corpus's size
# Tokens from which a chunk's ASCII tokens are looked up as bytes (Vocabulary.byte_ids): its table costs a few
# milliseconds once, a short text (a single line to label) looks its tokens up in the dict.
BYTE_LOOKUP_TOKENS = 2048


class Encoder:
    """Turns texts into the ids a run's model reads, with the run's config and vocabulary.

    A text without any token becomes one unknown id, so that every row holds at least one token.
    """

    def __init__(self, config: Config, vocab: Vocabulary) -> None:
        self.config = config
        self.vocab = vocab

    def tokens(self, text: str) -> list[str]:
        """The text cleaned and split as the config says (before truncation)."""
        return tokenize(text, self.config)

    def ids(self, text: str) -> list[int]:
        """Vocabulary ids of every token of the text (before truncation)."""
        return self.vocab.ids(self.tokens(text))

    def truncate(self, items: Sequence[T]) -> Sequence[T]:
        """The items that survive truncation to ``max_len``, from the end the config keeps."""
        max_len = self.config.max_len
        return items[-max_len:] if self.config.truncating == "pre" else items[:max_len]

    def encode(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Padded ids of texts and their token counts, the same as :meth:`encode_tokens` of each text's
        :meth:`tokens`, computed many texts at a time (:func:`lstmcli.text.tokens.token_groups`).

        Returns:
            int32 ids ``(n, max_len)`` and the number of tokens per text before truncation ``(n,)``.
        """
        ids, lengths = self.texts_flat_ids(texts if isinstance(texts, Sequence) else list(texts))
        return self.pad_flat(ids, lengths), lengths

    def texts_flat_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`flat_ids` of the texts' tokens: int32 ids ``(sum(lengths),)`` and int64 lengths ``(n,)``."""
        lengths = np.zeros(len(texts), dtype=np.int64)
        groups = []
        for rows, tokens in token_groups(texts, self.config):
            ids = self._ids(tokens)
            ends = np.flatnonzero(ids == END_ID)  # one per text of the group
            counts = np.diff(ends, prepend=-1) - 1
            index = np.arange(len(texts)) if rows is None else np.asarray(rows, dtype=np.int64)
            lengths[index] += counts
            groups.append((index, counts, ids[ids != END_ID]))
        if len(groups) == 1:
            return groups[0][2], lengths
        flat = np.empty(int(lengths.sum()), dtype=np.int32)
        starts = np.cumsum(lengths) - lengths  # where each text's ids go
        for index, counts, ids in groups:  # a text's ids all come from one group
            first = np.cumsum(counts) - counts  # where each text's ids are in the group's
            flat[np.repeat(starts[index] - first, counts) + np.arange(len(ids))] = ids
        return flat, lengths

    def _ids(self, tokens: list[str] | AsciiTokens) -> np.ndarray:
        """int32 ids of a group's tokens, END_ID for each TEXT_END; the vocabulary's byte lookup for a large one."""
        if isinstance(tokens, list):
            return self.vocab.id_array(tokens, TEXT_END)
        if len(tokens.starts) < BYTE_LOOKUP_TOKENS:
            return self.vocab.id_array(tokens.strings(), TEXT_END)
        return self.vocab.byte_ids(tokens.data, tokens.starts, tokens.lengths, TEXT_END)

    def encode_tokens(self, token_lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`encode` for texts already split into tokens."""
        ids, lengths = self.flat_ids(token_lists)
        return self.pad_flat(ids, lengths), lengths

    def flat_ids(self, token_lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Every row's untruncated vocabulary ids, one row after the other, and the ids per row.

        Returns:
            int32 ids ``(sum(lengths),)`` and int64 lengths ``(n,)``.
        """
        lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
        flat = self.vocab.ids(itertools.chain.from_iterable(token_lists))
        return np.array(flat, dtype=np.int32), lengths

    def pad(self, rows: Sequence[Sequence[int]]) -> np.ndarray:
        """Id lists padded or truncated to int32 ``(n, max_len)``; an empty list becomes one unknown id."""
        return self.pad_flat(*flatten(rows))

    def pad_flat(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Rows given as ids concatenated row after row, padded or truncated to int32 ``(n, max_len)``.

        Args:
            ids: every row's ids, one after the other, ``(sum(lengths),)``.
            lengths: ids per row ``(n,)``; a row without any gets one unknown id.
        """
        config = self.config
        out = pad_flat(ids, lengths, config.max_len, config.padding, config.truncating)
        out[np.flatnonzero(lengths == 0), -1 if config.padding == "pre" else 0] = OOV_ID
        return out


def pad(sequences: Sequence[Sequence[int]], max_len: int, padding: str, truncating: str) -> np.ndarray:
    """Pads or truncates id sequences to one length, like Keras's ``pad_sequences`` (empty ones stay all padding).

    Returns:
        int32 array of shape ``(len(sequences), max_len)``, padding id 0.
    """
    return pad_flat(*flatten(sequences), max_len, padding, truncating)


def flatten(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Id lists as one int32 array of their ids, row after row, and int64 ids per row ``(n,)``."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    return np.fromiter(itertools.chain.from_iterable(rows), np.int32, int(lengths.sum())), lengths


def pad_flat(ids: np.ndarray, lengths: np.ndarray, max_len: int, padding: str, truncating: str) -> np.ndarray:
    """:func:`pad` for rows given as ids concatenated row after row ``(sum(lengths),)``, lengths ``(n,)``.

    Each kept id is put in its place in one pass over the kept ids, whatever the padding around them (a Chinese
    corpus's rows are four fifths padding).

    Returns:
        int32 ``(n, max_len)``, padding id 0.
    """
    out = np.zeros((len(lengths), max_len), dtype=np.int32)
    n = np.asarray(lengths, dtype=np.int64)
    kept = np.minimum(n, max_len)
    ends = np.cumsum(n)
    first = ends - kept if truncating == "pre" else ends - n  # where each row's kept ids start in ``ids``
    for start in range(0, len(n), PAD_ROWS):
        rows = slice(start, start + PAD_ROWS)
        chunk, total = kept[rows], int(kept[rows].sum())
        row_of = np.repeat(np.arange(len(chunk)), chunk)
        offset = np.arange(total) - np.repeat(np.cumsum(chunk) - chunk, chunk)  # each id's place in its row's run
        column = offset + (max_len - chunk)[row_of] if padding == "pre" else offset
        out[start + row_of, column] = ids[first[rows][row_of] + offset]
    return out
