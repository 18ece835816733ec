"""Cleaning, tokenizing, the vocabulary and padding."""

from __future__ import annotations

import numpy as np
import pytest

from lstmcli.config import Config, make_config
from lstmcli.text.tokens import clean, tokenize
from lstmcli.text.vocab import OOV_ID, PAD, Vocabulary, encode, pad

WORD = Config(tokenizer="word")


def test_default_cleaning_keeps_punctuation_as_tokens() -> None:
    assert tokenize("Great movie!! See https://x.io/a?b <br />now", WORD) == [
        "great",
        "movie",
        "!",
        "!",
        "see",
        "xxurl",
        "now",
    ]


def test_tutorial_cleaning_is_letters_only_without_stop_words() -> None:
    config = make_config("tutorial")
    assert tokenize("This film's 2 hours were NOT wasted, really.", config) == [
        "film",
        "s",
        "hours",
        "wasted",
        "really",
    ]


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("numbers", "token", "order xxnum arrived"),
        ("numbers", "remove", "order arrived"),
        ("punctuation", "remove", "order 12 345 arrived"),
        ("lowercase", False, "Order 12,345 arrived!"),
    ],
)
def test_cleaning_options(option: str, value: object, expected: str) -> None:
    assert clean("Order 12,345 arrived!", WORD.replace(**{option: value})).rstrip("!").rstrip() == expected.rstrip("!")


def test_stop_words_option() -> None:
    assert tokenize("the cat is on the mat", WORD.replace(stopwords=True)) == ["cat", "mat"]


def test_vocabulary_ranks_by_count_and_respects_limits() -> None:
    vocab = Vocabulary.build([["b", "a", "a"], ["c", "a", "b"]], max_size=4, min_count=1)
    assert vocab.tokens == (PAD, "<unk>", "a", "b")
    assert vocab.ids(["a", "c", "zzz"]) == [2, OOV_ID, OOV_ID]
    assert Vocabulary.build([["x", "y", "y"]], max_size=10, min_count=2).tokens == (PAD, "<unk>", "y")
    assert Vocabulary.from_text(vocab.to_text()) == vocab


@pytest.mark.parametrize(
    ("padding", "truncating", "expected"),
    [
        ("pre", "pre", [[0, 0, 1, 2], [3, 4, 5, 6]]),
        ("post", "post", [[1, 2, 0, 0], [2, 3, 4, 5]]),
        ("pre", "post", [[0, 0, 1, 2], [2, 3, 4, 5]]),
    ],
)
def test_pad_sides(padding: str, truncating: str, expected: list[list[int]]) -> None:
    np.testing.assert_array_equal(pad([[1, 2], [2, 3, 4, 5, 6]], 4, padding, truncating), expected)


def test_encode_reports_lengths_before_truncation() -> None:
    vocab = Vocabulary.build([["a", "b"]], 10, 1)
    ids, lengths = encode(["a b a b a", "b"], vocab, WORD.replace(max_len=3))
    assert ids.shape == (2, 3) and lengths.tolist() == [5, 1]


def test_stop_words_are_scikit_learns() -> None:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as SKLEARN

    from lstmcli.text.stopwords import ENGLISH_STOP_WORDS

    assert ENGLISH_STOP_WORDS == SKLEARN
