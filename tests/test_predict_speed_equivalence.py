"""The chunk-at-a-time text path gives exactly what the text-by-text one gives: the same tokens and ids for any
texts under any cleaning settings, and on every text of every shared corpus."""

from __future__ import annotations

import csv
import io
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SHARED_DATASETS, shared_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import TEXT

from lstmcli.config import Config, make_config
from lstmcli.errors import DataError
from lstmcli.predictor import BATCH, Prediction, Predictor, predict_texts
from lstmcli.rundir import RunDir
from lstmcli.text import encoder as encoder_module
from lstmcli.text.encoder import Encoder
from lstmcli.text.tokens import TEXT_END, _may_hold_url, _url_rows, token_groups, tokenize
from lstmcli.text.vocab import OOV, PAD, Vocabulary
from lstmcli.ui.writers import OutputSpec, write_predictions

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
        "WwW.x",
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
    groups = [(rows, t if isinstance(t, list) else t.strings()) for rows, t in token_groups(texts, config)]
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


@pytest.mark.parametrize("name", ["default", "kept", "tokens"])
@SETTINGS
@given(texts=TEXTS)
def test_byte_lookup_of_any_chunk_equals_text_by_text(
    name: str, texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every chunk's ASCII tokens looked up as bytes (Vocabulary.byte_ids), however few."""
    monkeypatch.setattr(encoder_module, "BYTE_LOOKUP_TOKENS", 0)
    _assert_same(texts, CONFIGS[name])


# Tokens a chunk's ASCII texts can hold: printable ASCII without a space, around the 8- and 16-byte key edges.
ASCII_TOKENS = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=19)
ODD_TOKENS = st.sampled_from(
    ["", "a\x00", "\x00", "a\nb", "é", "naïve", "ab\udc80", "a b", "0123456789abcdef", "<pad>"]
)


@SETTINGS
@given(
    known=st.lists(ASCII_TOKENS | ODD_TOKENS, max_size=40),
    unknown=st.lists(ASCII_TOKENS, max_size=20),
    order=st.randoms(use_true_random=False),
)
def test_byte_lookup_gives_the_dicts_ids(known: list[str], unknown: list[str], order: Any) -> None:
    """The hash table of byte keys agrees with the vocabulary's dict for any vocabulary, a token twice, tokens
    that share their first 8 or 16 bytes, tokens a chunk never holds (empty, a zero byte, a line end, non-ASCII)."""
    vocab = Vocabulary((PAD, OOV, *known, *known[:3]))  # a token twice: the dict keeps its last id
    extended = [t + "x" for t in known if t.isascii() and t.isprintable() and " " not in t and t]
    tokens = [t for t in known + unknown + extended if t.isascii() and t.isprintable() and " " not in t and t]
    tokens += [TEXT_END] * 3
    order.shuffle(tokens)
    data = np.frombuffer(" ".join(tokens).encode("ascii"), np.uint8)
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)
    starts = np.cumsum(lengths + 1) - lengths - 1
    np.testing.assert_array_equal(vocab.byte_ids(data, starts, lengths, TEXT_END), vocab.id_array(tokens, TEXT_END))


@SETTINGS
@given(texts=TEXTS)
def test_url_rows_of_a_chunk_are_those_of_each_text(texts: list[str]) -> None:
    parts = [t.replace("\n", " ") for t in texts] or [""]
    want = [row for row, part in enumerate(parts) if _may_hold_url(part)]
    assert _url_rows("\n".join(parts), parts) == want


def test_url_rows_of_a_chunk_in_any_case_and_at_its_edges() -> None:
    parts = ["WwW.a", "plain", "x@y", "two @ and @", "", "see http://a.b", "WWW", "last www."]
    assert _url_rows("\n".join(parts), parts) == [0, 2, 3, 5, 7]


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


# --- the network, the engines and the stream ---

STREAM = ["rain and wind tonight", "the match went to extra time", "bake the bread for an hour", "sunny"]


