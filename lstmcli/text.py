"""Cleaning, tokenizing, the vocabulary and fixed-length encoding: everything between raw text and ids.

Pure Python and NumPy, shared by training and the light prediction path, so a text is turned into ids the
same way everywhere.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lstmcli.config import Config
from lstmcli.errors import ConfigError, DataError

PAD, OOV = "<pad>", "<unk>"
PAD_ID, OOV_ID = 0, 1
URL_TOKEN, NUMBER_TOKEN = "xxurl", "xxnum"

# Scripts written without spaces between words: each character is a token (or jieba finds words).
_CJK_RANGES = (
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf"  # CJK Extension A
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\uf900-\ufaff"  # CJK Compatibility Ideographs
    "\u3000-\u303f"  # CJK punctuation
)
_CJK = re.compile(f"[{_CJK_RANGES}]")
_CJK_RUN = re.compile(f"([{_CJK_RANGES}]+)")
_WORD = re.compile(rf"[^\W_{_CJK_RANGES}]+(?:['’][^\W_{_CJK_RANGES}]+)*|[{_CJK_RANGES}]|[^\w\s]|_")
_HTML_TAG = re.compile(r"<[^<>]{0,200}>")
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w.+-]+@[\w-]+\.[\w.]+\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NOT_ASCII_LETTER = re.compile(r"[^a-zA-Z]+")
_PUNCT_OR_SYMBOL = re.compile(r"[^\w\s]|_")
_SPACE = re.compile(r"\s+")


def clean(text: str, config: Config) -> str:
    """Normalizes one text as the config says: Unicode form, HTML, URLs, numbers, case and punctuation."""
    if config.unicode_form != "none":
        text = unicodedata.normalize(config.unicode_form, text)
    if config.strip_html:
        text = html.unescape(_HTML_TAG.sub(" ", text))
    if config.urls != "keep":
        text = _URL.sub(f" {URL_TOKEN} " if config.urls == "token" else " ", text)
    if config.numbers != "keep":
        text = _NUMBER.sub(f" {NUMBER_TOKEN} " if config.numbers == "token" else " ", text)
    if config.letters_only:
        text = _NOT_ASCII_LETTER.sub(" ", text)
    elif config.punctuation == "remove":
        text = _PUNCT_OR_SYMBOL.sub(" ", text)
    if config.lowercase:
        text = text.casefold()
    return _SPACE.sub(" ", text).strip()


def tokenize(text: str, config: Config) -> list[str]:
    """Cleans ``text`` and splits it into tokens with the config's (resolved) tokenizer."""
    cleaned = clean(text, config)
    if config.tokenizer == "char":
        tokens = [ch for ch in cleaned if not ch.isspace()]
    elif config.tokenizer == "jieba":
        tokens = _jieba_tokens(cleaned)
    else:
        tokens = _WORD.findall(cleaned)
    if config.stopwords:
        stop = _stop_words()
        tokens = [t for t in tokens if t not in stop]
    return tokens


def choose_tokenizer(texts: Sequence[str]) -> tuple[str, str]:
    """Picks a tokenizer for ``tokenizer=auto`` from the scripts of a sample of texts.

    Returns:
        The tokenizer name and a one-line reason for the prepare report.
    """
    sample = texts[:: max(1, len(texts) // 2000)]
    letters = sum(sum(ch.isalpha() for ch in t) for t in sample)
    cjk = sum(len(_CJK.findall(t)) for t in sample)
    share = cjk / letters if letters else 0.0
    if share > 0.05:
        return "word", f"{share:.0%} of letters are Chinese/Japanese: each such character is a token, other words whole"
    return "word", f"{share:.0%} of letters are Chinese/Japanese: words split at spaces and punctuation"


def _jieba_tokens(text: str) -> list[str]:
    try:
        import jieba
    except ImportError:
        raise ConfigError("--tokenizer jieba needs the zh extra; install it with: pip install 'lstmcli[zh]'") from None
    jieba.setLogLevel(60)
    tokens: list[str] = []
    for part in _CJK_RUN.split(text):
        if _CJK.match(part):
            tokens.extend(w for w in jieba.lcut(part) if w.strip())
        elif part:
            tokens.extend(_WORD.findall(part))
    return tokens


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


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
