"""Cleaning and tokenizing: everything between raw text and tokens.

Pure Python and NumPy, shared by training and the light prediction path, so a text is turned into ids the
same way everywhere.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from lstmcli.config import Config
from lstmcli.errors import ConfigError
from lstmcli.text.lazy import LazyRegex
from lstmcli.text.stopwords import ENGLISH_STOP_WORDS
from lstmcli.text.vocab import byte_strings

URL_TOKEN, NUMBER_TOKEN = "xxurl", "xxnum"

# Scripts written without spaces between words: each of their characters is a token (jieba can find Chinese
# words). U+30FC, the katakana length mark, has no script of its own but belongs to katakana words.
_UNSPACED = r"\p{Han}\p{Hiragana}\p{Katakana}\u30fc\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
# An emoji with its skin tone, variation selector and ZWJ sequence, a flag, or a keycap: one grapheme, one token.
_EMOJI = r"(?=[#*0-9]\ufe0f?\u20e3|\p{Extended_Pictographic}|\p{Regional_Indicator})\X"
# Letters, digits and combining marks (Devanagari vowel signs, Arabic harakat) of spaced scripts, joined by
# apostrophes and by ZWNJ/ZWJ, which Persian and Indic words carry inside them. Variation selectors and a
# keycap's digit belong to the emoji.
_WORD_CHAR = rf"(?:[[\p{{L}}\p{{N}}\p{{M}}]--[{_UNSPACED}0-9\ufe0e\ufe0f\u20e3]]|[0-9](?!\ufe0f?\u20e3))"
# In ASCII text (most English) _TOKEN's classes reduce to these: the same tokens, about six times faster.
# Every printable ASCII character that is not a letter or digit is punctuation (P) or a symbol (S).
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z0-9]+)*|[!-/:-@\[-`{-~]")
_TOKEN_PATTERN = rf"{_EMOJI}|(?=[{_UNSPACED}])\X|{_WORD_CHAR}+(?:['’\u200c\u200d]{_WORD_CHAR}+)*|[\p{{P}}\p{{S}}]"
_TOKEN = LazyRegex("(?V1)" + _TOKEN_PATTERN)
_GRAPHEME = LazyRegex(r"(?=[^\s\p{C}])\X")  # a user-perceived character; spaces and control codes are none
_HAN_RUN = LazyRegex(r"(\p{Han}+)")
_PUNCT_OR_EMOJI = LazyRegex(rf"({_EMOJI})|[\p{{P}}\p{{S}}]")
_LETTER = LazyRegex(r"\p{L}")
_HAN = LazyRegex(r"\p{Han}")
_KANA = LazyRegex(r"[\p{Hiragana}\p{Katakana}\u30fc]")
_SOUTHEAST_ASIAN = LazyRegex(r"[\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]")
_HTML_TAG = re.compile(r"<[^<>]{0,200}>")
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w.+-]+@[\w-]+\.[\w.]+\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NOT_ASCII_LETTER = re.compile(r"[^a-zA-Z]+")
# token_groups joins texts by SEPARATOR and ends each text's tokens with TEXT_END, which no tokenizer yields.
SEPARATOR, TEXT_END = "\n", "\x00"
_TOKEN_OR_END = LazyRegex("(?V1)\\x00|" + _TOKEN_PATTERN)
_HTML_TAG_IN_TEXT = re.compile(r"<[^<>\n]{0,200}>")
_NOT_ASCII_LETTER_IN_TEXT = re.compile(r"[^a-zA-Z\n]+")
# _ASCII_TOKEN as byte tables: a letter or digit; a character that is a token alone (the punctuation and
# symbols, and a text's end: its apostrophe only between letters or digits is part of a word); what each byte
# becomes (control codes a space, a text's end TEXT_END).
_ALNUM_BYTE = np.array([chr(b).isascii() and chr(b).isalnum() for b in range(256)])
_ALONE_BYTE = np.array([33 <= b < 127 and not chr(b).isalnum() and b != ord("'") or b == 10 for b in range(256)])
_BYTE_AS = np.array([32 if b < 32 or b == 127 else b for b in range(256)], dtype=np.uint8)
_BYTE_AS[10] = ord(TEXT_END)
_BYTE_AS_LOWER = np.array([ord(chr(b).casefold()) if b < 128 else b for b in _BYTE_AS], dtype=np.uint8)


def clean(text: str, config: Config) -> str:
    """Normalizes one text as the config says: Unicode form, HTML, URLs, numbers, case and punctuation."""
    if config.unicode_form != "none":
        text = unicodedata.normalize(config.unicode_form, text)  # type: ignore[arg-type]  # validated in Config
    if config.strip_html:
        text = html.unescape(_HTML_TAG.sub(" ", text) if "<" in text else text)
    if config.urls != "keep" and _may_hold_url(text):
        text = _URL.sub(f" {URL_TOKEN} " if config.urls == "token" else " ", text)
    if config.numbers != "keep":
        text = _NUMBER.sub(f" {NUMBER_TOKEN} " if config.numbers == "token" else " ", text)
    if config.letters_only:
        text = _NOT_ASCII_LETTER.sub(" ", text)
    elif config.punctuation == "remove":
        text = _PUNCT_OR_EMOJI.sub(lambda m: m.group(1) or " ", text)  # emoji are not punctuation: they stay
    if config.lowercase:
        text = text.casefold()
    return " ".join(text.split())  # str.split's whitespace is re's \s: every run becomes one space


def _may_hold_url(text: str) -> bool:
    """False only if ``_URL`` cannot match: it needs "://", "www." (any case) or "@". Skips most regex work."""
    if "@" in text or "://" in text:
        return True
    # Only "W" lowercases to "w": the bytes' ASCII lowering finds the same, faster than str.lower on non-ASCII.
    return "www." in text.lower() if text.isascii() else b"www." in text.encode("utf-8", "surrogatepass").lower()


def tokenize(text: str, config: Config) -> list[str]:
    """Cleans ``text`` and splits it into tokens with the config's (resolved) tokenizer."""
    cleaned = clean(text, config)
    if config.tokenizer == "char":
        tokens = _GRAPHEME.findall(cleaned)
    elif config.tokenizer == "jieba":
        tokens = _jieba_tokens(cleaned)
    else:
        tokens = (_ASCII_TOKEN if cleaned.isascii() else _TOKEN).findall(cleaned)
    if config.stopwords:
        stop = ENGLISH_STOP_WORDS
        tokens = [t for t in tokens if t not in stop]
    return tokens


