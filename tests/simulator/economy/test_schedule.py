"""The supply, its allocation and the release schedule, to the base unit."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.economy.schedule import (
    Allocation,
    ScheduleParams,
    allocation_amounts,
    emission_for_epoch,
    schedule_by_month,
    unlocked_at,
)
from simulator.economy.units import BASE_UNITS_PER_OPEN, open_to_base_units

DEFAULT = ScheduleParams()


def test_allocation_is_the_published_split_of_a_billion_open():
    amounts = allocation_amounts(DEFAULT)
    assert amounts == {
        Allocation.COMMUNITY: open_to_base_units(617_100_000),
        Allocation.INVESTORS: open_to_base_units(182_900_000),
        Allocation.TEAM: open_to_base_units(150_000_000),
        Allocation.LIQUIDITY: open_to_base_units(50_000_000),
    }
    assert sum(amounts.values()) == open_to_base_units(1_000_000_000)


def test_emissions_of_all_epochs_add_up_to_the_community_allocation_exactly():
    epochs = DEFAULT.community_release_epochs
    assert epochs == 48 * 30
    emissions = [emission_for_epoch(DEFAULT, epoch) for epoch in range(epochs + 30)]
    assert sum(emissions) == allocation_amounts(DEFAULT)[Allocation.COMMUNITY]
    assert emissions[epochs:] == [0] * 30  # nothing after the pool is spent
    # A day's budget does not divide evenly: it differs by at most one base unit between days.
    assert max(emissions[:epochs]) - min(emissions[:epochs]) <= 1


def test_community_unlocked_is_the_sum_of_the_emissions_before_it():
    running_total = 0
    for epoch in range(0, 400):
        assert unlocked_at(DEFAULT, epoch=epoch)[Allocation.COMMUNITY] == running_total
        running_total += emission_for_epoch(DEFAULT, epoch)


def test_a_month_of_emission_is_about_12_9_million_open():
    per_month = [row.emission for row in schedule_by_month(DEFAULT)]
    assert per_month[0] == open_to_base_units(12_856_250)
    assert all(
        abs(month - 12.9e6 * BASE_UNITS_PER_OPEN) < 0.05e6 * BASE_UNITS_PER_OPEN for month in per_month[:48]
    )
    assert sum(per_month) == allocation_amounts(DEFAULT)[Allocation.COMMUNITY]


@pytest.mark.parametrize("allocation", [Allocation.TEAM, Allocation.INVESTORS])
def test_team_and_investors_unlock_nothing_before_the_cliff_then_a_36th_a_month(allocation):
    total = allocation_amounts(DEFAULT)[allocation]
    assert unlocked_at(DEFAULT, month=11)[allocation] == 0
    assert unlocked_at(DEFAULT, month=12)[allocation] == 0
    assert unlocked_at(DEFAULT, month=13)[allocation] == total // 36
    assert unlocked_at(DEFAULT, epoch=12 * 30 + 1)[allocation] > 0  # linear by epoch after the cliff
    assert unlocked_at(DEFAULT, month=47)[allocation] < total
    assert unlocked_at(DEFAULT, month=48)[allocation] == total
    assert unlocked_at(DEFAULT, month=60)[allocation] == total


def test_liquidity_is_unlocked_at_genesis_and_everything_by_month_48():
    at_genesis = unlocked_at(DEFAULT, epoch=0)
    assert at_genesis == {
        Allocation.COMMUNITY: 0,
        Allocation.INVESTORS: 0,
        Allocation.TEAM: 0,
        Allocation.LIQUIDITY: allocation_amounts(DEFAULT)[Allocation.LIQUIDITY],
    }
    assert sum(unlocked_at(DEFAULT, month=48).values()) == DEFAULT.total_supply
    assert schedule_by_month(DEFAULT)[-1].circulating == DEFAULT.total_supply


@settings(max_examples=30)
@given(
    epochs_per_month=st.integers(1, 40),
    community_release_months=st.integers(1, 60),
    supply=st.integers(1, 10**10),
    community_bps=st.integers(0, 10_000),
)
def test_any_schedule_emits_exactly_its_community_allocation_and_unlocks_monotonically(
    epochs_per_month, community_release_months, supply, community_bps
):
    rest = 10_000 - community_bps
    params = ScheduleParams(
        total_supply_open=supply,
        community_bps=community_bps,
        investors_bps=rest // 2,
        team_bps=rest - rest // 2,
        liquidity_bps=0,
        epochs_per_month=epochs_per_month,
        community_release_months=community_release_months,
    )
    emissions = [emission_for_epoch(params, e) for e in range(params.community_release_epochs)]
    assert sum(emissions) == allocation_amounts(params)[Allocation.COMMUNITY]
    assert all(e >= 0 for e in emissions)
    previous = None
    for month in range(0, params.final_epoch // epochs_per_month + 1, 3):
        unlocked = unlocked_at(params, month=month)
        if previous is not None:
            assert all(unlocked[a] >= previous[a] for a in Allocation)
        previous = unlocked
    assert sum(unlocked_at(params, epoch=params.final_epoch).values()) == params.total_supply


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"team_bps": 1400}, ValueError, "must be 10000"),
        ({"cliff_months": 1.5}, TypeError, "ScheduleParams.cliff_months"),
        ({"epochs_per_month": 0}, ValueError, "ScheduleParams.epochs_per_month"),
        ({"community_bps": -1}, ValueError, "ScheduleParams.community_bps"),
        ({"total_supply_open": "1000"}, TypeError, "ScheduleParams.total_supply_open"),
    ],
)
def test_bad_schedule_parameters_are_refused_naming_the_field(changes, error, field):
    with pytest.raises(error, match=field):
        ScheduleParams(**changes)


def test_bad_epochs_and_months_are_refused():
    with pytest.raises(ValueError, match="epoch"):
        emission_for_epoch(DEFAULT, -1)
    with pytest.raises(TypeError, match="exactly one"):
        unlocked_at(DEFAULT, epoch=1, month=1)
    with pytest.raises(TypeError, match="exactly one"):
        unlocked_at(DEFAULT)
