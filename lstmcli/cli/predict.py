"""``lstmcli predict``: label new text from files, directories, tables or stdin, one output line per input text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lstmcli.cli.app import command, stdin_or_fail
from lstmcli.cli.options import Options, columns_list, with_options

InputsArg = Annotated[
    Optional[list[Path]],
    typer.Argument(
        help="Text files (one text per line), tables (see --input-format), directories, or - for stdin.",
        show_default=False,
    ),
]


@command
@with_options(
    "run_dir output_format top_k with_text per_file encoding input_format text_column keep_columns header threshold "
    "min_labels"
)
def predict(inputs: InputsArg = None, *, opts: Options) -> None:
    """Label new text: one output line per input text, in input order, on stdout.

    Reads text files (a text per line), tables (a row each), directories or stdin.

    Example: lstmcli predict test.csv --keep-columns id --format csv > predictions.csv
    """
    from lstmcli import workflow
    from lstmcli.io.inputs import InputCounter, InputSpec, names_files
    from lstmcli.ui.progress import track
    from lstmcli.ui.writers import OutputSpec, write_predictions

    keep, per_file = columns_list(opts.keep_columns), opts.per_file
    inputs = inputs or [stdin_or_fail("lstmcli predict")]
    files = names_files(inputs, per_file)
    output = OutputSpec(
        opts.output_format, opts.top_k, opts.with_text, files, keep, opts.threshold, per_file, opts.min_labels
    )
    output.check()
    spec = InputSpec(
        opts.input_format, opts.encoding or "auto", per_file, opts.text_column, keep, opts.header is not False
    )
    counter = InputCounter()
    decider, results = workflow.predict_inputs(opts.run_dir, inputs, spec, counter)
    write_predictions(track(results, "Labelling"), decider, output)
    if counter.replaced:  # the tables and bars beside the warning take a while to import: only then
        from lstmcli.ui.display import warn_replaced

        warn_replaced(counter.replaced)
