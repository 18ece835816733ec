"""Telling the text encoding of some bytes: a BOM, else UTF-8, else the legacy encoding that reads them best.

Shared by the CSV reader and ``predict``'s input; pure Python (charset-normalizer is imported only when
the bytes are not UTF-8).
"""

from __future__ import annotations

import codecs
from functools import cache, lru_cache

from lstmcli.errors import DataError
from lstmcli.text.lazy import LazyRegex

# UTF-32 first: its little-endian BOM starts with UTF-16's.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Widespread legacy encodings, most common first: near-ties in charset-normalizer's mess measure go to the
# earlier one (a few rows of French read the same as cp1250 and cp1252; cp1252 is far more likely).
# cp1255 comes before cp1251 because Hebrew bytes also read as tidy Cyrillic, not the reverse.
PREFERRED = (
    "gb18030",
    "big5",
    "cp950",
    "big5hkscs",
    "cp932",
    "euc_jp",
    "cp949",
    "cp1252",
    "cp1255",
    "cp1251",
    "cp1250",
    "cp1253",
    "cp1254",
    "cp1256",
    "cp1257",
    "cp1258",
    "koi8_r",
    "koi8_u",
    "cp874",
)
_MAX_BADNESS = 0.2  # charset-normalizer's own mess threshold, and the most rare East Asian characters allowed
_NEAR_TIE = 0.03
_PROBE_BYTES = 1 << 15  # mess is measured on this much of the lines that hold non-ASCII bytes
_UTF8_MAJORITY = 4  # valid UTF-8 characters per undecodable byte that make a sample damaged UTF-8
_FEW_BAD_BYTES = 3  # up to this many undecodable bytes may be damage in UTF-8 rather than another encoding
_HIGH_BYTE = LazyRegex(rb"[\x80-\xff]")
_NON_ASCII = LazyRegex(r"[^\x00-\x7f]")
_EAST_ASIAN = LazyRegex(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Bopomofo}\u3000-\u303f\uff00-\uffef]")
_HANGUL_HAN_MIX = LazyRegex(r"\p{Hangul}+\p{Han}[\p{Han}\p{Hangul}]*|\p{Han}+\p{Hangul}[\p{Han}\p{Hangul}]*")
_HANGUL_SYLLABLE = LazyRegex(r"[\uac00-\ud7a3]")
# The most frequent Hangul syllables of Korean text.
_FREQUENT_HANGUL = frozenset(
    "이다는의에하고을가로한지기서은사으리를도대시자수어들정일인스해나아게적보요있전부상주그장것되국만라내"
)
_MIN_FREQUENT_HANGUL = 0.1
_KANA = LazyRegex(r"[\p{Hiragana}\p{Katakana}]")
_JAPANESE_CODECS = ("cp932", "shift_jis", "euc_j", "iso2022_jp")
_KOREAN_CODECS = ("cp949", "euc_kr", "johab", "iso2022_kr")
# Full-width punctuation and forms, hiragana, katakana: common in any East Asian text.
_COMMON_RANGES = LazyRegex(r"[\u3000-\u303f\uff01-\uff5e\u3041-\u3096\u30a1-\u30fc]")
# The most frequent characters of each standard: GB2312 level 1, Big5 frequent, JIS level 1, KS X 1001 Hangul.
_FIRST_LEVELS = (
    ("gb2312", 0xB0A1, 0xD7FE),
    ("big5", 0xA440, 0xC67E),
    ("euc_jp", 0xB0A1, 0xCFFE),
    ("euc_kr", 0xB0A1, 0xC8FE),
)
_TYPOGRAPHIC = frozenset("“”‘’‚„–—…€«»‹›·°£¥§©®™•¡¿")


def looks_binary(sample: bytes) -> bool:
    """Whether ``sample`` holds NUL bytes, which no text has outside UTF-16 and UTF-32 (told by their BOM)."""
    return b"\x00" in sample and not sample.startswith(tuple(bom for bom, name in BOMS if name != "utf-8-sig"))


def sniff_encoding(sample: bytes, complete: bool) -> str | None:
    """Names the encoding of ``sample``, the start of a file or stream (all of it when ``complete``).

    Order: a BOM; UTF-8 when the bytes decode as UTF-8, or mostly do (damage in UTF-8 text stays UTF-8, so the
    reader can point at the bad bytes); else :func:`best_legacy_encoding`.

    Returns:
        A codec name, or None when no encoding reads the bytes as text.
    """
    for bom, name in BOMS:
        if sample.startswith(bom):
            return name
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(sample) - 3:
            return "utf-8"  # a character cut at the end of the sample
    as_utf8 = sample.decode("utf-8", errors="replace")
    bad = as_utf8.count("\ufffd")
    if _non_ascii(as_utf8) - bad >= _UTF8_MAJORITY * bad:
        return "utf-8"  # UTF-8 with damage (double-byte text forms a valid UTF-8 character now and then)
    legacy = best_legacy_encoding(sample, complete)
    if legacy is None:
        return None
    if bad <= _FEW_BAD_BYTES and not _plausible(sample.decode(legacy, errors="replace")):
        return "utf-8"  # a stray byte or two in ASCII text: damage, not another encoding
    return legacy


