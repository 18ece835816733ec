"""Command-line options: one table of every command's options, and those generated from the Config fields.

A command names the options it takes from :class:`Options` (``with_options``) and receives them as one
``opts`` value; a Config field declares its help and default once (``config.setting``), and the options of
``prepare`` and ``train`` are built from them (``with_settings``), so ``--help`` always shows the value a run
would really get.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer
from typer import Option

from lstmcli.config import PRESETS, Config, parse_batch_size, parse_max_len, parse_monitor, parse_units
from lstmcli.io.formats import formats_help
from lstmcli.serve.settings import Batching, Limits

if TYPE_CHECKING:
    from lstmcli.rundir import RunDir

F = TypeVar("F", bound=Callable[..., Any])


def _said(*names: str, help: str, **extra: Any) -> Any:
    """An option whose help says its default itself (``show_default=False``)."""
    return typer.Option(*names, help=help, show_default=False, **extra)


_TABLE_HELP = "A table's {} column [default: the run's, else picked: {}, ...]."


@dataclasses.dataclass(frozen=True)
class Options:
    """Every option of the commands but the Config settings, each declared once; ``with_options`` picks."""

    run_dir: Annotated[
        Optional[Path],
        _said(
            "--run-dir",
            "-r",
            envvar="LSTMCLI_RUN_DIR",
            show_envvar=True,
            help="Run directory [default: ./lstmcli-run].",
        ),
    ] = None
    preset: Annotated[
        Optional[str],
        _said(
            "--preset",
            help="default (a modern bidirectional LSTM) or tutorial (the article's pipeline and model) "
            "[default: default; a prepared run keeps its own].",
        ),
    ] = None
    resume: Annotated[bool, Option("--resume", help="Continue an interrupted training from its last epoch.")] = False
    overwrite: Annotated[
        bool, Option("--overwrite", help="Replace a run already in --run-dir (only once the new one is complete).")
    ] = False
    verbose: Annotated[bool, Option("--verbose", "-v", help="Show TensorFlow's own log lines.")] = False
    strategy: Annotated[
        str,
        Option(
            "--strategy",
            help="auto, one, mirrored (every local GPU) or multi-worker (machines in TF_CONFIG); "
            "--batch-size is per replica.",
        ),
    ] = "auto"
    streaming: Annotated[
        Optional[bool],
        _said(
            "--streaming/--in-memory",
            help="Read the CSV in chunks into shards on disk, for data larger than memory "
            "(split by a hash of each text) [default: streaming above 64 MiB].",
        ),
    ] = None
    report_json: Annotated[
        bool, Option("--json", help="Also print the result as one JSON object on stdout (the report stays on stderr).")
    ] = False
    # evaluate's, and the tables evaluate and predict read
    data: Annotated[
        Optional[Path],
        _said(
            "--data", "-d", help="Labelled table to score (see --input-format) [default: the run's validation part]."
        ),
    ] = None
    encoding: Annotated[Optional[str], _said("--encoding", help="Text encoding of the input [default: detected].")] = (
        None
    )
    as_json: Annotated[bool, Option("--json", help="Print one JSON object to stdout instead of tables.")] = False
    plots: Annotated[
        bool, Option("--plots", help="Also write confusion_matrix.png and training_curves.png into the run directory.")
    ] = False
    text_column: Annotated[str, _said("--text-column", help=_TABLE_HELP.format("text", "text, sentence, review"))] = ""
    label_column: Annotated[
        str, _said("--label-column", help=_TABLE_HELP.format("label", "label, category, class"))
    ] = ""
    input_format: Annotated[
        str,
        Option(
            "--input-format",
            help=formats_help(),
        ),
    ] = "auto"
    header: Annotated[
        Optional[bool],
        _said(
            "--header/--no-header",
            help="Whether a CSV or TSV's first row names its columns; --no-header: it is data, the columns are "
            "1, 2, ... [default: header].",
        ),
    ] = None
    # predict's
    output_format: Annotated[str, Option("--format", "-f", help="tsv, csv, jsonl, or label (the label alone).")] = "tsv"
    top_k: Annotated[
        Optional[int],
        _said(
            "--top-k",
            "-k",
            help="Labels per text, most probable first [default: 1]; a multi-label run: at most K of the labels "
            "that pass their thresholds [default: all].",
            metavar="K",
        ),
    ] = None
    with_text: Annotated[bool, Option("--with-text", help="Append the input text to each line.")] = False
    per_file: Annotated[bool, Option("--per-file", help="Each text file is one text.")] = False
    keep_columns: Annotated[
        str, Option("--keep-columns", help="A table's columns to copy to each output line: id,date.")
    ] = ""
    threshold: Annotated[
        Optional[float],
        _said(
            "--threshold",
            help="Two classes: the second label (sorted: 1, positive, spam) when its probability is at least P, "
            "else the first. More classes: no label (empty) when the most probable one is below P. A multi-label "
            "run: every label whose probability is at least P [default: the thresholds chosen in training].",
            metavar="P",
        ),
    ] = None
    min_labels: Annotated[
        Optional[int],
        _said(
            "--min-labels",
            help="A multi-label run: at least N labels a text, the most probable ones where fewer pass [default: 0].",
            metavar="N",
        ),
    ] = None
    # explain's
    json_lines: Annotated[
        bool, Option("--json", help="One JSON object per text on stdout: label, probability, tokens with scores.")
    ] = False
    method: Annotated[
        str,
        Option(
            "--method",
            help="shapley: each token's average share of the label's probability over random orders of putting the "
            "tokens back (tokens that say the same share the credit); occlusion: the drop when it alone is left out.",
        ),
    ] = "shapley"
    explain_label: Annotated[
        Optional[str],
        _said(
            "--label",
            help="The label to explain [default: the predicted one; a multi-label run: each predicted label, or the "
            "most probable where none is].",
            metavar="NAME",
        ),
    ] = None
    # report's and export's
    report_out: Annotated[
        Optional[Path], _said("--out", "-o", help="HTML file to write [default: report.html in the run directory].")
    ] = None
    wrong: Annotated[int, Option("--wrong", help="Most confidently wrong validation texts to list.")] = 10
    export_out: Annotated[
        Optional[Path], _said("--out", "-o", help="Directory to write [default: export/FORMAT in the run directory].")
    ] = None
    replace_out: Annotated[bool, Option("--overwrite", help="Replace what --out already holds.")] = False
    # serve's
    host: Annotated[
        str, Option("--host", help="Address to listen on; 0.0.0.0 for every interface (anyone who can reach it).")
    ] = "127.0.0.1"
    port: Annotated[int, Option("--port", "-p", help="TCP port; 0 picks a free one.")] = 8000
    max_body_bytes: Annotated[int, Option("--max-body-bytes", help="Largest request body.")] = Limits.max_body_bytes
    max_texts: Annotated[int, Option("--max-texts", help="Most texts in one request.")] = Limits.max_texts
    max_text_chars: Annotated[int, Option("--max-text-chars", help="Most characters in one text.")] = (
        Limits.max_text_chars
    )
    batch_wait_ms: Annotated[
        float, Option("--batch-wait-ms", help="How long an idle server waits at most for more requests.")
    ] = Batching.max_wait_ms
    max_batch: Annotated[
        int, Option("--max-batch", help="Most texts labelled in one batch (a larger request runs alone).")
    ] = Batching.max_batch
    access_log: Annotated[bool, Option("--access-log", help="Log every request on stderr.")] = False

    def run(self) -> RunDir:
        """The run directory ``--run-dir`` names (else ``$LSTMCLI_RUN_DIR``, else ``./lstmcli-run``)."""
        from lstmcli.rundir import RunDir
        from lstmcli.workflow import run_dir_of

        return RunDir(run_dir_of(self.run_dir))

    def picked(self, names: str) -> dict[str, Any]:
        """The options ``names`` (space-separated) by name, to pass on as keyword arguments."""
        return {name: getattr(self, name) for name in names.split()}


# Options typed as text on the command line and parsed into the field's own type.
PARSERS: dict[str, Callable[[str], Any]] = {
    "units": parse_units,
    "max_len": parse_max_len,
    "batch_size": parse_batch_size,
    "monitor": parse_monitor,
}


def columns_list(text: str) -> tuple[str, ...]:
    """``--keep-columns id,date`` as ``("id", "date")``."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def shown(value: Any) -> str:
    """How a help text shows a setting's value."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def option_help(f: dataclasses.Field[Any]) -> str:
    """The field's help with its default and each preset's own value, e.g. ``Embedding size [default: 128;
    tutorial: 45].``"""
    parts = [f.metadata["shown"] or shown(f.default)]
    for preset, values in PRESETS.items():
        if f.name in values and values[f.name] != f.default:
            parts.append(f"{preset}: {shown(values[f.name])}")
    return f"{f.metadata['help'].rstrip('.')} [default: {'; '.join(parts)}]."


def flags(f: dataclasses.Field[Any]) -> list[str]:
    """The option's names: ``--max-len``, ``--lowercase/--no-lowercase``, plus a short flag if any."""
    name = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
    if f.type in ("bool", bool) and "/" not in name:
        name = f"{name}/--no-{name[2:]}"
    aliases = {"learning_rate": ["--lr"]}.get(f.name, [])
    return [name, *([f.metadata["short"]] if f.metadata["short"] else []), *aliases]


