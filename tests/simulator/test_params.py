"""Scenario parts are declared like the economy's parameters (simulator.economy.fields): every field has its
help and, unless it is a distribution or a nested part, a check that names the field."""

import dataclasses
import typing

import pytest

from simulator.economy.fields import describe_fields
from simulator.params import (
    AttackParams,
    ConsumerParams,
    ContributorParams,
    Dist,
    MarketParams,
    Scenario,
    ScenarioError,
    ShockParams,
    StakerParams,
    scenario_from_data,
)

PARTS = [ContributorParams, AttackParams, StakerParams, ConsumerParams, MarketParams, ShockParams, Scenario]


@pytest.mark.parametrize("part", PARTS)
def test_every_plain_field_declares_its_check(part):
    hints = typing.get_type_hints(part)
    for spec in dataclasses.fields(part):
        structured = hints[spec.name] is Dist or dataclasses.is_dataclass(hints[spec.name]) or typing.get_origin(
            hints[spec.name]) in (tuple, dict) or spec.name == "name"
        assert structured or spec.metadata.get("check") is not None, f"{part.__name__}.{spec.name}"
    assert all(len(item["help"]) > 5 for item in describe_fields(part))


@pytest.mark.parametrize(("part", "changes", "message"), [
    (ConsumerParams, {"count": "many"}, "c.count: expected an integer, got str 'many'"),
    (MarketParams, {"swap_fee_bps": 1.5}, "c.swap_fee_bps: expected an integer, got float 1.5"),
    (StakerParams, {"delegated_share": 2.0}, "c.delegated_share: must be between 0 and 1, got 2.0"),
    (ShockParams, {"kind": "flood"}, "c.kind: must be one of demand, price_crash, got 'flood'"),
    (AttackParams, {"kind": "sybil", "agreement": "high"}, "c.agreement: expected a number, got str 'high'"),
])
def test_a_part_built_in_python_is_refused_naming_the_field(part, changes, message):
    with pytest.raises(ScenarioError) as refused:
        part(**changes).validate("c")
    assert str(refused.value).startswith(message)


def test_a_mutable_default_is_not_shared_between_scenarios():
    first, second = ContributorParams(), ContributorParams()
    assert first.mix == second.mix and first.mix is not second.mix


def test_a_file_value_is_refused_with_the_same_words_as_a_python_one():
    with pytest.raises(ScenarioError, match=r"^file\.market\.swap_fee_bps: must be <= 9999, got 10000$"):
        scenario_from_data({"name": "x", "market": {"swap_fee_bps": 10_000}}, where="file")
