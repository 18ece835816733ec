"""Property tests: cleaning, tokenizing and encoding any Unicode text, and reading back any CSV or text input."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from lstmcli.config import Config, make_config
from lstmcli.errors import DataError
from lstmcli.io.inputs import InputCounter, read_inputs
from lstmcli.io.tables import read_labelled
from lstmcli.rundir import RunDir
from lstmcli.text.batching import length_batches, to_front
from lstmcli.text.encoder import Encoder, pad
from lstmcli.text.tokens import _ASCII_TOKEN, _TOKEN, _URL, _may_hold_url, clean, tokenize
from lstmcli.text.vocab import OOV_ID, PAD_ID, Vocabulary

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

CONFIGS = {
    "default": Config(tokenizer="word", max_len=12),
    "tutorial": make_config("tutorial", max_len=12),
    "char": Config(tokenizer="char", max_len=12, padding="post", truncating="post"),
    "jieba": Config(tokenizer="jieba", max_len=12),
    "tokens": Config(
        tokenizer="word",
        max_len=5,
        numbers="token",
        urls="remove",
        punctuation="remove",
        unicode_form="none",
        lowercase=False,
        strip_html=False,
    ),
}

# Any Unicode text, with enough markup, digits, URLs and CJK to reach every cleaning rule.
TEXT = st.one_of(
    st.text(),
    st.lists(
        st.sampled_from(
            [
                "<br />",
                "&amp;",
                "http://x.io/a?b=1",
                "a@b.co",
                "12,345.6",
                "ﬁ",
                "Ⅻ",
                "ẞ",
                "İ",
                "比赛",
                "ｆｕｌｌ",
                "don't",
                "l’œuvre",
                "_",
                "\u200b",
                "\u2028",
                "\t",
                "  ",
                "é",
                "e\u0301",
                "😀",
                "<pad>",
                "<unk>",
                "\r\n",
            ]
        )
        | st.text(max_size=5),
        max_size=12,
    ).map("".join),
)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@SETTINGS
@given(text=TEXT)
def test_tokenize_any_text(name: str, text: str) -> None:
    """No crash, the same result twice, and tokens that are non-empty and free of whitespace."""
    config = CONFIGS[name]
    tokens = tokenize(text, config)
    assert tokens == tokenize(text, config)
    assert all(isinstance(t, str) and t and not any(c.isspace() for c in t) for t in tokens)
    cleaned = clean(text, config)
    assert cleaned == cleaned.strip() and "  " not in cleaned


@SETTINGS
@given(
    st.text(alphabet=st.characters(max_codepoint=127))
    | st.lists(
        st.sampled_from(["don't", "'", "''a", "a'", "9'", "_x_", "`", "~", "{|}", "\x7f", "\x00", " ", "A1"]),
        max_size=10,
    ).map("".join)
)
def test_ascii_tokens_match_the_unicode_pattern(text: str) -> None:
    """The ASCII fast path of tokenize gives exactly the tokens of the Unicode pattern."""
    assert _ASCII_TOKEN.findall(text) == _TOKEN.findall(text)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@SETTINGS
@given(
    train=st.lists(TEXT, min_size=1, max_size=8),
    texts=st.lists(TEXT, max_size=8),
    size=st.integers(min_value=3, max_value=40),
)
def test_encode_any_text_gives_ids_in_range(name: str, train: list[str], texts: list[str], size: int) -> None:
    """The Encoder that prepare, predict and explain run: ids in range, every row holding at least one token,
    the kept end of each text, and the same ids from texts, token lists and id lists."""
    config = CONFIGS[name]
    vocab = Vocabulary.build((tokenize(t, config) for t in train), size, 1)
    assert 2 <= len(vocab) <= size
    encoder = Encoder(config, vocab)
    ids, lengths = encoder.encode(texts)
    assert ids.shape == (len(texts), config.max_len) and ids.dtype == np.int32
    assert ((ids >= 0) & (ids < len(vocab))).all()
    assert (np.count_nonzero(ids, axis=1) == np.maximum(np.minimum(lengths, config.max_len), 1)).all()
    for row, text in zip(ids, texts, strict=True):
        assert row[row != PAD_ID].tolist() == (list(encoder.truncate(encoder.ids(text))) or [OOV_ID])
    np.testing.assert_array_equal(ids, encoder.encode(texts)[0])
    np.testing.assert_array_equal(ids, encoder.encode_tokens([encoder.tokens(t) for t in texts])[0])
    np.testing.assert_array_equal(ids, encoder.pad([encoder.ids(t) for t in texts]))
    for text in train:  # every token seen in training (and kept) has its own id, never padding or unknown
        seen = vocab.ids(tokenize(text, config))
        assert PAD_ID not in seen
        assert OOV_ID not in seen or len(vocab) == size


@pytest.mark.parametrize("name", sorted(CONFIGS))
@SETTINGS
@given(train=st.lists(TEXT, min_size=1, max_size=8))
def test_vocabulary_file_round_trip(name: str, train: list[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    """What prepare writes to vocab.txt, predict reads back as the same ids."""
    config = CONFIGS[name]
    vocab = Vocabulary.build((tokenize(t, config) for t in train), 1000, 1)
    run = RunDir(tmp_path_factory.mktemp("vocab"))
    run.write_vocab(vocab)
    assert run.read_vocab() == vocab


URLISH = st.lists(
    st.sampled_from(
        ["WwW.", "www", ".", "://", "http", "HTTPS", "ſ", "@", "a", "b.c", " ", "\u2028", "\x1c", "\u3000", "\t\n"]
    )
    | st.text(max_size=3),
    max_size=12,
).map("".join)


@SETTINGS
@given(URLISH | TEXT)
def test_cleaning_shortcuts_agree_with_the_regexes(text: str) -> None:
    """The URL pre-check never skips a text _URL would match; str.split's whitespace is re's \\s."""
    assert _may_hold_url(text) or not _URL.search(text)
    assert " ".join(text.split()) == re.sub(r"\s+", " ", text).strip()


@settings(max_examples=100, deadline=None)
@given(
    seqs=st.lists(st.lists(st.integers(1, 50), max_size=20), max_size=10),
    max_len=st.integers(1, 15),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
)
def test_pad_keeps_the_right_end(seqs: list[list[int]], max_len: int, padding: str, truncating: str) -> None:
    out = pad(seqs, max_len, padding, truncating)
    assert out.shape == (len(seqs), max_len)
    for row, seq in zip(out, seqs, strict=True):
        kept = seq[-max_len:] if truncating == "pre" else seq[:max_len]
        values = row[row != 0].tolist()
        assert values == kept
        if kept:
            assert (row[-len(kept) :] if padding == "pre" else row[: len(kept)]).tolist() == kept


@settings(max_examples=100, deadline=None)
@given(lengths=st.lists(st.integers(0, 30), max_size=60), size=st.integers(1, 9), same_length=st.booleans())
def test_length_batches_hold_every_row_once(lengths: list[int], size: int, same_length: bool) -> None:
    """Each row in one batch of at most ``size`` rows, cut wide enough for its longest; batches in length order."""
    array = np.array(lengths, dtype=np.int64)
    batches = length_batches(array, size, same_length)
    rows = [int(i) for group, _ in batches for i in group]
    assert sorted(rows) == list(range(len(lengths))) and [lengths[i] for i in rows] == sorted(lengths)
    for group, width in batches:
        assert 1 <= len(group) <= size and width == max(1, int(array[group].max()))
        assert not same_length or len(set(array[group].tolist())) == 1


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 3), min_size=6, max_size=6), min_size=1, max_size=12))
def test_to_front_keeps_each_rows_tokens_in_order(rows: list[list[int]]) -> None:
    """Padding anywhere (id 0): each row's tokens move to its front in order, the rows cut to the longest."""
    packed, lengths = to_front(np.array(rows, dtype=np.int32))
    tokens = [[t for t in row if t] for row in rows]
    assert lengths.tolist() == [len(t) for t in tokens] and packed.shape == (len(rows), max(1, *map(len, tokens)))
    assert packed.tolist() == [t + [0] * (packed.shape[1] - len(t)) for t in tokens]


