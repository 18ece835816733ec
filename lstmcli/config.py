"""Every setting of a run: one flat, frozen dataclass, the presets, and their validation.

The resolved config (``auto`` values replaced by what was chosen) is saved as JSON in the run directory,
so a run describes itself and later commands never guess.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lstmcli.errors import ConfigError

STAGES = ("prepare", "train", "both")  # see setting()
Check = tuple[Callable[[Any], bool], str]  # a test of a setting's value, and what its error says it must be
POSITIVE: Check = (lambda value: value > 0, "must be a positive integer")
FRACTION: Check = (lambda value: 0.0 <= value < 1.0, "must be in [0, 1)")


def at_least(low: float, must: str) -> Check:
    """A check that the value is ``low`` or more, saying ``must`` otherwise."""
    return (lambda value: value >= low, must)


AUTO_EMBEDDING_DIM = 128  # embedding_dim 0 (auto): this, or the dimension of the pretrained vectors
# batch_size 0 (auto): the largest power of two at most the training rows / AUTO_BATCHES, within these bounds;
# learning_rate 0 (auto): AUTO_LEARNING_RATE at batch 64, scaled by the square root of the batch size over 64.
AUTO_BATCHES, AUTO_BATCH_SIZES, AUTO_LEARNING_RATE = 40, (32, 256), 0.002
# A multi-label run's auto rate at batch 64: a sigmoid per label learns its rare labels from few, sparse gradients,
# which Adam at 0.002 moves too slowly (Reuters, the n-gram classifier's validation micro-F1 after 10 epochs: 0.64
# at 0.0028, 0.86 at 0.01, 0.87 at 0.02 and 0.05, its biases started at the labels' log-odds).
AUTO_LEARNING_RATE_MULTI_LABEL = 0.01


def setting(
    default: Any,
    help: str = "",
    stage: str = "train",
    short: str = "",
    shown: str = "",
    flag: str = "",
    many: bool = False,
    metavar: str = "",
    *,
    choices: tuple[Any, ...] = (),
    checks: tuple[Check, ...] = (),
    legacy: Any = dataclasses.MISSING,
    kept: bool = False,
) -> Any:
    """A Config field with all that is said about it, written once: its stage, its command-line option, the values
    it takes and what a run saved before it existed was trained with.

    Args:
        default: the value when neither the user nor a preset sets it.
        help: the option's help, without the default (the CLI adds it, and each preset's own value); "" for a
            setting without an option (set by a preset, or kept as it is).
        stage: "prepare": it shapes the prepared data (an option of prepare, and of train given the data file;
            changing it means preparing again); "train": the model or its training (an option of train); "both":
            read by prepare and by train alike (the seed: an option of both, kept when a preset is applied).
        short: a short flag such as "-e".
        shown: how the help shows the default where the value itself would say little ("detected").
        flag: the option's name where it is not the field's ("--freeze-embeddings/--tune-embeddings").
        many: the option may be given several times; the field holds a tuple of the values.
        metavar: how the help names the option's value, where its type says little ("RUN").
        choices: the values it takes, when they are few.
        checks: tests of its value, each with what the error says the value must be (:func:`validate`).
        legacy: the value of a run whose config.json predates the setting (none: the setting was always saved).
        kept: a preset applied to a prepared run leaves it as the run has it (as every "prepare" setting).
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}; received '{stage}'")
    metadata = {
        "help": help, "stage": stage, "short": short, "shown": shown, "flag": flag, "many": many, "metavar": metavar,
        "choices": choices, "checks": checks, "kept": kept or stage != "train",
    }  # fmt: skip
    if legacy is not dataclasses.MISSING:
        metadata["legacy"] = legacy
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Config:
    """All preprocessing, model and training settings of one run."""

    preset: str = setting("default", choices=("default", "tutorial"))  # the presets of PRESETS
    # --- input ---
    text_column: str = setting("", "Column with the text.", "prepare", shown="picked: text, sentence, review, ...")
    label_column: str = setting("", "Column with the label.", "prepare", shown="picked: label, category, class, ...")
    # Multi-label: a text has any number of labels (none included), a sigmoid each; see lstmcli.dataset.multilabel.
    multi_label: bool = setting(
        False,
        "Each text has any number of labels (none included): the label column holds them joined.",
        "prepare",
        legacy=False,
    )
    label_separator: str = setting(
        "|", "With --multi-label, what joins a text's labels in the label column.", "prepare", legacy="|"
    )
    label_columns: str = setting(
        "",
        "Multi-label with one 0/1 column per label, e.g. joy,love,anger (implies --multi-label).",
        "prepare",
        shown="none",
        legacy="",
    )
    encoding: str = setting("auto", "Text encoding of the CSV.", "prepare", shown="detected")
    header: bool = setting(
        True,
        "The CSV's first row names its columns; --no-header: it is data, and the columns are 1, 2, ...",
        "prepare",
        legacy=True,
    )
    # --- cleaning ---
    # full-width letters and digits become half-width
    unicode_form: str = setting("NFKC", stage="prepare", choices=("none", "NFC", "NFKC"))
    lowercase: bool = setting(True, "Case-fold text (str.casefold: works for every cased script).", "prepare")
    strip_html: bool = setting(True, stage="prepare")  # tags and entities such as <br /> and &amp;
    urls: str = setting(
        "token",
        "URLs and e-mail addresses: keep, token (one token for all) or remove.",
        "prepare",
        choices=("keep", "token", "remove"),
    )
    numbers: str = setting(
        "keep", "Digits: keep, token (one token for all) or remove.", "prepare", choices=("keep", "token", "remove")
    )
    punctuation: str = setting(
        "keep", "keep (each mark is a token: ! and ? carry meaning) or remove.", "prepare", choices=("keep", "remove")
    )
    letters_only: bool = setting(False, stage="prepare")  # the tutorial's re.sub('[^a-zA-Z]', ' ', text)
    stopwords: bool = setting(False, "Drop scikit-learn's English stop words.", "prepare")
    # --- tokens and vocabulary ---
    tokenizer: str = setting(
        "auto",
        "auto (looks at the training texts' scripts), word, char or jieba.",
        "prepare",
        choices=("auto", "word", "char", "jieba"),
    )
    vocab_size: int = setting(
        30000,
        "Most ids in the vocabulary, padding and unknown included.",
        "prepare",
        checks=(POSITIVE, at_least(3, "must be at least 3 (padding, unknown, one word)")),
    )
    min_count: int = setting(1, "Rarer tokens become the unknown id.", "prepare", checks=(POSITIVE,))
    max_len: int = setting(
        0,
        "Tokens per text: an integer, or auto (a high percentile of training lengths).",
        "prepare",
        shown="auto",
        checks=(at_least(0, "must be a positive integer or 'auto'"),),
    )
    max_len_percentile: float = setting(  # the percentile used by max_len=0
        99.0, stage="prepare", checks=((lambda value: 50.0 <= value <= 100.0, "must be between 50 and 100"),)
    )
    # Right padding: with a mask both sides read the same, and only right-padded masks run on cuDNN (GPU).
    padding: str = setting(
        "post", "pre or post: the side that gets padding (without --mask: pre).", "prepare", choices=("pre", "post")
    )
    truncating: str = setting(
        "pre", "pre or post: the side cut from texts longer than --max-len.", "prepare", choices=("pre", "post")
    )
    # Pretrained word vectors start the token embeddings; the run keeps what it uses (prediction never reads them).
    embeddings: str = setting(
        "auto",
        "Pretrained word vectors to start the token embeddings from: auto (installed vectors whose language fits "
        "the training texts, else none), none, the name of packaged vectors (glove-6b-50d), or a word2vec, GloVe "
        "or fastText file (.txt, .vec, optionally .gz; word2vec .bin).",
        "prepare",
        metavar="auto|none|NAME|PATH",
        legacy="",
    )
    unlabeled: tuple[str, ...] = setting(
        (),
        "Texts without labels to learn word vectors from, with the training texts (skip-gram word2vec, beside "
        "--embeddings' vectors): a text file (one text a line), a CSV/TSV/JSON Lines table or a directory; "
        "repeatable.",
        "prepare",
        shown="none",
        many=True,
        metavar="PATH",
        legacy=(),
    )
    init_from: str = setting(
        "",
        "A run directory whose vocabulary and start vectors (its --embeddings and --unlabeled ones) start this run's, "
        "so that vectors learned once from unlabeled text serve several labelled tasks.",
        "prepare",
        shown="none",
        metavar="RUN",
        legacy="",
    )
    embeddings_limit: int = setting(
        50000,
        "With --embeddings, the most words of the vectors that the training texts never contain to keep in the "
        "vocabulary (the most frequent first), so that they still help at prediction.",
        "prepare",
        checks=(at_least(0, "must be 0 or more"),),
        legacy=0,
    )
    # --- split ---
    val_size: float = setting(
        0.1,
        "Validation fraction, stratified (the tutorial's test_size).",
        "prepare",
        checks=((lambda value: 0.0 < value < 1.0, "must be between 0 and 1 (exclusive)"),),
    )
    seed: int = setting(
        42,
        "Seed for the split, weights and shuffling.",
        "both",
        checks=((lambda value: 0 <= value < 2**32, "must be between 0 and 4294967295 (NumPy's seeds)"),),
    )
    # --- model ---
    freeze_embeddings: bool = setting(
        False,
        "Keep the token embeddings (the pretrained vectors, with --embeddings) as they start, or tune them.",
        "train",
        shown="tune",
        flag="--freeze-embeddings/--tune-embeddings",
        legacy=False,
    )
    embedding_dim: int = setting(
        0,
        "Embedding size.",
        "train",
        shown=f"auto: {AUTO_EMBEDDING_DIM}, or the vectors'",
        checks=(at_least(0, "must be 0 or more"),),
    )
    units: tuple[int, ...] = setting(
        (64,),
        "Recurrent units per layer, e.g. 128,128.",
        "train",
        checks=((lambda units: bool(units) and min(units) > 0, "must be positive integers such as 128,128"),),
    )
    cell: str = setting("lstm", "lstm or gru.", "train", choices=("lstm", "gru"))
    bidirectional: bool = setting(True, "Read texts both ways.", "train")
    activation: str = setting(
        "tanh",
        "Activation of the recurrent cell's output: tanh, relu, sigmoid or linear.",
        "train",
        choices=("tanh", "relu", "sigmoid", "linear"),
    )
    mask: bool = setting(True, "Skip padding in the recurrent layers and the pooling.", "train")
    pooling: str = setting(
        "maxmean",
        "How the outputs over time become one vector: last, max, mean or maxmean.",
        "train",
        choices=("last", "max", "mean", "maxmean"),
    )
    spatial_dropout: float = setting(0.2, "Dropout of whole embedding channels.", "train", checks=(FRACTION,))
    ngram_buckets: int = setting(
        200000,
        "Hash buckets of the n-gram bag beside the LSTM (as fastText), 0 for none.",
        "train",
        checks=(at_least(0, "must be 0 (none) or positive"),),
    )
    ngram_dim: int = setting(32, checks=(POSITIVE,))  # size of the n-gram embeddings
    ngram_order: int = setting(
        3,
        "Longest n-gram in the bag: 2 (bigrams) or 3 (bigrams and trigrams).",
        "train",
        checks=((lambda order: order in (2, 3), "must be 2 (bigrams) or 3 (bigrams and trigrams)"),),
        legacy=2,
    )
    # How n-grams map to buckets ("linear": runs from before; it collides far more).
    ngram_hash: str = setting("mixed", choices=("mixed", "linear"), legacy="linear", kept=True)
    ngram_mode: str = setting(
        "staged",
        "staged: the bag is a linear classifier of its own, trained first, then the LSTM alone, and the "
        "published model weighs both on validation; joint: one hidden layer over both.",
        "train",
        choices=("staged", "joint"),
        legacy="joint",
    )
    ngram_epochs: int = setting(
        10, "Most epochs of the staged bag's own training (it stops early too).", "train", checks=(POSITIVE,), legacy=10
    )
    dense_units: int = setting(
        64,
        "Hidden dense layer before the output, 0 for none.",
        "train",
        checks=(at_least(0, "must be 0 (none) or positive"),),
    )
    dense_activation: str = setting("relu")
    dropout: float = setting(0.3, "Dropout after each layer.", "train", checks=(FRACTION,))
    learning_rate: float = setting(
        0.0,
        "Adam's learning rate.",
        "train",
        shown=f"auto: {AUTO_LEARNING_RATE} (multi-label: {AUTO_LEARNING_RATE_MULTI_LABEL}) x sqrt(batch size / 64)",
        checks=(at_least(0, "must be 0 (auto) or positive"),),
    )
    # --- training ---
    epochs: int = setting(
        25, "Most epochs in all, the n-gram stage's included.", "train", short="-e", checks=(POSITIVE,)
    )
    batch_size: int = setting(
        0,
        "Texts per batch.",
        "train",
        short="-b",
        shown="auto: training rows / 40 as a power of two, 32 to 256",
        checks=(at_least(0, "must be a positive integer or 'auto'"),),
    )
    early_stopping: bool = setting(
        True, "Stop when the monitored score stops improving; keep the best weights.", "train"
    )
    patience: int = setting(3, "Epochs without a better monitored score before stopping.", "train", checks=(POSITIVE,))
    monitor: str = setting(
        "val_loss",
        "val_loss or val_accuracy (val_acc): picks the best epoch and stops early.",
        "train",
        choices=("val_accuracy", "val_loss"),
    )
    class_weight: str = setting(
        "none",
        "none, or balanced: each class weighs in the training loss inversely to its share of the texts.",
        "train",
        choices=("none", "balanced"),
        legacy="none",
    )
    bucketing: bool = setting(True, "Pad each batch to its own length, not to --max-len.", "train")
    group_lengths: bool = setting(
        True,
        "With --bucketing, batch texts of similar length together (least padding, fastest); off: random "
        "batches, each cut to its own longest text, so a batch's length says nothing of its labels.",
        "train",
        legacy=True,
    )

    def __post_init__(self) -> None:
        validate(self)

    @property
    def staged_ngrams(self) -> bool:
        """Whether training runs in two stages: the n-gram classifier first, then the LSTM alone (the published model
        weighs both)."""
        return bool(self.ngram_buckets) and self.ngram_mode == "staged"

    @property
    def output_activation(self) -> str:
        """The output's activation: a softmax over the classes, or a sigmoid per label for a multi-label run."""
        return "sigmoid" if self.multi_label else "softmax"

    @property
    def label_column_names(self) -> tuple[str, ...]:
        """``--label-columns a,b,c`` as ``("a", "b", "c")``; empty when the labels are in one column."""
        return tuple(name.strip() for name in self.label_columns.split(",") if name.strip())

    @property
    def embedding_size(self) -> int:
        """The token embeddings' size: ``embedding_dim``, or for 0 (auto, before prepare resolves it) the default."""
        return self.embedding_dim or AUTO_EMBEDDING_DIM

    def for_training(self, train_rows: int) -> Config:
        """This config with an auto (0) batch size and learning rate resolved for ``train_rows`` training rows.

        About :data:`AUTO_BATCHES` batches an epoch or more (fewer only below 32 x 40 rows, at the smallest
        batch), and no more than 256 texts a batch: small files still get steps, large ones the throughput of
        large batches (four times 64's on two cores).
        The learning rate grows with the square root of the batch, as the gradient's noise shrinks.
        """
        low, high = AUTO_BATCH_SIZES
        batch = self.batch_size or min(high, max(low, 1 << max(train_rows // AUTO_BATCHES, 1).bit_length() - 1))
        base = AUTO_LEARNING_RATE_MULTI_LABEL if self.multi_label else AUTO_LEARNING_RATE
        rate = self.learning_rate or round(base * math.sqrt(batch / 64), 6)
        return self.replace(batch_size=batch, learning_rate=rate)

    @property
    def sparse_updates(self) -> bool:
        """Whether Adam updates only the embedding rows a batch looks up; the tutorial preset keeps the article's
        Keras Adam."""
        return self.preset != "tutorial"

    @property
    def length_grouped(self) -> bool:
        """Whether training batches hold texts of similar length, each cut to its longest text."""
        return self.bucketing and self.group_lengths

    def replace(self, **changes: Any) -> Config:
        """Returns a copy with ``changes`` applied and validated."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Config:
        """Reads a saved config, raising ConfigError for anything malformed."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError("config is not a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"config has unknown settings: {', '.join(unknown)}")
        data = {**{k: v for k, v in LEGACY.items() if k not in data}, **data}
        missing = sorted(names - set(data))
        if missing:
            raise ConfigError(f"config lacks the settings: {', '.join(missing)}")
        for name in ("units", "unlabeled"):
            if isinstance(data.get(name), list):
                data[name] = tuple(data[name])
        _check_types(data)
        return cls(**data)


# Derived from the fields' own declarations (setting()), never written twice. (A field declared without setting()
# reads as a training setting without an option; tests/test_options.py asks every field for its stage.)
_FIELDS = dataclasses.fields(Config)
# The values of the settings that take few.
CHOICES: dict[str, tuple[Any, ...]] = {f.name: f.metadata["choices"] for f in _FIELDS if f.metadata.get("choices")}
# Settings added after runs were first saved: a config.json without them was trained with these values.
LEGACY: dict[str, Any] = {f.name: f.metadata["legacy"] for f in _FIELDS if "legacy" in f.metadata}
# Settings that shape the prepared data: changing them means preparing the CSV again.
PREPROCESSING = frozenset(f.name for f in _FIELDS if f.metadata.get("stage") == "prepare")
# Settings a preset applied to a prepared run leaves as the run has them.
KEPT_BY_PRESETS = frozenset(f.name for f in _FIELDS if f.metadata.get("kept"))

PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # The tutorial's pipeline: letters only, lower case, stop words out, front padding, and its model.
    "tutorial": {
        "urls": "remove",
        "numbers": "remove",
        "punctuation": "remove",
        "letters_only": True,
        "stopwords": True,
        "tokenizer": "word",
        "embeddings": "none",
        "padding": "pre",
        "truncating": "pre",
        "embedding_dim": 45,
        "units": (128, 128),
        "cell": "lstm",
        "bidirectional": False,
        "activation": "relu",
        "mask": False,
        "pooling": "last",
        "spatial_dropout": 0.0,
        "ngram_buckets": 0,
        "dense_units": 32,
        "dense_activation": "relu",
        "dropout": 0.2,
        "learning_rate": 0.001,
        "batch_size": 64,
        "epochs": 15,
        # Its relu LSTMs diverge when batches hold texts of one length: on sms_spam, where long texts are
        # mostly spam, length-grouped batches are mostly of one class. Random batches keep it stable.
        "group_lengths": False,
    },
}


def make_config(preset: str = "default", **options: Any) -> Config:
    """Builds a config from a preset and the options a user gave (None means not given).

    Raises:
        ConfigError: the preset is unknown or a value is out of range.
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset '{preset}'; presets are: {', '.join(PRESETS)}")
    given = {k: v for k, v in options.items() if v is not None}
    if given.get("label_columns"):
        given["multi_label"] = True  # one 0/1 column per label is multi-label by nature
    values = {"preset": preset, **PRESETS[preset], **given}
    if "padding" not in values and values.get("mask") is False:
        values["padding"] = "pre"  # unmasked, the network reads the padding: in front, where the article put it
    return Config(**values)


def parse_units(text: str) -> tuple[int, ...]:
    """Parses ``--units 128,128`` into ``(128, 128)``."""
    try:
        units = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"--units expects comma-separated integers such as 128,128; received '{text}'") from None
    if not units:
        raise ConfigError("--units needs at least one layer, e.g. --units 128")
    return units


def parse_monitor(text: str) -> str:
    """``--monitor``, with ``val_acc`` (as the training log names it) for ``val_accuracy``."""
    return {"val_acc": "val_accuracy"}.get(text.strip(), text.strip())


def parse_max_len(text: str) -> int:
    """Parses ``--max-len`` (an integer or ``auto``) into an int, 0 meaning auto."""
    return _positive_or_auto(text, "--max-len")


def parse_batch_size(text: str) -> int:
    """Parses ``--batch-size`` (an integer or ``auto``) into an int, 0 meaning auto."""
    return _positive_or_auto(text, "--batch-size")


def _positive_or_auto(text: str, flag: str) -> int:
    """An option's positive integer, or 0 for ``auto``; 0 itself is refused as any other size that is not one."""
    if text.strip().lower() == "auto":
        return 0
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{flag} expects a positive integer or 'auto'; received '{text}'") from None
    if value <= 0:
        raise ConfigError(f"{flag} must be a positive integer or 'auto'; received {value}")
    return value


def validate(config: Config) -> None:
    """Raises ConfigError naming the first setting that is out of range: each field's choices and checks (its
    :func:`setting`), then the rules between settings."""
    for f in dataclasses.fields(config):
        value, name = getattr(config, f.name), _named(f)
        allowed = f.metadata.get("choices")
        if allowed and value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(map(str, allowed))}; received '{value}'")
        for test, must in f.metadata.get("checks", ()):
            if not test(value):
                shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
                raise ConfigError(f"{name} {must}; received {shown}")
    _validate_multi_label(config)