class AsciiTokens(NamedTuple):
    """ASCII tokens of many texts, without a Python string each: token ``k`` is ``data[starts[k] : starts[k] +
    lengths[k]]`` (uint8 ``data``, int64 ``starts`` and ``lengths``), :data:`TEXT_END` ending each text's."""

    data: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    def strings(self) -> list[str]:
        """The tokens as strings, in order."""
        return byte_strings(self.data, self.starts, self.lengths)


def token_groups(texts: Sequence[str], config: Config) -> list[tuple[list[int] | None, list[str] | AsciiTokens]]:
    """The tokens of many texts, as :func:`tokenize` gives them, in a few passes over the texts joined; the ASCII
    texts' tokens as :class:`AsciiTokens` (where no stop word is dropped), so that a vocabulary can look them up
    without making a string of each.

    The ``word`` tokenizer cleans the joined texts at once: every cleaning step either works on each character
    alone (Unicode normalization, case folding) or is a pattern that cannot cross a line end, and whitespace
    only parts tokens. ASCII texts are then split and lowercased in NumPy (:func:`_ascii_tokens`), the others
    case-folded and split by the Unicode pattern (:func:`tokenize` picks per text the same way). Other
    tokenizers, and a chunk whose cleaning made a line end (an HTML entity ``&#10;``), take :func:`tokenize`
    text by text.

    Returns:
        Groups of ``(rows, tokens)``: the indices of the texts a group holds (None: all of them, in order) and
        their tokens one text after the other, :data:`TEXT_END` ending each text's. A text's tokens are in one
        group (the others hold none of them).
    """
    if config.tokenizer in ("char", "jieba") or not texts:
        return [(None, _tokens_one_by_one(texts, config))]
    joined = SEPARATOR.join(texts)
    if joined.count(SEPARATOR) != len(texts) - 1:  # a text holding a line end: whitespace, as clean() makes it
        joined = SEPARATOR.join(t.replace(SEPARATOR, " ") for t in texts)
    cleaned = _clean_joined(joined, config)
    if cleaned.count(SEPARATOR) != len(texts) - 1:
        return [(None, _tokens_one_by_one(texts, config))]
    unicode_rows: list[int] = []
    if not cleaned.isascii():
        parts = cleaned.split(SEPARATOR)
        unicode_rows = [i for i, part in enumerate(parts) if not part.isascii()]
        unicode_text = "".join(parts[i].replace(TEXT_END, " ") + TEXT_END for i in unicode_rows)
        for i in unicode_rows:
            parts[i] = ""  # its tokens come from the Unicode pattern
        cleaned = SEPARATOR.join(parts)
    chars = np.frombuffer((cleaned + SEPARATOR).encode("ascii"), np.uint8)
    groups: list[tuple[list[int] | None, list[str] | AsciiTokens]] = [
        (None, _ascii_group(_ascii_tokens(chars, config.lowercase), config))
    ]
    if unicode_rows:
        folded = unicode_text.casefold() if config.lowercase else unicode_text  # neither TEXT_END nor " " changes
        groups.append((unicode_rows, _dropped_stopwords(_TOKEN_OR_END.findall(folded), config)))
    return groups


