"""The job form's settings are rlhf's: each field has the config dataclass's default, help and range, and
refuses what the dataclass refuses, with its message."""

import dataclasses

import pytest

from feedback_site.core import errors
from feedback_site.training import services
from feedback_site.training.forms import FORM_INITIAL, FORM_SETTINGS, JobForm, setting_form_field
from rlhf.config import DPOTrainingConfig, RewardTrainingConfig
from rlhf.fields import ConfigError


def declared(config_class, name):
    return {f.name: f for f in dataclasses.fields(config_class)}[name]


@pytest.mark.parametrize("name", ["num_epochs", "batch_size", "max_length", "lora", "device"])
def test_a_setting_every_method_reads_has_the_dataclass_default_and_help(name):
    field = setting_form_field(name)
    spec = declared(RewardTrainingConfig, name)
    assert field.help_text == spec.metadata["help"]
    assert field.initial == FORM_INITIAL.get(name, spec.default)


def test_a_setting_of_one_method_starts_empty_and_says_its_default():
    beta = setting_form_field("beta")
    assert beta.initial is None and declared(DPOTrainingConfig, "beta").metadata["help"] in beta.help_text
    assert f"Empty: {declared(DPOTrainingConfig, 'beta').default}" in beta.help_text
    head = setting_form_field("head_features")
    assert [value for value, _ in head.choices] == ["", *declared(RewardTrainingConfig, "head_features").metadata["choices"]]


@pytest.mark.parametrize(("name", "value"), [
    ("num_epochs", 0.0), ("batch_size", 0), ("max_length", 4), ("l2", 0.0), ("beta", -1.0), ("device", "tpu")])
def test_the_form_refuses_what_the_dataclass_refuses_with_its_message(name, value):
    config_class = DPOTrainingConfig if name == "beta" else RewardTrainingConfig
    base = {"output_dir": "out", "head": "linear"} if config_class is RewardTrainingConfig else {
        "output_dir": "out", "model_path": "m"}
    with pytest.raises(ConfigError) as refused:
        config_class(**base, **{name: value})
    form = JobForm(data={name: value})
    form.fields = {name: form.fields[name]}  # the setting alone: no snapshot or model is looked up
    assert not form.is_valid()
    assert form.errors[name] == [str(refused.value)]


def test_a_value_the_dataclass_takes_is_taken():
    form = JobForm(data={"num_epochs": "0.5", "device": "cpu", "l2": "0.05"})
    form.fields = {name: form.fields[name] for name in ("num_epochs", "device", "l2")}
    assert form.is_valid(), form.errors
    assert form.cleaned_data == {"num_epochs": 0.5, "device": "cpu", "l2": 0.05}


def test_the_form_offers_settings_the_services_take():
    assert set(FORM_SETTINGS) <= set(services.JOB_SETTINGS)
    assert services.setting_methods("beta") == ["dpo"] and services.setting_methods("l2") == ["reward_linear"]


def test_the_services_parse_a_setting_by_its_declared_type():
    assert services._clean_params("reward", {"num_epochs": 2, "lora": "true"}) == {"num_epochs": 2.0, "lora": True}
    with pytest.raises(errors.InvalidInput, match="batch_size must be an integer, got 2.5"):
        services._clean_params("reward", {"batch_size": 2.5})
