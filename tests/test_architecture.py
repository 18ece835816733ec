"""The house's rules, checked on the source: layers import downward only, no cycles, short functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lstmcli"
# Each layer may import itself and the layers after it, never one before it.
LAYERS = [
    ("cli", "__main__"),
    ("ui", "serve"),
    ("workflow",),
    ("predictor", "scoring", "explain", "info", "export", "nn", "dataset", "decision"),
    ("rundir",),
    ("text", "io"),
    ("config",),
    ("errors", "__init__"),
]


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): path
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _imports(path: Path) -> set[str]:
    """Every lstmcli module ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lstmcli"):
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("lstmcli")}
    return found & set(_modules())


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_no_import_cycle() -> None:
    graph = {name: _imports(path) - {name} for name, path in _modules().items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*trail[trail.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_layers_import_downward_only() -> None:
    upward = [
        f"{name} imports {target}"
        for name, path in _modules().items()
        for target in _imports(path)
        if target != "lstmcli" and _layer(target) < _layer(name)
    ]
    assert not upward


def test_functions_are_short_and_commands_thin() -> None:
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if node.end_lineno - start + 1 > 60:  # type: ignore[operator]
                    long.append(f"{name}.{node.name}: {node.end_lineno - start + 1} lines")  # type: ignore[operator]
    assert not long
    commands = [p for p in (PACKAGE / "cli").glob("*.py") if p.stem not in ("__init__", "app", "options")]
    assert commands and all(len(p.read_text().splitlines()) < 80 for p in commands), [
        (p.name, len(p.read_text().splitlines())) for p in commands
    ]


def test_every_lstmcli_name_the_source_mentions_exists() -> None:
    """A docstring or comment naming ``lstmcli.x.y`` names a module (or what a module defines) that is there."""
    import importlib
    import re

    named = {m for path in _modules().values() for m in re.findall(r"\blstmcli(?:\.\w+)+", path.read_text("utf-8"))}
    missing = []
    for name in sorted(named):
        parts = name.split(".")
        depth = max(i for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in _modules() or i == 1)
        found: object = importlib.import_module(".".join(parts[:depth]))
        for attr in parts[depth:]:
            found = getattr(found, attr, None)
        if found is None:
            missing.append(name)
    assert not missing


def test_no_weight_name_is_written_outside_the_network_description() -> None:
    from lstmcli.config import Config, make_config
    from lstmcli.nn.spec import network_spec

    configs = [Config(), make_config("tutorial"), Config(ngram_mode="joint"), Config(units=(8, 8), cell="gru")]
    names = {name for config in configs for name in network_spec(config).weight_names}
    assert {"embedding", "output_bias", "ngram_table", "rnn_1_fw_kernel"} <= names
    # The n-gram bag's Keras sublayer keeps the name saved models were written with (it is no weights.npz key).
    sublayer = ("nn/model.py", "bigram_embedding")
    written = [
        (path.relative_to(PACKAGE).as_posix(), node.value)
        for path in _modules().values()
        if path.relative_to(PACKAGE).as_posix() != "nn/spec.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in names
    ]
    assert [found for found in written if found != sublayer] == []
