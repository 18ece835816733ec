"""Cleaning, tokenizing, the vocabulary, the encoder and padding, and length batching."""

from __future__ import annotations

import numpy as np
import pytest

from lstmcli.config import Config, make_config
from lstmcli.errors import DataError
from lstmcli.text.batching import count_batches, cut, extents, length_batches
from lstmcli.text.encoder import Encoder, pad
from lstmcli.text.tokens import clean, tokenize
from lstmcli.text.vocab import OOV_ID, PAD, Vocabulary

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
    assert Vocabulary.from_text(vocab.to_text()).ids(["b", "a"]) == [3, 2]


@pytest.mark.parametrize("text", ["<pad>\n<unk>\na\nb\na\n", "<unk>\n<pad>\na\n", "<pad>\n"])
def test_a_damaged_vocabulary_file_is_refused(text: str) -> None:
    with pytest.raises(DataError, match="vocabulary"):
        Vocabulary.from_text(text)


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
    ids, lengths = Encoder(WORD.replace(max_len=3), vocab).encode(["a b a b a", "b"])
    assert ids.shape == (2, 3) and lengths.tolist() == [5, 1]


@pytest.mark.parametrize("padding", ["pre", "post"])
def test_encoder_gives_a_text_without_tokens_one_unknown_id(padding: str) -> None:
    encoder = Encoder(
        WORD.replace(max_len=3, padding=padding, truncating=padding), Vocabulary.build([["a", "b"]], 10, 1)
    )
    ids, lengths = encoder.encode(["a b", "", "zzz"])
    first, blank = ([0, 2, 3], [0, 0, 1]) if padding == "pre" else ([2, 3, 0], [1, 0, 0])
    assert ids.tolist() == [first, blank, blank] and lengths.tolist() == [2, 0, 1]
    assert encoder.pad([[2, 3], [], [1]]).tolist() == ids.tolist()  # lists and texts pad alike
    assert pad([[]], 3, padding, padding).tolist() == [[0, 0, 0]]  # the bare padder leaves an empty row empty


def test_length_batches_sort_rows_and_cut_each_batch_to_its_longest() -> None:
    lengths = np.array([3, 1, 2, 1, 0, 3])
    batches = length_batches(lengths, 4)
    assert [(rows.tolist(), width) for rows, width in batches] == [([4, 1, 3, 2], 2), ([0, 5], 3)]
    same = length_batches(lengths, 4, same_length=True)
    assert [(rows.tolist(), width) for rows, width in same] == [([4], 1), ([1, 3], 1), ([2], 2), ([0, 5], 3)]
    ids = np.array([[0, 0, 5, 6], [7, 8, 0, 0]])
    assert cut(ids, 2, "pre").tolist() == [[5, 6], [0, 0]] and cut(ids, 2, "post").tolist() == [[0, 0], [7, 8]]
    inner = np.array([[0, 5, 0, 6], [0, 0, 0, 0], [7, 0, 8, 0]])  # padding between tokens, as occlusion leaves
    assert extents(inner, "pre").tolist() == [3, 0, 4] and extents(inner, "post").tolist() == [4, 0, 3]
    assert count_batches(np.array([1, 2, 3, 4, 5]), [3], 2) == 3 and count_batches(np.arange(5), [], 2) == 3


def test_stop_words_are_scikit_learns() -> None:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as SKLEARN

    from lstmcli.text.stopwords import ENGLISH_STOP_WORDS

    assert ENGLISH_STOP_WORDS == SKLEARN
