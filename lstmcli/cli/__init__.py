"""The ``lstmcli`` command line: thin Typer commands over the library functions.

Nothing here imports TensorFlow at module level, so ``--help`` and usage errors answer at once.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from lstmcli import __version__
from lstmcli.errors import ConfigError, LstmcliError

app = typer.Typer(
    help="Train LSTM text classifiers on CSV files and label new text from files or pipes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])

RunDirOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--run-dir",
        "-r",
        envvar="LSTMCLI_RUN_DIR",
        show_envvar=True,
        help="Run directory [default: ./lstmcli-run].",
        show_default=False,
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show TensorFlow's own log lines.")]
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace a run already in --run-dir (only once the new one is complete).")
]
# Preprocessing options, shared by prepare and train.
PresetOpt = Annotated[
    str,
    typer.Option(
        "--preset", help="default (a modern bidirectional LSTM) or tutorial (the article's pipeline and model)."
    ),
]
TextColOpt = Annotated[
    Optional[str],
    typer.Option(
        "--text-column", help="Column with the text [default: picked: text, sentence, review, ...].", show_default=False
    ),
]
LabelColOpt = Annotated[
    Optional[str],
    typer.Option(
        "--label-column",
        help="Column with the label [default: picked: label, category, class, ...].",
        show_default=False,
    ),
]
EncodingOpt = Annotated[
    Optional[str], typer.Option("--encoding", help="Text encoding of the CSV [default: detected].", show_default=False)
]
TokenizerOpt = Annotated[
    Optional[str], typer.Option("--tokenizer", help="auto, word, char or jieba [default: auto].", show_default=False)
]
VocabOpt = Annotated[
    Optional[int], typer.Option("--vocab-size", help="Most ids in the vocabulary [default: 30000].", show_default=False)
]
MinCountOpt = Annotated[
    Optional[int],
    typer.Option("--min-count", help="Rarer tokens become the unknown id [default: 1].", show_default=False),
]
MaxLenOpt = Annotated[
    Optional[str],
    typer.Option("--max-len", help="Tokens per text: an integer or auto [default: auto].", show_default=False),
]
PaddingOpt = Annotated[
    Optional[str],
    typer.Option("--padding", help="pre or post: side that gets padding [default: pre].", show_default=False),
]
TruncOpt = Annotated[
    Optional[str],
    typer.Option("--truncating", help="pre or post: side cut from long texts [default: pre].", show_default=False),
]
LowerOpt = Annotated[
    Optional[bool],
    typer.Option("--lowercase/--no-lowercase", help="Case-fold text [default: yes].", show_default=False),
]
StopOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--stopwords/--no-stopwords", help="Drop English stop words [default: no; tutorial: yes].", show_default=False
    ),
]
PunctOpt = Annotated[
    Optional[str],
    typer.Option("--punctuation", help="keep (marks become tokens) or remove [default: keep].", show_default=False),
]
NumbersOpt = Annotated[
    Optional[str], typer.Option("--numbers", help="keep, token or remove [default: keep].", show_default=False)
]
UrlsOpt = Annotated[
    Optional[str], typer.Option("--urls", help="keep, token or remove [default: token].", show_default=False)
]
ValSizeOpt = Annotated[
    Optional[float],
    typer.Option("--val-size", help="Validation fraction, stratified [default: 0.1].", show_default=False),
]
SeedOpt = Annotated[
    Optional[int],
    typer.Option("--seed", help="Seed for the split, weights and shuffling [default: 42].", show_default=False),
]
StreamingOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--streaming/--in-memory",
        help="Read the CSV in chunks into shards on disk, for data larger than memory "
        "(split by a hash of each text) [default: streaming above 64 MiB].",
        show_default=False,
    ),
]
StrategyOpt = Annotated[
    str,
    typer.Option(
        "--strategy",
        help="auto, one, mirrored (every local GPU) or multi-worker (machines in TF_CONFIG); "
        "--batch-size is per replica.",
    ),
]


def _handle_errors(func: F) -> F:
    """Turns library errors into one ``Error: ...`` line on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LstmcliError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _quiet_tensorflow(verbose: bool) -> None:
    if verbose:
        os.environ["LSTMCLI_VERBOSE"] = "1"


