"""Command-line options: the shared ones, and those generated from the Config fields' own help and defaults.

A Config field declares its help and default once (``config.setting``); the options of ``prepare`` and
``train`` are built from them, so ``--help`` always shows the value a run would really get.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from lstmcli.config import PRESETS, Config, parse_max_len, parse_monitor, parse_units

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
PresetOpt = Annotated[
    Optional[str],
    typer.Option(
        "--preset",
        help="default (a modern bidirectional LSTM) or tutorial (the article's pipeline and model) "
        "[default: default; a prepared run keeps its own].",
        show_default=False,
    ),
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
InputEncodingOpt = Annotated[
    Optional[str],
    typer.Option("--encoding", help="Text encoding of the input [default: detected].", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout instead of tables.")]
StrategyOpt = Annotated[
    str,
    typer.Option(
        "--strategy",
        help="auto, one, mirrored (every local GPU) or multi-worker (machines in TF_CONFIG); "
        "--batch-size is per replica.",
    ),
]  # train's
ReportJsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Also print the result as one JSON object on stdout (the report stays on stderr)."),
]
InputFormatOpt = Annotated[
    str,
    typer.Option(
        "--input-format",
        help="auto (by extension: .csv, .tsv/.tab and .jsonl/.ndjson are tables, anything else text), "
        "text (one text per line), csv, tsv or jsonl.",
    ),
]
TextColumnOpt = Annotated[
    str,
    typer.Option(
        "--text-column",
        help="A table's text column [default: the run's, else picked: text, sentence, review, ...].",
        show_default=False,
    ),
]
LabelColumnOpt = Annotated[
    str,
    typer.Option(
        "--label-column",
        help="A table's label column [default: the run's, else picked: label, category, class, ...].",
        show_default=False,
    ),
]
HeaderOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--header/--no-header",
        help="Whether a CSV or TSV's first row names its columns; --no-header: it is data, the columns are "
        "1, 2, ... [default: header].",
        show_default=False,
    ),
]

# Options typed as text on the command line and parsed into the field's own type.
PARSERS: dict[str, Callable[[str], Any]] = {"units": parse_units, "max_len": parse_max_len, "monitor": parse_monitor}


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
    """The Config fields that are options of a command taking ``stages`` ("prepare", "train")."""
    return [f for f in dataclasses.fields(Config) if f.metadata.get("stage") in stages]


def _parameter(f: dataclasses.Field[Any]) -> inspect.Parameter:
    kind = {"bool": bool, "int": int, "float": float}.get(str(f.type), str)
    if f.name in PARSERS:
        kind = str
    option = typer.Option(*flags(f), help=option_help(f), show_default=False)
    annotation = Annotated[Optional[kind], option]  # type: ignore[valid-type]
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)


def with_settings(*stages: str) -> Callable[[F], F]:
    """Gives a command an option per Config field of ``stages``; the command receives the given ones.

    The decorated function takes ``settings: dict[str, Any]`` (only the options the user passed, parsed into
    the field types) besides its own parameters.
    """

    def decorate(func: F) -> F:
        fields = cli_fields(*stages)
        names = {f.name for f in fields}

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
            parsed = {k: PARSERS[k](v) if k in PARSERS else v for k, v in given.items() if v is not None}
            return func(*args, settings=parsed, **kwargs)

        own = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.name != "settings"]
        wrapper.__signature__ = inspect.Signature([*own, *map(_parameter, fields)])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
