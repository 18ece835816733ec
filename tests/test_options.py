"""Every Config field's help and default are written once, on the field, and --help shows them."""

from __future__ import annotations

import dataclasses

import pytest
import typer.main
from typer.testing import CliRunner

from lstmcli.cli import app
from lstmcli.cli.options import cli_fields, flags, option_help, shown
from lstmcli.config import CHOICES, KEPT_BY_PRESETS, LEGACY, PREPROCESSING, PRESETS, STAGES, Config
from lstmcli.errors import ConfigError


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


def test_every_field_declares_its_stage_and_prepare_has_no_training_option() -> None:
    for f in dataclasses.fields(Config):
        assert f.metadata.get("stage") in STAGES, f"{f.name}: declare it with setting(...)"
    assert "epochs" not in _params("prepare") and "max_len" in _params("prepare")
    assert "seed" in _params("prepare") and "seed" in _params("train")  # stage "both"
    assert "letters_only" not in _params("train")  # no help: no option, set by a preset
    assert set(PRESETS["tutorial"]) <= {f.name for f in dataclasses.fields(Config)}
    assert CHOICES["preset"] == tuple(PRESETS)


def test_the_tables_of_settings_are_derived_from_their_declarations() -> None:
    stage = {f.name: f.metadata["stage"] for f in dataclasses.fields(Config)}
    assert PREPROCESSING == {name for name, s in stage.items() if s == "prepare"}
    assert {"max_len", "unicode_form", "val_size"} <= PREPROCESSING and "seed" not in PREPROCESSING
    assert KEPT_BY_PRESETS == PREPROCESSING | {"seed", "ngram_hash"}
    assert LEGACY["ngram_mode"] == "joint" and "epochs" not in LEGACY
    assert CHOICES["cell"] == ("lstm", "gru") and "epochs" not in CHOICES


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pooling": "sum"}, "--pooling must be one of last, max, mean, maxmean; received 'sum'"),
        ({"unicode_form": "NFD"}, "unicode_form must be one of none, NFC, NFKC; received 'NFD'"),
        ({"vocab_size": 0}, "--vocab-size must be a positive integer; received 0"),
        ({"vocab_size": 2}, "--vocab-size must be at least 3 (padding, unknown, one word); received 2"),
        ({"units": (64, 0)}, "--units must be positive integers such as 128,128; received 64,0"),
        ({"max_len_percentile": 20.0}, "max_len_percentile must be between 50 and 100; received 20.0"),
        ({"embeddings_limit": -1}, "--embeddings-limit must be 0 or more; received -1"),
    ],
)
def test_each_setting_is_validated_by_its_declaration(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Config().replace(**change)
    assert str(raised.value) == message