def _prep_options(
    text_column: str | None,
    label_column: str | None,
    encoding: str | None,
    tokenizer: str | None,
    vocab_size: int | None,
    min_count: int | None,
    max_len: str | None,
    padding: str | None,
    truncating: str | None,
    lowercase: bool | None,
    stopwords: bool | None,
    punctuation: str | None,
    numbers: str | None,
    urls: str | None,
    val_size: float | None,
    seed: int | None,
) -> dict[str, Any]:
    from lstmcli.config import parse_max_len

    return {
        "text_column": text_column,
        "label_column": label_column,
        "encoding": encoding,
        "tokenizer": tokenizer,
        "vocab_size": vocab_size,
        "min_count": min_count,
        "max_len": parse_max_len(max_len) if max_len is not None else None,
        "padding": padding,
        "truncating": truncating,
        "lowercase": lowercase,
        "stopwords": stopwords,
        "punctuation": punctuation,
        "numbers": numbers,
        "urls": urls,
        "val_size": val_size,
        "seed": seed,
    }


@app.command()
@_handle_errors
def prepare(
    data: Annotated[Path, typer.Argument(help="Labelled CSV or TSV file.", show_default=False)],
    run_dir: RunDirOpt = None,
    preset: PresetOpt = "default",
    text_column: TextColOpt = None,
    label_column: LabelColOpt = None,
    encoding: EncodingOpt = None,
    tokenizer: TokenizerOpt = None,
    vocab_size: VocabOpt = None,
    min_count: MinCountOpt = None,
    max_len: MaxLenOpt = None,
    padding: PaddingOpt = None,
    truncating: TruncOpt = None,
    lowercase: LowerOpt = None,
    stopwords: StopOpt = None,
    punctuation: PunctOpt = None,
    numbers: NumbersOpt = None,
    urls: UrlsOpt = None,
    val_size: ValSizeOpt = None,
    seed: SeedOpt = None,
    overwrite: OverwriteOpt = False,
    streaming: StreamingOpt = None,
) -> None:
    """Clean, tokenize and pad a labelled CSV into the run directory.

    Builds the vocabulary and the stratified train/validation split that train uses.

    Example: lstmcli prepare examples/tickets.csv --max-len 60
    """
    from lstmcli.config import make_config
    from lstmcli.rundir import locked, resolve_run_dir, staged

    options = _prep_options(
        text_column,
        label_column,
        encoding,
        tokenizer,
        vocab_size,
        min_count,
        max_len,
        padding,
        truncating,
        lowercase,
        stopwords,
        punctuation,
        numbers,
        urls,
        val_size,
        seed,
    )
    config = make_config(preset, **options)
    path = resolve_run_dir(run_dir)
    with locked(path), staged(path, overwrite) as run:
        _, report = _run_prepare(data, run, config, streaming)
    _show_prepare(report)


def _run_prepare(data: Path, run: Any, config: Any, streaming: bool | None) -> tuple[Any, Any]:
    """Prepares, showing rows per second on stderr while a large file streams (only to a terminal)."""
    from lstmcli.dataset.prepare import prepare as run_prepare
    from lstmcli.dataset.shards import RowsPerSecond

    display = RowsPerSecond() if sys.stderr.isatty() else None
    try:
        return run_prepare(data, run, config, streaming=streaming, progress=display)
    finally:
        if display is not None:
            display.stop()


def _show_prepare(report: Any) -> None:
    from lstmcli.ui.display import err, show_prepare

    show_prepare(report)
    if report.mode == "streaming":
        for note in report.notes:
            err.print(f"Streaming: {note}")


