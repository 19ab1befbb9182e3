"""rlhf's one declaration of settings fields (rlhf.fields): training configs and attribution settings are
checked, loaded and described the same way."""

from __future__ import annotations

import dataclasses

import pytest

from rlhf.attribution.methods import AttributionSettings
from rlhf.config import DPOTrainingConfig, RewardTrainingConfig
from rlhf.fields import ConfigError, field_check, field_describe, fields_load

BUILD = {
    RewardTrainingConfig: {"output_dir": "out", "model_path": "m"},
    DPOTrainingConfig: {"output_dir": "out", "model_path": "m"},
    AttributionSettings: {},
}


@pytest.mark.parametrize("settings_class", list(BUILD))
def test_every_field_declares_a_help_string_and_a_type_the_helper_checks(settings_class):
    for spec in dataclasses.fields(settings_class):
        described = field_describe(settings_class, spec.name)
        assert len(described["help"]) > 10, spec.name
        assert described["type"] in (int, float, str, bool) or described["type"].__origin__ is tuple, spec.name


@pytest.mark.parametrize("settings_class", list(BUILD))
@pytest.mark.parametrize(("value", "message"), [("8", "batch_size must be an integer, got '8'"),
                                                 (True, "batch_size must be an integer, got True"),
                                                 (0, "batch_size must be >= 1, got 0")])
def test_a_wrong_type_or_range_is_refused_alike_naming_the_field(settings_class, value, message):
    with pytest.raises(ConfigError) as refused:
        settings_class(**BUILD[settings_class], batch_size=value)
    assert str(refused.value) == message


@pytest.mark.parametrize("settings_class", list(BUILD))
def test_a_whole_number_for_a_float_field_is_stored_as_a_float(settings_class):
    name = {RewardTrainingConfig: "learning_rate", DPOTrainingConfig: "beta", AttributionSettings: "damping"}[
        settings_class]
    settings = settings_class(**BUILD[settings_class], **{name: 1})
    assert getattr(settings, name) == 1.0 and isinstance(getattr(settings, name), float)


def test_choices_and_bounds_are_data_that_check_a_single_value():
    assert field_describe(AttributionSettings, "device")["choices"] == field_describe(
        RewardTrainingConfig, "device")["choices"]
    assert field_check(AttributionSettings, "projection_dim", 0) == 0  # the declared exception to >= 64
    with pytest.raises(ConfigError, match=r"^projection_dim must be 0 or >= 64, got 10$"):
        field_check(AttributionSettings, "projection_dim", 10)
    with pytest.raises(ConfigError, match=r"^max_length must be >= 8 tokens or empty, got 4$"):
        field_check(AttributionSettings, "max_length", 4)
    with pytest.raises(ConfigError, match="unknown setting 'beta'"):
        field_check(RewardTrainingConfig, "beta", 0.1)


def test_attribution_settings_load_from_yaml_naming_the_file(tmp_path):
    path = tmp_path / "attribution.yaml"
    path.write_text("damping: 0.2\nprojection_dim: 0\n")
    assert (fields_load(AttributionSettings, path).damping, fields_load(AttributionSettings, path).projection_dim) == (
        0.2, 0)
    path.write_text("damping: 0\n")
    with pytest.raises(ConfigError, match=r"attribution.yaml: damping must be > 0, got 0.0"):
        fields_load(AttributionSettings, path)
