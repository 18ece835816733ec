"""Reading pretrained word vectors: every format, token matching, selection, malformed files, coverage, matrix."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmcli.errors import ConfigError, DataError
from lstmcli.text.vectors import Vectors, coverage, embedding_matrix, normaliser, read_vectors
from lstmcli.text.vocab import OOV, PAD

ROWS = [("the", [0.5, -1.0, 0.25]), ("cat", [1.5, 2.0, -0.125]), ("sat", [0.0, 3.0, 4.0])]


def text_bytes(rows: list[tuple[str, list[float]]], header: bool = False, trailing: str = "") -> bytes:
    lines = [f"{len(rows)} {len(rows[0][1])}"] if header else []
    lines += [tok + " " + " ".join(repr(float(x)) for x in vec) + trailing for tok, vec in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def binary_bytes(rows: list[tuple[str, list[float]]], newline: bool = True, count: int | None = None) -> bytes:
    out = [f"{len(rows) if count is None else count} {len(rows[0][1])}\n".encode()]
    for tok, vec in rows:
        out.append(tok.encode("utf-8") + b" " + struct.pack(f"<{len(vec)}f", *vec) + (b"\n" if newline else b""))
    return b"".join(out)


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def expected_matrix(rows: list[tuple[str, list[float]]]) -> np.ndarray:
    return np.array([vec for _, vec in rows], dtype=np.float32)


def assert_read_as_rows(vectors: Vectors, fmt: str) -> None:
    assert vectors.tokens == ("the", "cat", "sat")
    assert vectors.matrix.dtype == np.float32 and vectors.matrix.shape == (3, 3)
    np.testing.assert_array_equal(vectors.matrix, expected_matrix(ROWS))
    assert (vectors.dim, vectors.rows, vectors.skipped, vectors.duplicates, vectors.format) == (3, 3, 0, 0, fmt)


# --- formats ---


@pytest.mark.parametrize(
    ("name", "data", "fmt"),
    [
        ("glove.txt", text_bytes(ROWS), "text"),
        ("w2v.txt", text_bytes(ROWS, header=True), "text"),
        ("crawl.vec", text_bytes(ROWS, header=True, trailing=" "), "text"),  # fastText ends lines with a space
        ("crlf.txt", text_bytes(ROWS).replace(b"\n", b"\r\n"), "text"),
        ("bom.txt", b"\xef\xbb\xbf" + text_bytes(ROWS), "text"),
        ("blank.txt", b"\n" + text_bytes(ROWS).replace(b"\n", b"\n\n"), "text"),
        ("tabs.txt", text_bytes(ROWS).replace(b" ", b"\t"), "text"),
        ("glove.txt.gz", gzip.compress(text_bytes(ROWS)), "text (gzip)"),
        ("crawl.vec.gz", gzip.compress(text_bytes(ROWS, header=True)), "text (gzip)"),
        ("misnamed.txt", gzip.compress(text_bytes(ROWS)), "text (gzip)"),  # told by gzip's magic bytes
        ("w2v.bin", binary_bytes(ROWS), "word2vec binary"),
        ("no_newlines.bin", binary_bytes(ROWS, newline=False), "word2vec binary"),
        ("misnamed.vec", binary_bytes(ROWS), "word2vec binary"),  # told by content, not by name
        ("w2v.bin.gz", gzip.compress(binary_bytes(ROWS)), "word2vec binary (gzip)"),
    ],
)
def test_each_format_reads_the_same_vectors(tmp_path: Path, name: str, data: bytes, fmt: str) -> None:
    assert_read_as_rows(read_vectors(write(tmp_path, name, data)), fmt)


def test_no_trailing_newline_and_one_dimension(tmp_path: Path) -> None:
    vectors = read_vectors(write(tmp_path, "v.txt", "a 1.5\nb -2"))
    assert vectors.tokens == ("a", "b") and vectors.dim == 1
    np.testing.assert_array_equal(vectors.matrix, [[1.5], [-2.0]])


def test_header_count_is_only_a_hint(tmp_path: Path) -> None:
    assert read_vectors(write(tmp_path, "v.vec", b"1000 3\n" + text_bytes(ROWS))).rows == 3
    assert read_vectors(write(tmp_path, "v.bin", binary_bytes(ROWS, count=1000))).rows == 3
    assert read_vectors(write(tmp_path, "w.bin", binary_bytes(ROWS, count=1))).rows == 3


def test_tokens_with_spaces_are_skipped_not_errors(tmp_path: Path) -> None:
    # glove.840B.300d has a few such lines, e.g. ". . ."; no tokenizer makes a token with a space.
    path = write(tmp_path, "v.txt", text_bytes([ROWS[0], (". . .", [1.0, 2.0, 3.0]), *ROWS[1:]]))
    vectors = read_vectors(path)
    assert vectors.tokens == ("the", "cat", "sat") and vectors.rows == 4 and vectors.skipped == 1


def test_undecodable_binary_token_is_skipped(tmp_path: Path) -> None:
    data = binary_bytes(ROWS).replace(b"cat ", b"ca\xc3 ")  # a word cut inside a character, as in GoogleNews
    vectors = read_vectors(write(tmp_path, "v.bin", data))
    assert vectors.tokens == ("the", "sat") and vectors.rows == 3


@settings(max_examples=30, deadline=None)
@given(
    matrix=st.integers(1, 12).flatmap(
        lambda dim: st.lists(
            st.lists(st.floats(-1e6, 1e6, width=32, allow_subnormal=False), min_size=dim, max_size=dim),
            min_size=1,
            max_size=20,
        )
    ),
    form=st.sampled_from(["text", "header", "binary", "gzip"]),
)
def test_round_trip_keeps_every_value(tmp_path_factory: pytest.TempPathFactory, matrix: list, form: str) -> None:
    rows = [(f"w{i}", vec) for i, vec in enumerate(matrix)]
    data = binary_bytes(rows) if form == "binary" else text_bytes(rows, header=form == "header")
    path = write(tmp_path_factory.mktemp("v"), "v", gzip.compress(data) if form == "gzip" else data)
    vectors = read_vectors(path)
    assert vectors.tokens == tuple(tok for tok, _ in rows)
    np.testing.assert_array_equal(vectors.matrix, expected_matrix(rows))


# --- normalisation and duplicates ---


def test_tokens_are_normalised_and_the_first_form_is_kept(tmp_path: Path) -> None:
    rows = [
        ("The", [1.0, 1.0]),
        ("ｃａｔ", [2.0, 2.0]),
        ("the", [3.0, 3.0]),
        ("CAT", [4.0, 4.0]),
        ("Straße", [5.0, 5.0]),
    ]
    vectors = read_vectors(write(tmp_path, "v.txt", text_bytes(rows)))
    assert vectors.tokens == ("the", "cat", "strasse")
    np.testing.assert_array_equal(vectors.matrix, [[1, 1], [2, 2], [5, 5]])
    assert (vectors.rows, vectors.duplicates, vectors.skipped) == (5, 2, 2)
    np.testing.assert_array_equal(vectors.get("the"), [1, 1])
    assert vectors.get("The") is None and "cat" in vectors and len(vectors) == 3


def test_normalisation_follows_the_run(tmp_path: Path) -> None:
    rows = [("The", [1.0]), ("ｃａｔ", [2.0]), ("the", [3.0])]
    path = write(tmp_path, "v.txt", text_bytes(rows))
    assert read_vectors(path, normalise=normaliser("none", lowercase=False)).tokens == ("The", "ｃａｔ", "the")
    assert read_vectors(path, normalise=normaliser("NFKC", lowercase=False)).tokens == ("The", "cat", "the")
    assert read_vectors(path, normalise=str.upper).tokens == ("THE", "ＣＡＴ")


def test_normaliser_matches_the_runs_cleaning() -> None:
    from lstmcli.config import Config
    from lstmcli.text.tokens import tokenize

    normalise = normaliser()
    for word in ["Hello", "ＡＢＣ", "İstanbul", "Straße", "ﬁne", "naïve", "Ǆemal", "ΣΊΣΥΦΟΣ"]:
        assert [normalise(word)] == tokenize(word, Config())


def test_tokens_that_normalise_to_nothing_are_skipped(tmp_path: Path) -> None:
    vectors = read_vectors(
        write(tmp_path, "v.txt", text_bytes([("<br>", [1.0]), ("a", [2.0])])),
        normalise=lambda tok: "" if tok.startswith("<") else tok,
    )
    assert vectors.tokens == ("a",) and vectors.skipped == 1


# --- wanted and limit ---

MANY = [(f"w{i}", [float(i), -float(i)]) for i in range(10)]


@pytest.mark.parametrize(
    ("wanted", "limit", "tokens"),
    [
        (None, None, [f"w{i}" for i in range(10)]),
        ({"w7", "w2"}, None, [f"w{i}" for i in range(10)]),
        (None, 3, ["w0", "w1", "w2"]),
        ({"w7", "w2"}, 0, ["w2", "w7"]),
        ({"w7", "w2", "absent"}, 2, ["w0", "w1", "w2", "w7"]),
        ({"w9"}, 1, ["w0", "w9"]),
        (set(), 0, []),
    ],
)
def test_wanted_and_limit_select_rows(
    tmp_path: Path, wanted: set[str] | None, limit: int | None, tokens: list[str]
) -> None:
    vectors = read_vectors(write(tmp_path, "v.txt", text_bytes(MANY)), wanted=wanted, limit=limit)
    assert list(vectors.tokens) == tokens
    np.testing.assert_array_equal(vectors.matrix, np.array([dict(MANY)[t] for t in tokens]).reshape(-1, 2))
    assert vectors.rows == 10 and vectors.skipped == 10 - len(tokens) and vectors.matrix.dtype == np.float32


def test_limit_counts_normalised_tokens_once_and_keeps_the_first_form(tmp_path: Path) -> None:
    rows = [("A", [1.0]), ("a", [2.0]), ("B", [3.0]), ("c", [4.0]), ("b", [5.0])]
    vectors = read_vectors(write(tmp_path, "v.bin", binary_bytes(rows)), wanted={"c"}, limit=2)
    assert vectors.tokens == ("a", "b", "c")
    np.testing.assert_array_equal(vectors.matrix, [[1.0], [3.0], [4.0]])
    assert vectors.duplicates == 2


def test_selection_over_many_batches(tmp_path: Path) -> None:
    rows = [(f"t{i}", [float(i)] * 4) for i in range(10_000)]
    wanted = {f"t{i}" for i in range(0, 10_000, 7)}
    vectors = read_vectors(write(tmp_path, "v.txt.gz", gzip.compress(text_bytes(rows))), wanted=wanted, limit=100)
    others = [f"t{i}" for i in range(10_000) if i % 7][:100]
    expected = [f"t{i}" for i in range(10_000) if f"t{i}" in wanted or f"t{i}" in others]
    assert list(vectors.tokens) == expected
    np.testing.assert_array_equal(vectors.matrix[:, 0], [float(t[1:]) for t in expected])


# --- malformed files ---


def error_of(path: Path, **options: object) -> str:
    with pytest.raises(DataError) as info:
        read_vectors(path, **options)  # type: ignore[arg-type]
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        (text_bytes(ROWS) + b"dog 1.0 2.0\n", ["line 4 has 2 numbers, expected 3 as line 1 has"]),
        (text_bytes(ROWS) + b"dog 1.0 2.0 3.0 4.0\n", ["line 4 has 4 numbers, expected 3"]),
        (b"\n\ncat 1 2\nthe 1\n", ["line 4 has 1 numbers, expected 2 as line 3 has"]),
        (b"dog\n" + text_bytes(ROWS), ["line 1 has a word but no numbers", "is this a vectors file?"]),
        (b"3 4\n" + text_bytes(ROWS), ["line 2 has 3 numbers, expected 4 as the header on line 1 says"]),
        (b"text,label\nhello world,pos\n", ["line 1 has a word but no numbers ('text,label')"]),
        (b"The quick brown fox.\nIt jumps.\n", ["line 1: 'quick' is not a number", "is this a vectors file?"]),
        (text_bytes(ROWS) + b"dog 1.0 abc 2.0\n", ["line 4: 'abc' is not a number", "a word and 3 numbers"]),
        (text_bytes(ROWS) + b"dog 1.0 1,5 2.0\n", ["line 4: '1,5' is not a number"]),
        (text_bytes(ROWS) + b"dog 1.0 2.0\t3.0 4.0\n", ["line 4 has 4 numbers, expected 3"]),
        (b"", ["line 1: the file is empty", "'word 0.418 0.24968 ...' per line"]),
        (b"\n \n\t\n", ["line 1: the file is empty"]),
        (b"3 50\n", ["line 2: no vectors after the header '3 50'"]),
        (b"3 0\n", ["line 1: the header says the vectors have 0 numbers"]),
        (text_bytes(ROWS) + b"dog 1.0 nan 2.0\n", ["line 4 has the value nan", "must be finite"]),
        (text_bytes(ROWS) + b"dog 1.0 -inf 2.0\n", ["line 4 has the value -inf"]),
        (b"dog 1e39 1 2\n", ["line 1 has the value inf", "float32's range"]),
        (text_bytes(ROWS) + b"dog 1.0 \x00 2.0\n", ["line 4 holds binary data (a NUL byte)", "'count dim'"]),
        (text_bytes(ROWS) + "caf\xe9 1 2 3\n".encode("latin-1"), ["line 4 is not UTF-8 (byte 0xe9 at byte 4"]),
        (bytes(range(256)) * 4, ["line 1 holds binary data", "'count dim'"]),
        ("2 2\ncafé 1 2\nthé 3 4\n".encode("latin-1"), ["line 2 is not UTF-8 (byte 0xe9 at byte 4"]),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["line 1 is not UTF-8 (byte 0x89 at byte 1"]),
        (b"\xff\xfe1\x002\x00", ["line 1 holds binary data"]),
    ],
)
def test_malformed_text_names_file_and_line(tmp_path: Path, data: bytes, fragments: list[str]) -> None:
    message = error_of(write(tmp_path, "vectors.txt", data))
    for fragment in fragments:
        assert fragment in message


def test_rows_past_the_limit_are_checked_too(tmp_path: Path) -> None:
    path = write(tmp_path, "v.txt", text_bytes(MANY) + b"late 1.0 x\n")
    assert "line 11: 'x' is not a number" in error_of(path, limit=1)
    path = write(tmp_path, "w.txt", text_bytes(MANY) + b"late 1.0 nan\n")
    assert "line 11 has the value nan" in error_of(path, limit=0)


@pytest.mark.parametrize("data", [text_bytes(ROWS), text_bytes(ROWS, header=True), binary_bytes(ROWS)])
def test_dim_that_contradicts_embedding_dim(tmp_path: Path, data: bytes) -> None:
    message = error_of(write(tmp_path, "v.vec", data), dim=50)
    assert "line 1: the vectors have 3 numbers per word but --embedding-dim is 50" in message
    assert "pass --embedding-dim 3" in message
    assert read_vectors(write(tmp_path, "v.vec", data), dim=3).dim == 3


def test_truncated_binary(tmp_path: Path) -> None:
    data = binary_bytes(ROWS)
    message = error_of(write(tmp_path, "v.bin", data[:-6]))
    assert "line 4 (vector 3, byte " in message and "truncated" in message


def test_binary_whose_header_dim_is_too_big(tmp_path: Path) -> None:
    data = binary_bytes(ROWS).replace(b"3 3\n", b"3 4\n", 1)
    message = error_of(write(tmp_path, "v.bin", data))
    assert "line 4 (vector 3, byte 41)" in message and "its header's dim (4) is wrong" in message


def test_binary_with_no_word_separator(tmp_path: Path) -> None:
    data = b"2 3\n" + bytes([0x80, 0x81, 0x00, 0x01]) * 400
    assert "line 2 (vector 1, byte 4): no word within 1000 bytes" in error_of(write(tmp_path, "v.bin", data))


def test_binary_non_finite(tmp_path: Path) -> None:
    rows = [*ROWS[:2], ("bad", [1.0, float("nan"), 2.0])]
    assert "line 4 has the value nan" in error_of(write(tmp_path, "v.bin", binary_bytes(rows)))


def test_binary_whose_header_is_not_count_dim(tmp_path: Path) -> None:
    data = b"word2vec\n" + binary_bytes(ROWS)[4:]
    assert "line 2 holds binary data" in error_of(write(tmp_path, "v.bin", data))


def test_fasttext_model_is_not_vectors(tmp_path: Path) -> None:
    data = struct.pack("<ii", 793712314, 12) + bytes(100)
    assert "line 1: this is a fastText model" in error_of(write(tmp_path, "cc.en.300.bin", data))


def test_truncated_gzip(tmp_path: Path) -> None:
    rows = [(f"t{i}", [float(i)] * 8) for i in range(20_000)]
    data = gzip.compress(text_bytes(rows))
    message = error_of(write(tmp_path, "v.txt.gz", data[: len(data) // 2]))
    assert "the gzip data ends early or is corrupt" in message and " line " in message


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot read the vectors file" in error_of(tmp_path / "absent.vec")


def test_options_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, "v.txt", text_bytes(ROWS))
    with pytest.raises(ConfigError, match="embedding-dim"):
        read_vectors(path, dim=0)
    with pytest.raises(ConfigError, match="limit"):
        read_vectors(path, limit=-1)


# --- coverage and the embedding matrix ---


def test_coverage_counts_types_and_tokens() -> None:
    vocab = (PAD, OOV, "the", "cat", "zyx")
    counts = {"the": 10, "cat": 5, "zyx": 3, "rare": 2}  # "rare" fell out of the vocabulary
    result = coverage(vocab, counts, {"the", "cat", "dog"})
    assert (result.types, result.types_found, result.tokens, result.tokens_found) == (3, 2, 20, 15)
    assert result.type_share == pytest.approx(2 / 3) and result.token_share == pytest.approx(0.75)
    empty = coverage([PAD, OOV], {}, set())
    assert (empty.type_share, empty.token_share) == (0.0, 0.0)


def test_coverage_of_vectors_read_for_a_vocabulary(tmp_path: Path) -> None:
    vectors = read_vectors(write(tmp_path, "v.txt", text_bytes(ROWS)), wanted={"cat", "dog"}, limit=0)
    result = coverage((PAD, OOV, "cat", "dog"), {"cat": 3, "dog": 1}, vectors)
    assert (result.types_found, result.tokens_found) == (1, 3)


def test_embedding_matrix_uses_found_rows_and_scaled_random_ones(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [(f"w{i}", list(rng.normal(0, 2.0, 16))) for i in range(400)]
    vectors = read_vectors(write(tmp_path, "v.txt", text_bytes(rows)))
    vocab = (PAD, OOV, *[f"w{i}" for i in range(0, 400, 2)], *[f"new{i}" for i in range(300)])
    matrix = embedding_matrix(vocab, vectors, seed=1)
    assert matrix.shape == (len(vocab), 16) and matrix.dtype == np.float32
    assert not matrix[0].any()
    for i, tok in enumerate(vocab[2:202], 2):
        np.testing.assert_array_equal(matrix[i], vectors.get(tok))
    random_rows = matrix[[1, *range(202, len(vocab))]]
    assert random_rows.std() == pytest.approx(vectors.matrix[::2].std(), rel=0.1)
    np.testing.assert_array_equal(matrix, embedding_matrix(vocab, vectors, seed=1))
    assert not np.array_equal(matrix, embedding_matrix(vocab, vectors, seed=2))


def test_embedding_matrix_when_nothing_is_found(tmp_path: Path) -> None:
    vectors = read_vectors(write(tmp_path, "v.txt", text_bytes(ROWS)), wanted=set(), limit=0)
    matrix = embedding_matrix((PAD, OOV, "x"), vectors, seed=0)
    assert matrix.shape == (3, 3) and not matrix[0].any() and 0 < np.abs(matrix[1:]).max() < 1
    assert embedding_matrix((), vectors, seed=0).shape == (0, 3)