# ---------------------------------------------------------------------------------------------------------------
# CSV reading

CELL = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)


@SETTINGS
@given(
    rows=st.lists(st.tuples(CELL, CELL), min_size=1, max_size=15),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
)
def test_csv_rows_read_back_identical(
    rows: list[tuple[str, str]], delimiter: str, encoding: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Any rows written with the csv module read back as written (stripped), rows with an empty side dropped."""
    path = tmp_path_factory.mktemp("csv") / "data.csv"
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    expected = [(t.strip(), lab.strip()) for t, lab in rows if t.strip() and lab.strip()]
    data = read_labelled(path)
    assert list(zip(data.texts, data.labels, strict=True)) == expected
    assert data.rows_read - data.dropped_empty_text - data.dropped_empty_label == len(expected)
    assert (data.text_column, data.label_column) == ("text", "label")


# ---------------------------------------------------------------------------------------------------------------
# predict's input: one result line per input line, whatever the bytes

# NUL is left out: input holding it is refused as binary (test_nul_bytes_are_refused_as_binary).
LINE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00"), max_size=40)


@SETTINGS
@given(lines=st.lists(LINE, min_size=1, max_size=20), crlf=st.booleans())
def test_utf8_lines_read_back_identical(lines: list[str], crlf: bool) -> None:
    data = ("\r\n" if crlf else "\n").join(lines).encode("utf-8") + b"\n"
    counter = InputCounter()
    read = [text for _, text in read_inputs([Path("-")], False, "auto", counter, stdin=io.BytesIO(data))]
    assert read == lines
    assert counter.replaced == sum(line.count("\ufffd") for line in lines)


@SETTINGS
@given(
    data=st.binary(max_size=400).filter(
        lambda b: b"\x00" not in b and not b.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf"))
    )
)
@example(data=b"%p\x80")  # read as EBCDIC once: 0x25 is its line end
def test_any_bytes_give_one_text_per_line(data: bytes) -> None:
    """Undecodable bytes are replaced, never fatal, and never merge or split lines (NUL bytes: binary, refused)."""
    counter = InputCounter()
    read = [text for _, text in read_inputs([Path("-")], False, "auto", counter, stdin=io.BytesIO(data))]
    expected = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    assert len(read) == expected
    assert counter.replaced >= 0


@SETTINGS
@given(before=st.binary(max_size=100), after=st.binary(max_size=100))
def test_nul_bytes_are_refused_as_binary(before: bytes, after: bytes) -> None:
    data = before + b"\x00" + after
    assume(not data.startswith((b"\xff\xfe", b"\xfe\xff")))  # UTF-16 and UTF-32 hold NUL bytes
    with pytest.raises(DataError, match="looks like a binary file"):
        list(read_inputs([Path("-")], False, "auto", InputCounter(), stdin=io.BytesIO(data)))