def test_packed_rows_give_what_each_row_alone_gives(trained_run: Path) -> None:
    """Rows of any length, padding anywhere (as explain's occluded copies hold it), in one batch: each row's LSTM
    logits are those of its tokens alone, without padding, as a masked network reads them (the n-gram part reads
    the gaps: a gap ends an n-gram)."""
    predictor = Predictor(RunDir(trained_run), "numpy")
    network = predictor.network
    assert predictor.config.mask and network.ngrams is not None
    rng = np.random.default_rng(0)
    ids = predictor.encode([" ".join(rng.choice(STREAM, size=rng.integers(1, 5))) for _ in range(300)])
    ids[rng.random(ids.shape) < 0.2] = 0
    ids[ids.sum(axis=1) == 0, -1] = 1
    together = network.part_logits(ids)[1]
    for row, logits in zip(ids, together):
        np.testing.assert_allclose(logits, network.part_logits(row[row != 0][None, :])[1][0], atol=1e-6)
    np.testing.assert_array_equal(network.proba(ids[::-1]), network.proba(ids)[::-1])


def test_auto_engine_takes_a_cached_graph_from_the_first_full_batch(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    from lstmcli import predictor as module
    from lstmcli.nn import ort

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(module.ENGINE_VARIABLE, raising=False)
    # A run without the graph training now keeps (an earlier version's): the user's cache alone holds it.
    run = RunDir(shutil.copytree(trained_run, tmp_path / "run", ignore=shutil.ignore_patterns("engine")))
    texts = STREAM * (module.CACHED_ONNX_ROWS // len(STREAM) + 1)
    uncached = module.Predictor(run)
    uncached.network.lstm_silent = False
    want = uncached.proba(texts)
    assert uncached.engine_in_use == "numpy"  # building the graph would cost more than these rows
    model = ort.engine_model(uncached.weights, uncached.config)
    assert ort.cached_path(uncached.weights, uncached.config).read_bytes() == model
    cached = module.Predictor(run)
    cached.network.lstm_silent = False
    np.testing.assert_allclose(cached.proba(texts), want, atol=1e-6)
    assert cached.engine_in_use == "onnx"
    single = module.Predictor(run)
    single.network.lstm_silent = False
    single.proba(STREAM)
    assert single.engine_in_use == "numpy"  # a few texts never pay for a session


def test_stream_raises_a_reading_error_after_the_batches_before_it(trained_run: Path) -> None:
    predictor = Predictor(RunDir(trained_run))

    def rows() -> Iterator[tuple[str, str]]:
        for i in range(BATCH + 10):
            yield "f", STREAM[i % len(STREAM)]
        raise DataError("f: line 2059 cannot be read")

    labelled = 0
    with pytest.raises(DataError, match="line 2059"):
        for _ in predict_texts(predictor, rows()):
            labelled += 1
    assert labelled == BATCH


def test_stream_closed_early_stops_reading(trained_run: Path) -> None:
    predictor = Predictor(RunDir(trained_run))
    read = []

    def rows() -> Iterator[tuple[str, str]]:
        for i in range(100 * BATCH):
            read.append(i)
            yield "f", STREAM[i % len(STREAM)]

    stream = predict_texts(predictor, rows())
    first = next(stream)
    stream.close()
    time.sleep(0.5)
    assert first.label is not None and len(read) <= 4 * BATCH
    # Both stages' threads (reading and encoding, the network) have ended: nothing goes on reading or labelling.
    assert not [t.name for t in threading.enumerate() if t.name in ("lstmcli-encode", "lstmcli-network")]


@pytest.mark.parametrize("output_format", ["tsv", "csv", "label", "jsonl"])
def test_rows_written_from_the_label_a_prediction_holds_match_the_ranking(
    trained_run: Path, output_format: str
) -> None:
    predictor = Predictor(RunDir(trained_run))
    texts = [*STREAM, "", "tab\there"]
    predictions = list(predict_texts(predictor, (("f", t) for t in texts)))
    bare = [Prediction(p.source, p.text, p.probabilities) for p in predictions]  # no label: ranked per row
    spec = OutputSpec(output_format, with_text=True, file_column=True)
    written = []
    for items in (predictions, bare):
        out = io.StringIO()
        write_predictions(((p, ()) for p in items), predictor.decider, spec, out)
        written.append(out.getvalue())
    assert written[0] == written[1] and written[0].count("\n") == len(texts) + (output_format == "csv")