def _named(f: dataclasses.Field[Any]) -> str:
    """How an error names a setting: its option (--max-len), or its key in config.json if it has none."""
    return "--" + f.name.replace("_", "-") if f.metadata.get("help") else f.name


def _validate_multi_label(config: Config) -> None:
    if not config.label_separator.strip():
        raise ConfigError("--label-separator must be a visible character such as | or ;; received a blank one")
    if config.label_columns and not config.multi_label:
        raise ConfigError("--label-columns gives one 0/1 column per label: pass it with --multi-label")
    if config.label_columns and len(config.label_column_names) < 2:
        raise ConfigError(
            f"--label-columns needs at least two columns, e.g. joy,love; received '{config.label_columns}'"
        )
    if config.multi_label and config.class_weight != "none":
        raise ConfigError(
            "--class-weight balanced weighs classes of a single-label run; a multi-label run takes --class-weight none"
        )


def _check_types(data: dict[str, Any]) -> None:
    for f in dataclasses.fields(Config):
        if f.name not in data:
            continue
        value, default = data[f.name], f.default
        expected = type(default) if default is not dataclasses.MISSING else tuple
        ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
        if expected is int and isinstance(value, bool):
            ok = False
        if f.name == "units":
            ok = isinstance(value, tuple) and all(isinstance(u, int) for u in value)
        if f.name == "unlabeled":
            ok = isinstance(value, tuple) and all(isinstance(p, str) for p in value)
        if not ok:
            raise ConfigError(f"config setting '{f.name}' should be {expected.__name__}; found {value!r}")


__all__ = [
    "CHOICES",
    "KEPT_BY_PRESETS",
    "LEGACY",
    "PREPROCESSING",
    "PRESETS",
    "Config",
    "make_config",
    "parse_max_len",
    "parse_units",
    "setting",
    "validate",
]
