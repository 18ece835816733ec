"""``lstmcli predict``: label new text from files, directories or stdin, one output line per input line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from lstmcli.cli.app import command
from lstmcli.cli.options import InputEncodingOpt, RunDirOpt
from lstmcli.errors import ConfigError

InputsArg = Annotated[
    Optional[list[Path]],
    typer.Argument(help="Text files (one text per line), directories, or - for stdin.", show_default=False),
]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="tsv, csv or jsonl.")]
TopKOpt = Annotated[int, typer.Option("--top-k", "-k", help="Labels per text, most probable first.")]
WithTextOpt = Annotated[bool, typer.Option("--with-text", help="Append the input text to each line.")]
PerFileOpt = Annotated[bool, typer.Option("--per-file", help="Each file is one text.")]


@command
def predict(
    inputs: InputsArg = None,
    run_dir: RunDirOpt = None,
    output_format: FormatOpt = "tsv",
    top_k: TopKOpt = 1,
    with_text: WithTextOpt = False,
    per_file: PerFileOpt = False,
    encoding: InputEncodingOpt = None,
) -> None:
    """Label new text: one output line per input line, in input order, on stdout.

    Reads files, directories or stdin; empty lines keep their place with an empty result.

    Example: cat input.txt | lstmcli predict --format jsonl --top-k 2
    """
    from lstmcli.io.inputs import InputCounter, read_inputs
    from lstmcli.predictor import Predictor, predict_texts
    from lstmcli.rundir import RunDir
    from lstmcli.ui.display import warn_replaced
    from lstmcli.ui.progress import track
    from lstmcli.ui.writers import FORMATS, write_predictions
    from lstmcli.workflow import run_dir_of

    if output_format not in FORMATS:
        raise ConfigError(f"unknown format '{output_format}'; formats are: {', '.join(FORMATS)}")
    if top_k < 1:
        raise ConfigError(f"--top-k must be at least 1; received {top_k}")
    inputs = inputs or [stdin_or_fail("lstmcli predict")]
    predictor = Predictor(RunDir(run_dir_of(run_dir)))
    counter = InputCounter()
    texts = read_inputs(inputs, per_file, encoding or "auto", counter)
    labelled = track(predict_texts(predictor, texts), "Labelling")
    top_k = min(top_k, len(predictor.labels))
    write_predictions(labelled, predictor.labels, output_format, top_k, with_text, per_file)
    warn_replaced(counter.replaced)


def stdin_or_fail(program: str) -> Path:
    """``-`` (stdin) when text is piped in; a ConfigError saying how to give input at a terminal."""
    if sys.stdin.isatty():
        raise ConfigError(f"no input: pass text files, or pipe text in, e.g. echo 'some text' | {program}")
    return Path("-")