def _ascii_group(tokens: AsciiTokens, config: Config) -> list[str] | AsciiTokens:
    return _dropped_stopwords(tokens.strings(), config) if config.stopwords else tokens


def _ascii_tokens(chars: np.ndarray, lowercase: bool) -> AsciiTokens:
    """``_ASCII_TOKEN.findall`` of ASCII texts (uint8 ``chars``), each ended by SEPARATOR, with TEXT_END for each
    SEPARATOR; the letters lowercased where ``lowercase`` (str.casefold does no more to ASCII).

    A token is a character that stands alone (punctuation, a symbol, an apostrophe outside a word, a text's end)
    or a run of letters, digits and apostrophes between them: where each starts and ends is a few NumPy passes
    over the chunk, where the pattern costs a step per character.
    """
    alone = _ALONE_BYTE[chars]
    word = _ALNUM_BYTE[chars]
    quotes = np.flatnonzero(chars == ord("'"))
    if len(quotes):
        inside = (quotes > 0) & (quotes < len(chars) - 1)
        inside[inside] = _ALNUM_BYTE[chars[quotes[inside] - 1]] & _ALNUM_BYTE[chars[quotes[inside] + 1]]
        alone[quotes[~inside]] = True
        word[quotes[inside]] = True
    starts, ends = alone.copy(), alone
    starts[0] |= word[0]
    starts[1:] |= word[1:] & ~word[:-1]
    ends[:-1] |= word[:-1] & ~word[1:]
    ends[-1] |= word[-1]
    first = np.flatnonzero(starts)
    data = (_BYTE_AS_LOWER if lowercase else _BYTE_AS)[chars]
    return AsciiTokens(data, first, np.flatnonzero(ends) + 1 - first)


def _tokens_one_by_one(texts: Sequence[str], config: Config) -> list[str]:
    tokens: list[str] = []
    for text in texts:
        tokens += tokenize(text, config)
        tokens.append(TEXT_END)
    return tokens


def _dropped_stopwords(tokens: list[str], config: Config) -> list[str]:
    if not config.stopwords:
        return tokens
    stop = ENGLISH_STOP_WORDS
    return [t for t in tokens if t not in stop]


def _clean_joined(text: str, config: Config) -> str:
    """:func:`clean` of texts joined by :data:`SEPARATOR`, each text cleaned as if alone, whitespace left as is,
    and not yet case-folded (:func:`token_groups` folds each text where it splits it)."""
    if config.unicode_form != "none":
        text = unicodedata.normalize(config.unicode_form, text)  # type: ignore[arg-type]  # validated in Config
    if config.strip_html:
        text = html.unescape(_HTML_TAG_IN_TEXT.sub(" ", text) if "<" in text else text)
    if config.urls != "keep" and _may_hold_url(text):  # text by text: the pattern is slow where it cannot match
        url = f" {URL_TOKEN} " if config.urls == "token" else " "
        parts = text.split(SEPARATOR)
        for row in _url_rows(text, parts):
            parts[row] = _URL.sub(url, parts[row])
        text = SEPARATOR.join(parts)
    if config.numbers != "keep":
        text = _NUMBER.sub(f" {NUMBER_TOKEN} " if config.numbers == "token" else " ", text)
    if config.letters_only:
        text = _NOT_ASCII_LETTER_IN_TEXT.sub(" ", text)
    elif config.punctuation == "remove":
        text = _PUNCT_OR_EMOJI.sub(lambda m: m.group(1) or " ", text)
    return text