def best_legacy_encoding(sample: bytes, complete: bool) -> str | None:
    """The non-UTF-8 encoding that decodes all of ``sample`` into the most plausible text, or None.

    Plausibility is the share of rare characters for East Asian text (a wrong double-byte encoding turns
    text into rare characters) and charset-normalizer's mess measure otherwise. Near-ties go to
    charset-normalizer's order for East Asian text (it weighs character frequencies per language) and to
    :data:`PREFERRED` otherwise (on a few rows its Latin and Cyrillic guesses are often exotic code pages).
    """
    from charset_normalizer import from_bytes

    probe = _probe(sample, complete)
    guessed = list(dict.fromkeys(canonical(match.encoding) for match in from_bytes(sample)))
    scored = []
    for name in dict.fromkeys([*guessed, *PREFERRED]):
        if name in ("utf-8", "ascii") or not keeps_lines(name) or not decodes(sample, name, complete):
            continue
        text = probe.decode(name, errors="replace")
        east_asian, badness = _badness(text)
        if badness >= _MAX_BADNESS or not _fits_language(name, text):
            continue
        preferred = PREFERRED.index(name) if name in PREFERRED else len(PREFERRED) + guessed.index(name)
        tie_rank = (0, guessed.index(name)) if east_asian and name in guessed else (1, preferred)
        scored.append((badness, tie_rank, name))
    if not scored:
        return None
    least = min(badness for badness, _, _ in scored)
    return min((rank, name) for badness, rank, name in scored if badness <= least + _NEAR_TIE)[1]


def _badness(text: str) -> tuple[bool, float]:
    """(whether the text is East Asian, its share of rare characters or else its mess ratio)."""
    from charset_normalizer.md import mess_ratio

    east_asian = _EAST_ASIAN.findall(text)
    if east_asian and 2 * len(east_asian) >= _non_ascii(text):
        rare = sum(not _common_east_asian(ch) for ch in east_asian)
        # Hangul and Chinese characters run together only when Chinese bytes are read as Korean or back.
        mixed = sum(len(run) for run in _HANGUL_HAN_MIX.findall(text))
        return True, min(1.0, (rare + mixed + _unlikely_hangul(text)) / len(east_asian))
    return False, mess_ratio(text, 1.0)


def _non_ascii(text: str) -> int:
    return len(text) - len(text.encode("ascii", errors="ignore"))


def _fits_language(name: str, text: str) -> bool:
    """Japanese text has kana and Korean text Hangul: a Japanese or Korean codec must give some."""
    if name.startswith(_JAPANESE_CODECS):
        return bool(_KANA.search(text))
    if name.startswith(_KOREAN_CODECS):
        return bool(_HANGUL_SYLLABLE.search(text))
    return True


def _unlikely_hangul(text: str) -> int:
    """The Hangul syllables in ``text`` if too few are frequent Korean syllables for it to be Korean, else 0.

    A fifth or more of Korean text is made of :data:`_FREQUENT_HANGUL`; Chinese bytes read as Korean give
    Hangul too, but scarcely any of those.
    """
    syllables = _HANGUL_SYLLABLE.findall(text)
    frequent = sum(ch in _FREQUENT_HANGUL for ch in syllables)
    return len(syllables) if frequent < _MIN_FREQUENT_HANGUL * len(syllables) else 0


@lru_cache(maxsize=65536)
def _common_east_asian(ch: str) -> bool:
    """Kana, CJK punctuation, or a character of the first (most frequent) level of GB2312, Big5, JIS or KS X 1001."""
    if _COMMON_RANGES.match(ch):
        return True
    for codec, first, last in _FIRST_LEVELS:
        try:
            code = int.from_bytes(ch.encode(codec), "big")
        except UnicodeEncodeError:
            continue
        if first <= code <= last:
            return True
    return False


def canonical(name: str) -> str:
    """Python's name for a codec; GB2312 and GBK become their superset GB18030 so rarer characters also work."""
    name = codecs.lookup(name).name
    return "gb18030" if name in ("gb2312", "gbk") else name


@cache
def keeps_lines(name: str) -> bool:
    """Whether the codec reads the byte 0x0A as a line end and no other ASCII byte as one: texts are lines, split
    after decoding. EBCDIC code pages (which charset-normalizer may guess for a few bytes) read 0x25 as the line end
    and 0x0A as another character, so that ``%p\x80`` became two texts; UTF-16 and UTF-32 read no single byte."""
    others = bytes(b for b in range(0x80) if b != 0x0A)
    try:
        return codecs.decode(b"\n", name) == "\n" and "\n" not in codecs.decode(others, name)
    except (UnicodeDecodeError, LookupError):
        return False


def decodes(sample: bytes, name: str, complete: bool) -> bool:
    """Whether ``sample`` decodes strictly; an incomplete sample may end inside a character."""
    try:
        codecs.getincrementaldecoder(name)().decode(sample, final=complete)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _probe(sample: bytes, complete: bool) -> bytes:
    """The lines holding non-ASCII bytes, where encodings differ; a cut last line is left out."""
    lines = sample.split(b"\n")
    if not complete and len(lines) > 1:
        lines.pop()
    probe = b"\n".join(line for line in lines if _HIGH_BYTE.search(line))
    if len(probe) > _PROBE_BYTES:
        probe = probe[:_PROBE_BYTES].rpartition(b"\n")[0] or probe[:_PROBE_BYTES]
    return probe


def _plausible(text: str) -> bool:
    """Whether every non-ASCII character reads as part of a word, as typographic punctuation or as common CJK."""
    for match in _NON_ASCII.finditer(text):
        ch, i = match.group(), match.start()
        if ch in _TYPOGRAPHIC or _common_east_asian(ch):
            continue
        beside = text[i - 1 : i] + text[i + 1 : i + 2]
        if not (ch.isalpha() and any(c.isalpha() for c in beside)):
            return False
    return True


def codec_name(encoding: str) -> str:
    """The Python codec ``encoding`` names, in its canonical spelling (``UTF8`` is ``utf-8``).

    Raises:
        DataError: no codec has that name.
    """
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise DataError(
            f"unknown encoding '{encoding}'; use a Python codec name such as utf-8, latin-1, gb18030"
        ) from None
