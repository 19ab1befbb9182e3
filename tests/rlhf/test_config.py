"""Run settings: validation, YAML, CLI flags."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from rlhf.config import DPOTrainingConfig, RewardTrainingConfig, TrainingConfig
from rlhf.fields import ConfigError, fields_add_arguments, fields_from_namespace, fields_load


@pytest.mark.parametrize("config_class", [RewardTrainingConfig, DPOTrainingConfig])
def test_every_field_has_a_help_string(config_class):
    for config_field in dataclasses.fields(config_class):
        assert len(config_field.metadata.get("help", "")) > 10, config_field.name


def test_both_methods_share_the_common_settings():
    common = {f.name for f in dataclasses.fields(TrainingConfig)}
    assert common <= {f.name for f in dataclasses.fields(RewardTrainingConfig)}
    assert common <= {f.name for f in dataclasses.fields(DPOTrainingConfig)}


@pytest.mark.parametrize(("changes", "field_name"), [
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"batch_size": 0}, "batch_size"),
    ({"eval_fraction": 1.0}, "eval_fraction"),
    ({"lora_dropout": 1.5}, "lora_dropout"),
    ({"device": "tpu"}, "device"),
    ({"head": "mlp"}, "head"),
    ({"model_path": None}, "model_path"),
    ({"output_dir": ""}, "output_dir"),
    ({"head": "linear", "lora": True}, "lora"),
    ({"head": "linear", "l2": 0.0}, "l2"),
    ({"head": "linear", "head_features": "reply-only"}, "head_features"),
    ({"head": "linear", "l2_grid": ()}, "l2_grid"),
    ({"head": "linear", "l2_grid": (0.1, -1.0)}, "l2_grid"),
    ({"max_steps": 0}, "max_steps"),
])
def test_reward_config_rejects_bad_values_naming_the_field(changes, field_name):
    values = {"model_path": "m", "output_dir": "out", **changes}
    with pytest.raises(ConfigError, match=rf"^{field_name} "):
        RewardTrainingConfig(**values)


def test_linear_head_needs_no_model_path():
    assert RewardTrainingConfig(head="linear", output_dir="out").model_path is None


def test_a_linear_head_reads_the_reply_beside_the_conversation_and_cross_validates_l2_unless_told():
    default = RewardTrainingConfig(head="linear", output_dir="out")
    assert (default.head_features, default.l2) == ("conversation+reply", None) and len(default.l2_grid) > 1
    with pytest.raises(ConfigError, match=r"^head_features must be one of \('conversation', 'conversation\+reply'\)"):
        RewardTrainingConfig(head="linear", output_dir="out", head_features="reply")


def test_head_settings_from_yaml_and_flags(tmp_path):
    path = tmp_path / "head.yaml"
    path.write_text("head: linear\noutput_dir: out\nhead_features: conversation\nl2_grid: [0.01, 1]\n")
    config = fields_load(RewardTrainingConfig, path)
    assert (config.head_features, config.l2, config.l2_grid) == ("conversation", None, (0.01, 1.0))
    parser = argparse.ArgumentParser()
    fields_add_arguments(parser, RewardTrainingConfig)
    args = parser.parse_args(["--head-features", "conversation+reply", "--l2", "0.03", "--l2-grid", "0.1,0.3"])
    flagged = fields_from_namespace(RewardTrainingConfig, args, yaml_path=str(path))
    assert (flagged.head_features, flagged.l2, flagged.l2_grid) == ("conversation+reply", 0.03, (0.1, 0.3))
    with pytest.raises(ConfigError, match="l2_grid must be a float"):
        fields_from_namespace(RewardTrainingConfig, parser.parse_args(["--l2-grid", "0.1,big"]), yaml_path=str(path))
    path.write_text("head: linear\noutput_dir: out\nl2_grid: 0.5\n")
    with pytest.raises(ConfigError, match=r"head.yaml: l2_grid must be a list of float values"):
        fields_load(RewardTrainingConfig, path)


@pytest.mark.parametrize(("changes", "field_name"), [
    ({"beta": 0.0}, "beta"),
    ({"loss_type": "nope"}, "loss_type"),
    ({"lora": True, "ref_model_path": "ref"}, "ref_model_path"),
])
def test_dpo_config_rejects_bad_values(changes, field_name):
    with pytest.raises(ConfigError, match=rf"^{field_name} "):
        DPOTrainingConfig(model_path="m", output_dir="out", **changes)


def test_yaml_values_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model_path: base\noutput_dir: out\nlearning_rate: 0.001\nlora: true\nnum_epochs: 2\n")
    config = fields_load(RewardTrainingConfig, path, {"learning_rate": "5e-4", "batch_size": "4"})
    assert (config.learning_rate, config.batch_size, config.lora, config.num_epochs) == (5e-4, 4, True, 2.0)
    assert isinstance(config.num_epochs, float)


def test_yaml_errors_name_the_file_and_setting(tmp_path):
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("model_path: m\noutput_dir: o\nlearning_rat: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown.yaml: unknown setting\(s\) \['learning_rat'\]"):
        fields_load(RewardTrainingConfig, unknown)
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("model_path: m\noutput_dir: o\nbatch_size: 0\n")
    with pytest.raises(ConfigError, match=r"invalid.yaml: batch_size must be >= 1"):
        fields_load(RewardTrainingConfig, invalid)
    wrong_type = tmp_path / "type.yaml"
    wrong_type.write_text("model_path: m\noutput_dir: o\nlora: 3\n")
    with pytest.raises(ConfigError, match=r"lora must be true or false"):
        fields_load(RewardTrainingConfig, wrong_type)


def test_cli_flags_override_yaml_and_unset_flags_do_not(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model_path: base\noutput_dir: out\nbeta: 0.3\nseed: 5\n")
    parser = argparse.ArgumentParser()
    fields_add_arguments(parser, DPOTrainingConfig)
    args = parser.parse_args(["--model", "other", "--beta", "0.5", "--lora", "--ref-model", "none"])
    config = fields_from_namespace(DPOTrainingConfig, args, yaml_path=str(path))
    assert (config.model_path, config.beta, config.lora, config.seed, config.ref_model_path) == (
        "other", 0.5, True, 5, None)
    with pytest.raises(ConfigError, match="beta must be a float"):
        fields_from_namespace(DPOTrainingConfig, parser.parse_args(["--beta", "big"]), yaml_path=str(path))
