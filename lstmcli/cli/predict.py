"""``lstmcli predict``: label new text from files, directories, tables or stdin, one output line per input text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lstmcli.cli.app import command, stdin_or_fail
from lstmcli.cli.options import HeaderOpt, InputEncodingOpt, InputFormatOpt, RunDirOpt, TextColumnOpt, columns_list

InputsArg = Annotated[
    Optional[list[Path]],
    typer.Argument(
        help="Text files (one text per line), CSV/TSV/JSON Lines tables, directories, or - for stdin.",
        show_default=False,
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="tsv, csv, jsonl, or label (the label alone).")]
TopKOpt = Annotated[int, typer.Option("--top-k", "-k", help="Labels per text, most probable first.")]
WithTextOpt = Annotated[bool, typer.Option("--with-text", help="Append the input text to each line.")]
PerFileOpt = Annotated[bool, typer.Option("--per-file", help="Each text file is one text.")]
KeepOpt = Annotated[str, typer.Option("--keep-columns", help="A table's columns to copy to each output line: id,date.")]
ThresholdOpt = Annotated[
    Optional[float],
    typer.Option(
        "--threshold",
        help="Two classes: the second label (sorted: 1, positive, spam) when its probability is at least P, else "
        "the first. More classes: no label (empty) when the most probable one is below P.",
        metavar="P",
        show_default=False,
    ),
]


@command
def predict(
    inputs: InputsArg = None,
    run_dir: RunDirOpt = None,
    output_format: FormatOpt = "tsv",
    top_k: TopKOpt = 1,
    with_text: WithTextOpt = False,
    per_file: PerFileOpt = False,
    encoding: InputEncodingOpt = None,
    input_format: InputFormatOpt = "auto",
    text_column: TextColumnOpt = "",
    keep_columns: KeepOpt = "",
    header: HeaderOpt = None,
    threshold: ThresholdOpt = None,
) -> None:
    """Label new text: one output line per input text, in input order, on stdout.

    Reads text files (a text per line), tables (.csv, .tsv, .jsonl: a row each), directories or stdin.

    Example: lstmcli predict test.csv --keep-columns id --format csv > predictions.csv
    """
    from lstmcli import workflow
    from lstmcli.io.inputs import InputCounter, InputSpec, names_files
    from lstmcli.ui.display import warn_replaced
    from lstmcli.ui.progress import track
    from lstmcli.ui.writers import OutputSpec, write_predictions

    keep = columns_list(keep_columns)
    inputs = inputs or [stdin_or_fail("lstmcli predict")]
    files = names_files(inputs, per_file)
    output = OutputSpec(output_format, top_k, with_text, files, keep, threshold, per_file)
    output.check()
    spec = InputSpec(input_format, encoding or "auto", per_file, text_column, keep, header is not False)
    counter = InputCounter()
    labels, results = workflow.predict_inputs(run_dir, inputs, spec, counter)
    write_predictions(track(results, "Labelling"), labels, output)
    warn_replaced(counter.replaced)
