"""Every setting of a run: one flat, frozen dataclass, the presets, and their validation.

The resolved config (``auto`` values replaced by what was chosen) is saved as JSON in the run directory,
so a run describes itself and later commands never guess.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from lstmcli.errors import ConfigError

CHOICES: dict[str, tuple[str, ...]] = {
    "preset": ("default", "tutorial"),
    "unicode_form": ("none", "NFC", "NFKC"),
    "urls": ("keep", "token", "remove"),
    "numbers": ("keep", "token", "remove"),
    "punctuation": ("keep", "remove"),
    "tokenizer": ("auto", "word", "char", "jieba"),
    "padding": ("pre", "post"),
    "truncating": ("pre", "post"),
    "cell": ("lstm", "gru"),
    "activation": ("tanh", "relu", "sigmoid", "linear"),
    "pooling": ("last", "max", "mean", "maxmean"),
    "monitor": ("val_accuracy", "val_loss"),
    "ngram_mode": ("staged", "joint"),
    "ngram_hash": ("mixed", "linear"),
    "class_weight": ("none", "balanced"),
}

# Settings added after runs were first saved: a config.json without them was trained with these values.
LEGACY: dict[str, Any] = {
    "ngram_mode": "joint",
    "ngram_order": 2,
    "ngram_epochs": 10,
    "ngram_hash": "linear",
    "group_lengths": True,
    "class_weight": "none",
    "header": True,
    "embeddings": "",
    "embeddings_limit": 0,
    "unlabeled": (),
    "init_from": "",
    "freeze_embeddings": False,
    "multi_label": False,
    "label_separator": "|",
    "label_columns": "",
}

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
    stage: str = "",
    short: str = "",
    shown: str = "",
    flag: str = "",
    many: bool = False,
    metavar: str = "",
) -> Any:
    """A Config field with what its command-line option says about it, written once.

    Args:
        default: the value when neither the user nor a preset sets it.
        help: the option's help, without the default (the CLI adds it, and each preset's own value).
        stage: "prepare" for an option of prepare and train, "train" for one of train only, "" for no option.
        short: a short flag such as "-e".
        shown: how the help shows the default where the value itself would say little ("detected").
        flag: the option's name where it is not the field's ("--freeze-embeddings/--tune-embeddings").
        many: the option may be given several times; the field holds a tuple of the values.
        metavar: how the help names the option's value, where its type says little ("RUN").
    """
    metadata = {
        "help": help, "stage": stage, "short": short, "shown": shown, "flag": flag, "many": many, "metavar": metavar
    }  # fmt: skip
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Config:
    """All preprocessing, model and training settings of one run."""

    preset: str = "default"
    # --- input ---
    text_column: str = setting("", "Column with the text.", "prepare", shown="picked: text, sentence, review, ...")
    label_column: str = setting("", "Column with the label.", "prepare", shown="picked: label, category, class, ...")
    # Multi-label: a text has any number of labels (none included), a sigmoid each; see lstmcli.dataset.multilabel.
    multi_label: bool = setting(
        False, "Each text has any number of labels (none included): the label column holds them joined.", "prepare"
    )
    label_separator: str = setting(
        "|", "With --multi-label, what joins a text's labels in the label column.", "prepare"
    )
    label_columns: str = setting(
        "",
        "Multi-label with one 0/1 column per label, e.g. joy,love,anger (implies --multi-label).",
        "prepare",
        shown="none",
    )
    encoding: str = setting("auto", "Text encoding of the CSV.", "prepare", shown="detected")
    header: bool = setting(
        True, "The CSV's first row names its columns; --no-header: it is data, and the columns are 1, 2, ...", "prepare"
    )
    # --- cleaning ---
    unicode_form: str = "NFKC"  # full-width letters and digits become half-width
    lowercase: bool = setting(True, "Case-fold text (str.casefold: works for every cased script).", "prepare")
    strip_html: bool = True  # tags and entities such as <br /> and &amp;
    urls: str = setting("token", "URLs and e-mail addresses: keep, token (one token for all) or remove.", "prepare")
    numbers: str = setting("keep", "Digits: keep, token (one token for all) or remove.", "prepare")
    punctuation: str = setting("keep", "keep (each mark is a token: ! and ? carry meaning) or remove.", "prepare")
    letters_only: bool = False  # the tutorial's re.sub('[^a-zA-Z]', ' ', text)
    stopwords: bool = setting(False, "Drop scikit-learn's English stop words.", "prepare")
    # --- tokens and vocabulary ---
    tokenizer: str = setting("auto", "auto (looks at the training texts' scripts), word, char or jieba.", "prepare")
    vocab_size: int = setting(30000, "Most ids in the vocabulary, padding and unknown included.", "prepare")
    min_count: int = setting(1, "Rarer tokens become the unknown id.", "prepare")
    max_len: int = setting(
        0, "Tokens per text: an integer, or auto (a high percentile of training lengths).", "prepare", shown="auto"
    )
    max_len_percentile: float = 99.0  # the percentile used by max_len=0
    # Right padding: with a mask both sides read the same, and only right-padded masks run on cuDNN (GPU).
    padding: str = setting("post", "pre or post: the side that gets padding (without --mask: pre).", "prepare")
    truncating: str = setting("pre", "pre or post: the side cut from texts longer than --max-len.", "prepare")
    # Pretrained word vectors start the token embeddings; the run keeps what it uses (prediction never reads them).
    embeddings: str = setting(
        "auto",
        "Pretrained word vectors to start the token embeddings from: auto (installed vectors whose language fits "
        "the training texts, else none), none, the name of packaged vectors (glove-6b-50d), or a word2vec, GloVe "
        "or fastText file (.txt, .vec, optionally .gz; word2vec .bin).",
        "prepare",
        metavar="auto|none|NAME|PATH",
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
    )
    init_from: str = setting(
        "",
        "A run directory whose vocabulary and start vectors (its --embeddings and --unlabeled ones) start this run's, "
        "so that vectors learned once from unlabeled text serve several labelled tasks.",
        "prepare",
        shown="none",
        metavar="RUN",
    )
    embeddings_limit: int = setting(
        50000,
        "With --embeddings, the most words of the vectors that the training texts never contain to keep in the "
        "vocabulary (the most frequent first), so that they still help at prediction.",
        "prepare",
    )
    # --- split ---
    val_size: float = setting(0.1, "Validation fraction, stratified (the tutorial's test_size).", "prepare")
    seed: int = setting(42, "Seed for the split, weights and shuffling.", "prepare")
    # --- model ---
    freeze_embeddings: bool = setting(
        False,
        "Keep the token embeddings (the pretrained vectors, with --embeddings) as they start, or tune them.",
        "train",
        shown="tune",
        flag="--freeze-embeddings/--tune-embeddings",
    )
    embedding_dim: int = setting(0, "Embedding size.", "train", shown=f"auto: {AUTO_EMBEDDING_DIM}, or the vectors'")
    units: tuple[int, ...] = setting((64,), "Recurrent units per layer, e.g. 128,128.", "train")
    cell: str = setting("lstm", "lstm or gru.", "train")
    bidirectional: bool = setting(True, "Read texts both ways.", "train")
    activation: str = setting(
        "tanh", "Activation of the recurrent cell's output: tanh, relu, sigmoid or linear.", "train"
    )
    mask: bool = setting(True, "Skip padding in the recurrent layers and the pooling.", "train")
    pooling: str = setting(
        "maxmean", "How the outputs over time become one vector: last, max, mean or maxmean.", "train"
    )
    spatial_dropout: float = setting(0.2, "Dropout of whole embedding channels.", "train")
    ngram_buckets: int = setting(
        200000, "Hash buckets of the n-gram bag beside the LSTM (as fastText), 0 for none.", "train"
    )
    ngram_dim: int = 32  # size of the n-gram embeddings
    ngram_order: int = setting(3, "Longest n-gram in the bag: 2 (bigrams) or 3 (bigrams and trigrams).", "train")
    ngram_hash: str = "mixed"  # how n-grams map to buckets ("linear": runs from before; it collides far more)
    ngram_mode: str = setting(
        "staged",
        "staged: the bag is a linear classifier of its own, trained first, then the LSTM alone, and the "
        "published model weighs both on validation; joint: one hidden layer over both.",
        "train",
    )
    ngram_epochs: int = setting(10, "Most epochs of the staged bag's own training (it stops early too).", "train")
    dense_units: int = setting(64, "Hidden dense layer before the output, 0 for none.", "train")
    dense_activation: str = "relu"
    dropout: float = setting(0.3, "Dropout after each layer.", "train")
    learning_rate: float = setting(
        0.0,
        "Adam's learning rate.",
        "train",
        shown=f"auto: {AUTO_LEARNING_RATE} (multi-label: {AUTO_LEARNING_RATE_MULTI_LABEL}) x sqrt(batch size / 64)",
    )
    # --- training ---
    epochs: int = setting(25, "Most epochs in all, the n-gram stage's included.", "train", short="-e")
    batch_size: int = setting(
        0, "Texts per batch.", "train", short="-b", shown="auto: training rows / 40 as a power of two, 32 to 256"
    )
    early_stopping: bool = setting(
        True, "Stop when the monitored score stops improving; keep the best weights.", "train"
    )
    patience: int = setting(3, "Epochs without a better monitored score before stopping.", "train")
    monitor: str = setting(
        "val_loss", "val_loss or val_accuracy (val_acc): picks the best epoch and stops early.", "train"
    )
    class_weight: str = setting(
        "none",
        "none, or balanced: each class weighs in the training loss inversely to its share of the texts.",
        "train",
    )
    bucketing: bool = setting(True, "Pad each batch to its own length, not to --max-len.", "train")
    group_lengths: bool = setting(
        True,
        "With --bucketing, batch texts of similar length together (least padding, fastest); off: random "
        "batches, each cut to its own longest text, so a batch's length says nothing of its labels.",
        "train",
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


# Settings that shape the prepared data: changing them means preparing the CSV again.
PREPROCESSING = frozenset(
    {
        "text_column",
        "label_column",
        "multi_label",
        "label_separator",
        "label_columns",
        "encoding",
        "header",
        "unicode_form",
        "lowercase",
        "strip_html",
        "urls",
        "numbers",
        "punctuation",
        "letters_only",
        "embeddings",
        "embeddings_limit",
        "unlabeled",
        "init_from",
        "stopwords",
        "tokenizer",
        "vocab_size",
        "min_count",
        "max_len",
        "max_len_percentile",
        "padding",
        "truncating",
        "val_size",
    }
)

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


_POSITIVE = ("vocab_size", "min_count", "epochs", "patience", "ngram_epochs")
_FRACTIONS = ("spatial_dropout", "dropout")


def validate(config: Config) -> None:
    """Raises ConfigError naming the first setting that is out of range."""
    for name, allowed in CHOICES.items():
        value = getattr(config, name)
        if value not in allowed:
            raise ConfigError(f"{name.replace('_', '-')} must be one of {', '.join(allowed)}; received '{value}'")
    if config.batch_size < 0:
        raise ConfigError(f"--batch-size must be a positive integer or 'auto'; received {config.batch_size}")
    if config.embedding_dim < 0 or config.embeddings_limit < 0:
        raise ConfigError(
            f"--embedding-dim and --embeddings-limit must be 0 or more; received {config.embedding_dim} and "
            f"{config.embeddings_limit}"
        )
    for name in _POSITIVE:
        if getattr(config, name) <= 0:
            flag = name.replace("_", "-")
            raise ConfigError(f"--{flag} must be a positive integer; received {getattr(config, name)}")
    if config.vocab_size < 3:
        raise ConfigError(f"--vocab-size must be at least 3 (padding, unknown, one word); received {config.vocab_size}")
    if config.max_len < 0:
        raise ConfigError(f"--max-len must be a positive integer or 'auto'; received {config.max_len}")
    if not 0.0 < config.val_size < 1.0:
        raise ConfigError(f"--val-size must be between 0 and 1 (exclusive); received {config.val_size}")
    if not 50.0 <= config.max_len_percentile <= 100.0:
        raise ConfigError(f"max_len_percentile must be between 50 and 100; received {config.max_len_percentile}")
    for name in _FRACTIONS:
        if not 0.0 <= getattr(config, name) < 1.0:
            raise ConfigError(f"--{name.replace('_', '-')} must be in [0, 1); received {getattr(config, name)}")
    if not config.units or any(u <= 0 for u in config.units):
        raise ConfigError(
            f"--units must be positive integers such as 128,128; received {','.join(map(str, config.units))}"
        )
    if config.ngram_buckets < 0 or config.ngram_dim <= 0:
        raise ConfigError(f"--ngram-buckets must be 0 (none) or positive; received {config.ngram_buckets}")
    if config.ngram_order not in (2, 3):
        raise ConfigError(
            f"--ngram-order must be 2 (bigrams) or 3 (bigrams and trigrams); received {config.ngram_order}"
        )
    if config.dense_units < 0:
        raise ConfigError(f"--dense-units must be 0 (none) or positive; received {config.dense_units}")
    if config.learning_rate < 0:
        raise ConfigError(f"--learning-rate must be 0 (auto) or positive; received {config.learning_rate}")
    _validate_multi_label(config)


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


__all__ = ["CHOICES", "PREPROCESSING", "PRESETS", "Config", "make_config", "parse_max_len", "parse_units", "validate"]