def cli_fields(*stages: str) -> list[dataclasses.Field[Any]]:
    """The Config fields that are options of a command taking ``stages`` ("prepare", "train"): those with a help,
    of one of these stages or of both."""
    fields = dataclasses.fields(Config)
    return [f for f in fields if f.metadata.get("help") and f.metadata.get("stage") in (*stages, "both")]


def _setting(f: dataclasses.Field[Any]) -> inspect.Parameter:
    kind = {"bool": bool, "int": int, "float": float}.get(str(f.type), str)
    if f.name in PARSERS:
        kind = str
    option = typer.Option(*flags(f), help=option_help(f), show_default=False, metavar=f.metadata["metavar"] or None)
    annotation = Annotated[Optional[kind], option]  # type: ignore[valid-type]
    if f.metadata.get("many"):
        annotation = Annotated[Optional[list[str]], option]  # type: ignore[misc]
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)


def _extended(func: F, name: str, params: list[inspect.Parameter], collect: Callable[[dict[str, Any]], Any]) -> F:
    """``func`` with ``params`` as options after its own, and ``collect`` of the values given to them passed
    as its parameter ``name`` (so ``with_options`` goes below ``with_settings``: its options are listed first)."""
    names = {p.name for p in params}

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        return func(*args, **{name: collect(given)}, **kwargs)

    own = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.name != name]
    ordered = [*own, *params]
    wrapper.__signature__ = inspect.Signature(ordered)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in ordered}
    return wrapper  # type: ignore[return-value]


