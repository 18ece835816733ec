"""The chunk-at-a-time text path gives exactly what the text-by-text one gives: the same tokens and ids for any
texts under any cleaning settings, and on every text of every shared corpus."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest
from conftest import SHARED_DATASETS, shared_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import TEXT

from lstmcli.config import Config, make_config
from lstmcli.text.encoder import Encoder
from lstmcli.text.tokens import TEXT_END, tokenize, tokenize_many
from lstmcli.text.vocab import Vocabulary

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

CONFIGS = {
    "default": Config(tokenizer="word", max_len=12),
    "tutorial": make_config("tutorial", max_len=12),
    "char": Config(tokenizer="char", max_len=6, padding="post", truncating="post"),
    "kept": Config(tokenizer="word", max_len=7, strip_html=False, unicode_form="none", lowercase=False, urls="keep"),
    "removed": Config(
        tokenizer="word", max_len=9, numbers="remove", urls="remove", punctuation="remove", unicode_form="NFC"
    ),
    "tokens": Config(tokenizer="word", max_len=4, numbers="token", stopwords=True, truncating="post"),
    "letters": Config(tokenizer="word", max_len=8, letters_only=True, padding="post"),
}

# What could cross from one joined text into the next: line ends, markup split over them, entities that make
# them, the end marker itself, apostrophes at a text's edge, control codes, non-ASCII whitespace.
EDGES = st.sampled_from(
    [
        "\n",
        "\r",
        "\r\n",
        "<a\nb>",
        "<",
        ">",
        "&#10;",
        "&NewLine;",
        "&",
        "#10;",
        "\x00",
        "\x01",
        "\x7f",
        "'",
        "a'b",
        "'a",
        "b'",
        "''",
        "\u00a0",
        "\u3000",
        "\u2028",
        "\x1c",
        "x@y.io",
        "www.",
        "http://a.b\nc",
        "1,2",
        ".5",
        "\u0301",
        "\u200d",
        "🇺",
        "🇸",
        "1\ufe0f\u20e3",
        "Σ",
        "ς",
        "ＡＢ",
        "the",
        "and",
    ]
)
TEXTS = st.lists(st.one_of(TEXT, st.lists(EDGES | TEXT, max_size=6).map("".join)), max_size=12)


def _vocabulary(token_lists: list[list[str]]) -> Vocabulary:
    """Half the tokens seen (every other one by frequency): known and unknown tokens both occur."""
    full = Vocabulary.build(token_lists, 10_000, 1)
    return Vocabulary((*full.tokens[:2], *full.tokens[2::2]))


def _assert_same(texts: list[str], config: Config, vocab: Vocabulary | None = None) -> None:
    token_lists = [tokenize(t, config) for t in texts]
    groups = tokenize_many(texts, config)
    per_text: list[list[str]] = [[] for _ in texts]
    for rows, tokens in groups:
        ends = [i for i, t in enumerate(tokens) if t == TEXT_END]
        starts = [0, *(e + 1 for e in ends[:-1])]
        for row, start, end in zip(range(len(texts)) if rows is None else rows, starts, ends):
            per_text[row] += tokens[start:end]
        assert len(ends) == (len(texts) if rows is None else len(rows))
    assert per_text == token_lists
    encoder = Encoder(config, vocab or _vocabulary(token_lists))
    ids, lengths = encoder.encode(texts)
    want_ids, want_lengths = encoder.encode_tokens(token_lists)
    np.testing.assert_array_equal(lengths, want_lengths)
    np.testing.assert_array_equal(ids, want_ids)
    assert ids.dtype == want_ids.dtype and ids.shape == (len(texts), config.max_len)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@SETTINGS
@given(texts=TEXTS)
def test_chunk_encoding_equals_text_by_text(name: str, texts: list[str]) -> None:
    _assert_same(texts, CONFIGS[name])


@SETTINGS
@given(texts=st.lists(st.text(alphabet=st.characters(max_codepoint=127)), min_size=1, max_size=20))
def test_ascii_chunk_equals_text_by_text(texts: list[str]) -> None:
    _assert_same(texts, CONFIGS["default"])


def test_empty_and_one_text() -> None:
    for texts in ([], [""], ["\n"], ["a\nb"], ["&#10;x", "y"]):
        _assert_same(texts, CONFIGS["default"])


def _corpus_texts(name: str) -> list[str]:
    csv.field_size_limit(sys.maxsize)
    texts = []
    for split in sorted(shared_dataset(name).glob("*.csv")):
        with split.open(encoding="utf-8", newline="") as fh:
            texts += [row["text"] for row in csv.DictReader(fh)]
    return texts


CORPORA = sorted(p.name for p in SHARED_DATASETS.iterdir() if p.is_dir()) if SHARED_DATASETS.is_dir() else ["sst2"]


@pytest.mark.parametrize("corpus", CORPORA)
def test_every_shared_text_encodes_as_before(corpus: str) -> None:
    """Each corpus's every text under the default cleaning, and a sample under the other word settings."""
    texts = _corpus_texts(corpus)
    for start in range(0, len(texts), 4096):
        _assert_same(texts[start : start + 4096], CONFIGS["default"])
    for name in ("tutorial", "kept", "removed", "tokens"):
        _assert_same(texts[:: max(1, len(texts) // 3000)], CONFIGS[name])