@app.command()
@_handle_errors
def train(
    data: Annotated[
        Optional[Path],
        typer.Argument(
            help="Labelled CSV: prepare it first. Without it, train on the prepared run.", show_default=False
        ),
    ] = None,
    run_dir: RunDirOpt = None,
    preset: PresetOpt = "default",
    epochs: Annotated[
        Optional[int], typer.Option("--epochs", "-e", help="Most epochs [default: 15].", show_default=False)
    ] = None,
    batch_size: Annotated[
        Optional[int], typer.Option("--batch-size", "-b", help="Texts per batch [default: 64].", show_default=False)
    ] = None,
    patience: Annotated[
        Optional[int],
        typer.Option(
            "--patience", help="Epochs without a better val_loss before stopping [default: 3].", show_default=False
        ),
    ] = None,
    monitor: Annotated[
        Optional[str],
        typer.Option(
            "--monitor", help="val_loss or val_accuracy: picks the best epoch [default: val_loss].", show_default=False
        ),
    ] = None,
    early_stopping: Annotated[
        Optional[bool],
        typer.Option(
            "--early-stopping/--no-early-stopping",
            help="Stop when val_loss stops improving [default: yes].",
            show_default=False,
        ),
    ] = None,
    embedding_dim: Annotated[
        Optional[int],
        typer.Option("--embedding-dim", help="Embedding size [default: 128; tutorial: 45].", show_default=False),
    ] = None,
    units: Annotated[
        Optional[str],
        typer.Option("--units", help="Recurrent units per layer, e.g. 128,128 [default: 64].", show_default=False),
    ] = None,
    bidirectional: Annotated[
        Optional[bool],
        typer.Option(
            "--bidirectional/--no-bidirectional", help="Read texts both ways [default: yes].", show_default=False
        ),
    ] = None,
    cell: Annotated[
        Optional[str], typer.Option("--cell", help="lstm or gru [default: lstm].", show_default=False)
    ] = None,
    activation: Annotated[
        Optional[str],
        typer.Option("--activation", help="Recurrent activation: tanh, relu, ... [default: tanh].", show_default=False),
    ] = None,
    pooling: Annotated[
        Optional[str],
        typer.Option("--pooling", help="last, max, mean or maxmean [default: maxmean].", show_default=False),
    ] = None,
    mask: Annotated[
        Optional[bool],
        typer.Option(
            "--mask/--no-mask", help="Skip padding in the recurrent layers [default: yes].", show_default=False
        ),
    ] = None,
    ngram_buckets: Annotated[
        Optional[int],
        typer.Option(
            "--ngram-buckets",
            help="Hash buckets of the n-gram bag beside the LSTM, 0 for none [default: 200000].",
            show_default=False,
        ),
    ] = None,
    ngram_order: Annotated[
        Optional[int],
        typer.Option("--ngram-order", help="Longest n-gram in the bag: 2 or 3 [default: 3].", show_default=False),
    ] = None,
    ngram_mode: Annotated[
        Optional[str],
        typer.Option(
            "--ngram-mode",
            help="staged: the bag's own classifier trains first, then the LSTM adds to it; joint: one hidden "
            "layer over both [default: staged].",
            show_default=False,
        ),
    ] = None,
    ngram_epochs: Annotated[
        Optional[int],
        typer.Option(
            "--ngram-epochs", help="Most epochs of the staged bag's own training [default: 10].", show_default=False
        ),
    ] = None,
    dense_units: Annotated[
        Optional[int],
        typer.Option("--dense-units", help="Hidden dense layer size, 0 for none [default: 64].", show_default=False),
    ] = None,
    dropout: Annotated[
        Optional[float], typer.Option("--dropout", help="Dropout after each layer [default: 0.3].", show_default=False)
    ] = None,
    spatial_dropout: Annotated[
        Optional[float],
        typer.Option("--spatial-dropout", help="Dropout of embedding channels [default: 0.2].", show_default=False),
    ] = None,
    learning_rate: Annotated[
        Optional[float],
        typer.Option("--learning-rate", "--lr", help="Adam's learning rate [default: 0.002].", show_default=False),
    ] = None,
    bucketing: Annotated[
        Optional[bool],
        typer.Option(
            "--bucketing/--no-bucketing", help="Pad each batch to its own length [default: yes].", show_default=False
        ),
    ] = None,
    group_lengths: Annotated[
        Optional[bool],
        typer.Option(
            "--group-lengths/--no-group-lengths",
            help="With --bucketing, batch texts of similar length together: least padding, fastest "
            "[default: yes; tutorial: no].",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted training from its last epoch.")
    ] = False,
    overwrite: OverwriteOpt = False,
    text_column: TextColOpt = None,
    label_column: LabelColOpt = None,
    encoding: EncodingOpt = None,
    tokenizer: TokenizerOpt = None,
    vocab_size: VocabOpt = None,
    min_count: MinCountOpt = None,
    max_len: MaxLenOpt = None,
    padding: PaddingOpt = None,
    truncating: TruncOpt = None,
    lowercase: LowerOpt = None,
    stopwords: StopOpt = None,
    punctuation: PunctOpt = None,
    numbers: NumbersOpt = None,
    urls: UrlsOpt = None,
    val_size: ValSizeOpt = None,
    seed: SeedOpt = None,
    verbose: VerboseOpt = False,
    strategy: StrategyOpt = "auto",
    streaming: StreamingOpt = None,
) -> None:
    """Build and fit the LSTM classifier, saving the best model to the run directory.

    With a CSV it runs prepare first (same options); Ctrl-C stops after saving the best model so far.

    Example: lstmcli train examples/tickets.csv --epochs 10
    """
    from lstmcli.config import make_config, parse_units
    from lstmcli.nn.distribute import check_strategy

    _quiet_tensorflow(verbose)
    check_strategy(strategy)
    if strategy == "multi-worker" and data is not None:
        raise ConfigError(
            "--strategy multi-worker trains a prepared run: run 'lstmcli prepare DATA.csv' on every "
            "machine (or share the run directory), then the same 'lstmcli train --strategy "
            "multi-worker' on each"
        )
    model_options = {
        "epochs": epochs,
        "batch_size": batch_size,
        "patience": patience,
        "monitor": monitor,
        "early_stopping": early_stopping,
        "embedding_dim": embedding_dim,
        "units": parse_units(units) if units is not None else None,
        "bidirectional": bidirectional,
        "cell": cell,
        "activation": activation,
        "pooling": pooling,
        "mask": mask,
        "ngram_buckets": ngram_buckets,
        "ngram_order": ngram_order,
        "ngram_mode": ngram_mode,
        "ngram_epochs": ngram_epochs,
        "dense_units": dense_units,
        "dropout": dropout,
        "spatial_dropout": spatial_dropout,
        "learning_rate": learning_rate,
        "bucketing": bucketing,
        "group_lengths": group_lengths,
    }
    prep_options = _prep_options(
        text_column,
        label_column,
        encoding,
        tokenizer,
        vocab_size,
        min_count,
        max_len,
        padding,
        truncating,
        lowercase,
        stopwords,
        punctuation,
        numbers,
        urls,
        val_size,
        seed,
    )
    if data is not None:
        if resume:
            raise ConfigError("--resume continues the run already in --run-dir; leave out the CSV")
        make_config(preset, **prep_options, **model_options)  # reject bad options before any work
        _train_from_csv(
            data, run_dir, make_config(preset, **prep_options, **model_options), overwrite, streaming, strategy
        )
    else:
        given = [k for k, v in prep_options.items() if v is not None and k != "seed"]
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ConfigError(f"{flags} change preprocessing: pass the CSV too (lstmcli train DATA.csv ...)")
        _train_prepared(run_dir, preset, {**model_options, "seed": seed}, overwrite, resume, strategy)


def _train_from_csv(
    data: Path, run_dir: Path | None, config: Any, overwrite: bool, streaming: bool | None, strategy: str
) -> None:
    from lstmcli.rundir import locked, resolve_run_dir, staged

    path = resolve_run_dir(run_dir)
    with locked(path), staged(path, overwrite) as run:
        config, report = _run_prepare(data, run, config, streaming)
        _show_prepare(report)
        _fit(run, config, resume=False, final_path=path, strategy=strategy)


def _train_prepared(
    run_dir: Path | None, preset: str, options: dict[str, Any], overwrite: bool, resume: bool, strategy: str
) -> None:
    from lstmcli.config import PREPROCESSING, PRESETS
    from lstmcli.nn.distribute import writes_run_dir
    from lstmcli.rundir import CHECKPOINT_CONFIG, RunDir, locked, resolve_run_dir

    path = resolve_run_dir(run_dir)
    run = RunDir(path)
    run.check("prepared")
    # A worker other than the chief never writes the run, which it may share with the chief: no lock.
    with locked(path) if writes_run_dir(strategy) else contextlib.nullcontext():
        if run.is_trained() and not (overwrite or resume):
            raise ConfigError(
                f"run directory {path} already holds a trained model; pass --overwrite to train it "
                "again, or --resume to continue an interrupted training"
            )
        # --resume continues with the interrupted training's own settings, saved beside its checkpoint.
        resuming = resume and (run / CHECKPOINT_CONFIG).is_file()
        config = run.read_config(CHECKPOINT_CONFIG) if resuming else run.read_config()
        preset_options = (
            {k: v for k, v in PRESETS[preset].items() if k not in PREPROCESSING} if preset != "default" else {}
        )
        changes = {**preset_options, **{k: v for k, v in options.items() if v is not None}}
        _fit(run, config.replace(**changes), resume=resume, final_path=path, strategy=strategy)


def _fit(run: Any, config: Any, resume: bool, final_path: Path, strategy: str = "auto") -> None:
    from lstmcli.nn.distribute import writes_run_dir
    from lstmcli.ui.display import RichProgress, err, show_train

    with err.status("Loading TensorFlow..."):
        from lstmcli.nn.fit import train as run_train

    progress = RichProgress()
    try:
        result = run_train(run, config, resume=resume, progress=progress, strategy=strategy)
    finally:
        progress.stop()
    if writes_run_dir(strategy):
        show_train(result, str(final_path))
    else:
        err.print(f"Worker done after {result.epochs_run} epochs in {result.seconds:.1f}s; the chief saved the model")


@app.command()
@_handle_errors
def evaluate(
    run_dir: RunDirOpt = None,
    data: Annotated[
        Optional[Path],
        typer.Option(
            "--data", "-d", help="Labelled CSV to score [default: the run's validation part].", show_default=False
        ),
    ] = None,
    encoding: EncodingOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout instead of tables.")] = False,
    plots: Annotated[
        bool,
        typer.Option("--plots", help="Also write confusion_matrix.png and training_curves.png into the run directory."),
    ] = False,
) -> None:
    """Report loss, accuracy, macro-F1, per-class scores and the confusion matrix.

    Scores the run's validation part, or another CSV preprocessed with the run's saved settings.

    Example: lstmcli evaluate --data test.csv --json
    """
    from lstmcli.rundir import RunDir, resolve_run_dir
    from lstmcli.scoring import evaluate as run_evaluate
    from lstmcli.ui.display import show_metrics

    run = RunDir(resolve_run_dir(run_dir))
    metrics = run_evaluate(run, data, encoding or "auto")
    run.write_metrics(metrics)
    if as_json:
        typer.echo(json.dumps(metrics, ensure_ascii=False))
    else:
        show_metrics(metrics)
    if plots:
        _write_plots(run, metrics)


def _write_plots(run: Any, metrics: dict[str, Any]) -> None:
    from lstmcli.ui.plots import cjk_font_missing, write_plots

    for path in write_plots(run, metrics):
        typer.echo(f"Wrote {path}", err=True)
    if cjk_font_missing(metrics["labels"]):
        typer.echo(
            "Warning: no font with Chinese/Japanese/Korean glyphs found; labels show as boxes. "
            "Install one, e.g. apt-get install fonts-noto-cjk",
            err=True,
        )


@app.command()
@_handle_errors
def predict(
    inputs: Annotated[
        Optional[list[Path]],
        typer.Argument(help="Text files (one text per line), directories, or - for stdin.", show_default=False),
    ] = None,
    run_dir: RunDirOpt = None,
    output_format: Annotated[str, typer.Option("--format", "-f", help="tsv, csv or jsonl.")] = "tsv",
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Labels per text, most probable first.")] = 1,
    with_text: Annotated[bool, typer.Option("--with-text", help="Append the input text to each line.")] = False,
    per_file: Annotated[bool, typer.Option("--per-file", help="Each file is one text.")] = False,
    encoding: EncodingOpt = None,
) -> None:
    """Label new text: one output line per input line, in input order, on stdout.

    Reads files, directories or stdin; empty lines keep their place with an empty result.

    Example: cat input.txt | lstmcli predict --format jsonl --top-k 2
    """
    from lstmcli.predictor import InputCounter, Predictor, predict_texts, read_inputs
    from lstmcli.rundir import RunDir, resolve_run_dir
    from lstmcli.ui.progress import track
    from lstmcli.ui.writers import FORMATS, write_predictions

    if output_format not in FORMATS:
        raise ConfigError(f"unknown format '{output_format}'; formats are: {', '.join(FORMATS)}")
    if top_k < 1:
        raise ConfigError(f"--top-k must be at least 1; received {top_k}")
    if not inputs:
        if sys.stdin.isatty():
            raise ConfigError("no input: pass text files, or pipe text in, e.g. echo 'some text' | lstmcli predict")
        inputs = [Path("-")]
    predictor = Predictor(RunDir(resolve_run_dir(run_dir)))
    counter = InputCounter()
    texts = read_inputs(inputs, per_file, encoding or "auto", counter)
    write_predictions(
        track(predict_texts(predictor, texts), "Labelling"),
        predictor.labels,
        output_format,
        min(top_k, len(predictor.labels)),
        with_text,
        per_file,
    )
    if counter.replaced:
        typer.echo(
            f"Warning: {counter.replaced} invalid byte sequences in the input were replaced by U+FFFD; "
            "pass --encoding if the input is not UTF-8",
            err=True,
        )


@app.command()
@_handle_errors
def explain(
    texts: Annotated[
        Optional[list[str]],
        typer.Argument(help="Texts to explain [default: one text per line from stdin].", show_default=False),
    ] = None,
    run_dir: RunDirOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per text on stdout: label, probability, tokens with scores.")
    ] = False,
    encoding: EncodingOpt = None,
) -> None:
    """Show which tokens decided each text's label: green for the label, red against it.

    A token's score is how much the label's probability drops when the token is left out.

    Example: lstmcli explain "I was charged twice for my subscription"
    """
    from lstmcli.explain import explain_texts, write_explanations
    from lstmcli.predictor import InputCounter, Predictor, read_inputs
    from lstmcli.rundir import RunDir, resolve_run_dir
    from lstmcli.ui.progress import track

    if not texts and sys.stdin.isatty():
        raise ConfigError("no input: pass texts, or pipe text in, e.g. echo 'some text' | lstmcli explain")
    predictor = Predictor(RunDir(resolve_run_dir(run_dir)))
    lines = texts or (line for _, line in read_inputs([Path("-")], False, encoding or "auto", InputCounter()))
    write_explanations(track(explain_texts(predictor, lines), "Explaining", len(texts) if texts else None), as_json)