def with_options(names: str) -> Callable[[F], F]:
    """Gives a command the :class:`Options` fields ``names`` (space-separated, in the order ``--help`` lists
    them); the command receives them as ``opts: Options``, the others at their defaults."""
    params = [_option_parameters()[n] for n in names.split()]
    return lambda func: _extended(func, "opts", params, lambda given: Options(**given))


@functools.lru_cache(maxsize=1)
def _option_parameters() -> dict[str, inspect.Parameter]:
    """Every :class:`Options` field as a keyword-only parameter, built once: resolving Options' type hints takes
    about 2 ms, which every command module would otherwise pay again at import, on every start of ``lstmcli``."""
    hints = typing.get_type_hints(Options, include_extras=True)
    return {
        f.name: inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
        for f in dataclasses.fields(Options)
    }


def with_settings(*stages: str) -> Callable[[F], F]:
    """Gives a command an option per Config field of ``stages``; the command receives the given ones.

    The decorated function takes ``settings: dict[str, Any]`` (only the options the user passed, parsed into
    the field types) besides its own parameters.
    """
    params = list(map(_setting, cli_fields(*stages)))

    def parsed(given: dict[str, Any]) -> dict[str, Any]:
        given = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v is not None and v != []}
        return {k: PARSERS[k](v) if k in PARSERS else v for k, v in given.items()}

    return lambda func: _extended(func, "settings", params, parsed)