def _url_rows(text: str, parts: list[str]) -> list[int]:
    """The indices of the ``parts`` (``text`` split at SEPARATOR) for which :func:`_may_hold_url` holds, found by
    searching the joined text for each hint (ASCII text: its lowercase has the same offsets) rather than text by
    text."""
    if not text.isascii():
        return [row for row, part in enumerate(parts) if _may_hold_url(part)]
    ends = np.cumsum([len(part) + 1 for part in parts])  # the offset just past each part's SEPARATOR
    rows: set[int] = set()
    for hint, searched in (("@", text), ("://", text), ("www.", text.lower())):
        at = searched.find(hint)
        while at >= 0:  # a hint holds no SEPARATOR: it lies within one part; on from the next part
            row = int(np.searchsorted(ends, at, side="right"))
            rows.add(row)
            at = searched.find(hint, int(ends[row]))
    return sorted(rows)


def choose_tokenizer(texts: Sequence[str]) -> tuple[str, str]:
    """Picks a tokenizer for ``tokenizer=auto`` from the scripts of a sample of texts.

    ``word`` suits every script: words of spaced scripts stay whole and each character of Chinese, Japanese,
    Thai, Lao, Khmer or Myanmar is a token, so mixed text keeps its Latin words (``char`` would spell them
    out). The reason says what the texts hold and how that tokenizer treats them.

    Returns:
        The tokenizer name and a one-line reason for the prepare report.
    """
    sample = texts[:: max(1, len(texts) // 2000)]
    letters, han, kana, southeast = (
        sum(len(pattern.findall(t)) for t in sample) for pattern in (_LETTER, _HAN, _KANA, _SOUTHEAST_ASIAN)
    )
    unspaced = han + kana + southeast
    if not unspaced:
        return "word", "no Chinese, Japanese or other script written without spaces: words split at spaces, punctuation"
    scripts = [
        name
        for name, n in (
            ("Japanese", kana + han if kana * 10 >= han + kana else 0),
            ("Chinese", han if kana * 10 < han + kana else 0),
            ("Thai/Lao/Khmer/Myanmar", southeast),
        )
        if n
    ]
    reason = (
        f"{_percent(unspaced / max(letters, 1))} of letters are {' and '.join(scripts)}, written without "
        "spaces: one token per such character, other words whole"
    )
    if scripts[0] == "Chinese" and han * 2 >= letters:
        reason += "; --tokenizer jieba finds Chinese words (pip install 'lstmcli[zh]')"
    return "word", reason


def check_tokenizer(name: str) -> None:
    """Raises ConfigError now, before any work, if the tokenizer needs a package that is not installed."""
    if name == "jieba":
        _load_jieba()


def _percent(share: float) -> str:
    return "under 1%" if 0 < share < 0.01 else f"{share:.0%}"


def _jieba_tokens(text: str) -> list[str]:
    """jieba's words for runs of Chinese characters, the ``word`` tokens for everything else."""
    jieba = _load_jieba()
    tokens: list[str] = []
    for i, part in enumerate(_HAN_RUN.split(text)):
        tokens.extend(jieba.lcut(part) if i % 2 else _TOKEN.findall(part))  # odd parts are the Chinese runs
    return tokens


def _load_jieba() -> Any:
    try:
        import jieba
    except ImportError:
        raise ConfigError("--tokenizer jieba needs the zh extra; install it with: pip install 'lstmcli[zh]'") from None
    _quiet_jieba()
    return jieba


@lru_cache(maxsize=1)
def _quiet_jieba() -> None:
    import jieba

    jieba.setLogLevel(60)  # loading its dictionary would otherwise log to stderr