@app.command()
@_handle_errors
def report(
    run_dir: RunDirOpt = None,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out", "-o", help="HTML file to write [default: report.html in the run directory].", show_default=False
        ),
    ] = None,
    wrong: Annotated[int, typer.Option("--wrong", help="Most confidently wrong validation texts to list.")] = 10,
) -> None:
    """Write one self-contained HTML page about a trained run: data, config, curves, metrics and errors.

    Figures are embedded in the page, which loads nothing: it opens offline and can be mailed as one file.

    Example: lstmcli report --out report.html
    """
    from lstmcli.rundir import RunDir, resolve_run_dir
    from lstmcli.ui.report import write_report

    if wrong < 0:
        raise ConfigError(f"--wrong must be 0 or more; received {wrong}")
    path = write_report(RunDir(resolve_run_dir(run_dir)), out, wrong)
    typer.echo(f"Wrote {path}", err=True)


@app.command()
@_handle_errors
def info(
    run_dir: RunDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout instead of tables.")] = False,
) -> None:
    """Summarize a run directory: data, config, best epoch, metrics, and its files with their sizes.

    Reads only the run's small JSON files, so it answers at once.

    Example: lstmcli info --json
    """
    from rich.console import Console

    from lstmcli.info import render_info, run_info
    from lstmcli.rundir import RunDir, resolve_run_dir

    summary = run_info(RunDir(resolve_run_dir(run_dir)))
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        Console(highlight=False).print(render_info(summary))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lstmcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Train LSTM text classifiers on CSV files and label new text from files or pipes.

    Typical use: lstmcli train data.csv, then lstmcli predict input.txt (or a pipe).
    """


def main() -> None:
    # The NumPy forward pass runs its own two threads over small matrices: BLAS threads on top of them
    # only contend, and on a loaded machine slow it down many times. Set before NumPy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    app()
