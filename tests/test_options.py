"""Every Config field's help and default are written once, on the field, and --help shows them."""

from __future__ import annotations

import dataclasses

import pytest
import typer.main
from typer.testing import CliRunner

from lstmcli.cli import app
from lstmcli.cli.options import cli_fields, flags, option_help, shown
from lstmcli.config import PRESETS, Config


def _params(command: str) -> dict[str, object]:
    group = typer.main.get_command(app)
    return {p.name: p for p in group.commands[command].params}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("command", "stages"), [("prepare", ("prepare",)), ("train", ("prepare", "train"))])
def test_each_setting_option_is_generated_from_its_config_field(command: str, stages: tuple[str, ...]) -> None:
    params = _params(command)
    for f in cli_fields(*stages):
        param = params[f.name]
        assert param.help == option_help(f)  # type: ignore[attr-defined]
        assert f"[default: {f.metadata['shown'] or shown(f.default)}" in param.help  # type: ignore[attr-defined]
        assert flags(f)[0].split("/")[0] in param.opts  # type: ignore[attr-defined]


def test_help_shows_each_default_and_preset_value_from_config() -> None:
    result = CliRunner().invoke(app, ["train", "--help"], terminal_width=400)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for f in cli_fields("prepare", "train"):
        assert " ".join(option_help(f).split()) in text, f.name
    assert "Embedding size [default: auto: 128, or the vectors'; tutorial: 45]." in text
    assert "--epochs" in text and "Most epochs in all, the n-gram stage's included [default: 25; tutorial: 15]." in text


def test_every_option_field_has_help_and_prepare_has_no_training_option() -> None:
    for f in dataclasses.fields(Config):
        if f.metadata.get("stage"):
            assert f.metadata["help"].strip(), f.name
    assert "epochs" not in _params("prepare") and "max_len" in _params("prepare")
    assert set(PRESETS["tutorial"]) <= {f.name for f in dataclasses.fields(Config)}
