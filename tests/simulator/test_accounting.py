"""Integer books: the sim unit, the schedule in sim units, and conservation every epoch."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.accounting import (
    SIM_UNIT_BASE_UNITS,
    Balances,
    ConservationError,
    ScheduleInSimUnits,
    check_conservation,
    floor_mul_div,
    genesis,
    policy_in_sim_units,
)
from simulator.economy.policies import POLICIES, policy_from_dict
from simulator.economy.schedule import Allocation, ScheduleParams, emission_for_epoch, unlocked_at
from simulator.model import make_model

from .conftest import small


def test_schedule_in_sim_units_adds_up_to_each_allocation_exactly():
    schedule = ScheduleParams(
        epochs_per_month=2, community_release_months=6, cliff_months=1, vesting_months=3
    )
    sim = ScheduleInSimUnits(schedule)
    books = genesis(schedule)
    assert sum(sim.emission(e) for e in range(schedule.final_epoch + 5)) == books.community
    assert sum(sim.vesting_unlock(e) for e in range(schedule.final_epoch + 5)) == books.team + books.investors
    assert books.community + books.team + books.investors + books.liquidity == books.supply
    # Each epoch is the economy's own emission, floored to the unit (never more).
    for epoch in range(schedule.final_epoch):
        assert (
            abs(sim.emission(epoch) * SIM_UNIT_BASE_UNITS - emission_for_epoch(schedule, epoch))
            < SIM_UNIT_BASE_UNITS
        )


def test_vesting_starts_at_the_cliff():
    schedule = ScheduleParams()
    sim = ScheduleInSimUnits(schedule)
    cliff = schedule.cliff_months * schedule.epochs_per_month
    assert sum(sim.vesting_unlock(e) for e in range(cliff)) == 0
    assert sim.vesting_unlock(cliff) > 0
    assert sim.vesting_released(cliff + 1) * SIM_UNIT_BASE_UNITS <= sum(
        unlocked_at(schedule, epoch=cliff + 1)[a] for a in (Allocation.TEAM, Allocation.INVESTORS)
    )


def test_min_bond_is_converted_by_rounding_up_so_the_rule_stays_exact():
    params = policy_in_sim_units(
        policy_from_dict("attribution_bonded", {"min_bond": 3 * SIM_UNIT_BASE_UNITS + 1})
    )
    assert params.min_bond == 4
    volume = policy_from_dict("volume", {"price_per_call": 2 * SIM_UNIT_BASE_UNITS + 1})
    assert policy_in_sim_units(volume) == dataclasses.replace(volume, price_per_call=3)  # no call is undercharged


def test_the_simulators_consumers_pay_the_policys_price_per_call():
    """The price the site charges per call is the one the simulated consumers pay: twice the price,
    twice the fees for the same calls (demand follows the token's price, not the fee)."""
    scenario = small("baseline", epochs=5, contributors=40)
    runs = {price: make_model("vectorized", scenario, policy_from_dict("volume", {"price_per_call": price}), seed=3).run()
            for price in (10**18, 2 * 10**18)}
    assert sum(runs[10**18]["calls"]) > 0
    assert runs[10**18]["calls"] == runs[2 * 10**18]["calls"]
    assert [2 * fee for fee in runs[10**18]["fees"]] == runs[2 * 10**18]["fees"]


def test_the_simulators_consumers_pay_the_policys_price_per_token_for_their_calls_size():
    """A price per token prices a simulated call by the scenario's tokens per call, with the rule the site
    charges by (``call_fee``), converted to sim units once, rounded up."""
    scenario = small("baseline", epochs=5, contributors=40)
    scenario = dataclasses.replace(scenario, consumers=dataclasses.replace(
        scenario.consumers, prompt_tokens_per_call=150, reply_tokens_per_call=50))
    per_call = policy_from_dict("volume", {"price_per_call": 10**17})
    per_token = policy_from_dict("volume", {"price_per_call": 10**17, "price_per_token": 10**15 + 1})
    runs = {policy.price_per_token: make_model("vectorized", scenario, policy, seed=3).run()
            for policy in (per_call, per_token)}
    assert sum(runs[0]["calls"]) > 0 and sum(runs[10**15 + 1]["calls"]) > 0
    fee_sim = -(-(10**17 + 200 * (10**15 + 1)) // SIM_UNIT_BASE_UNITS)
    assert runs[10**15 + 1]["fees"] == [calls * fee_sim for calls in runs[10**15 + 1]["calls"]]
    assert runs[0]["fees"] == [calls * (10**17 // SIM_UNIT_BASE_UNITS) for calls in runs[0]["calls"]]


def test_check_conservation_names_the_gap():
    check_conservation(10, Balances(circulating=1, locked=2, staked=3, treasury=0, pool=4), epoch=0)
    with pytest.raises(ConservationError, match="off by 1"):
        check_conservation(10, Balances(circulating=2, locked=2, staked=3, treasury=0, pool=4), epoch=3)
    with pytest.raises(ConservationError, match="negative"):
        check_conservation(10, Balances(circulating=-1, locked=3, staked=4, treasury=0, pool=4), epoch=3)


@pytest.mark.parametrize("engine", ["vectorized", "reference"])
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_supply_is_conserved_every_epoch(engine, policy):
    """Every epoch's books balance exactly (the model checks itself; the table shows it too)."""
    scenario = small("sybil_attack", epochs=25, contributors=60)
    attack = dataclasses.replace(scenario.attacks[0], start_epoch=3, actors=2, accounts_per_actor=5)
    scenario = scenario.with_changes(attacks=(attack,))
    model = make_model(engine, scenario, policy_from_dict(policy, {}), seed=11)
    table = model.run()
    supply = model.genesis.supply
    for epoch in range(scenario.epochs):
        parts = sum(table[name][epoch] for name in ("circulating", "locked", "staked", "treasury", "pool"))
        assert parts == supply == table["supply"][epoch]
        assert all(
            isinstance(table[name][epoch], int)
            for name in ("circulating", "locked", "staked", "treasury", "pool")
        )


def test_tampering_with_the_books_is_caught(tiny_baseline):
    model = make_model(
        "vectorized", tiny_baseline.with_changes(epochs=3), policy_from_dict("volume", {}), seed=1
    )
    model.step()
    model.treasury += 1  # one micro-OPEN from nowhere
    with pytest.raises(ConservationError):
        model.step()


# Sim amounts (below 2**50, the fast path) and amounts anywhere in int64 (the Python-int path).
sim_amount = st.integers(0, 10**15) | st.integers(0, 2**50 - 1) | st.sampled_from([0, 1, 2**50 - 1])
any_amount = st.integers(0, 2**63 - 1)


@given(
    rows=st.lists(
        st.tuples(
            sim_amount | any_amount,
            sim_amount | any_amount,
            st.integers(1, 2**63 - 1) | sim_amount.map(lambda x: x + 1),
        ),
        max_size=30,
    )
)
def test_floor_mul_div_is_exact_where_the_product_passes_int64(rows):
    a, b, c = (np.array([row[i] for row in rows], dtype=np.int64) for i in range(3))
    expected = [x * y // z for x, y, z in rows]
    if any(q >= 2**63 for q in expected):
        return  # the quotient itself does not fit int64: not a case the simulator can produce
    assert floor_mul_div(a, b, c).tolist() == expected


def test_floor_mul_div_is_exact_for_slashes_of_backed_bonds():
    # What settlement asks: a slash (at most the bond) times the stake backing the bond, over the bond.
    rng = np.random.default_rng(7)
    bond = rng.integers(1, 10**15, 5000)
    backing = rng.integers(0, bond + 1)
    slash = rng.integers(0, bond + 1)
    assert int(slash.max()) * int(backing.max()) > 2**63  # the products really pass int64
    expected = [s * k // b for s, k, b in zip(slash.tolist(), backing.tolist(), bond.tolist(), strict=True)]
    assert floor_mul_div(slash, backing, bond).tolist() == expected


def test_floor_mul_div_refuses_a_zero_divisor():
    with pytest.raises(ValueError, match="c > 0"):
        floor_mul_div(np.array([1]), np.array([1]), np.array([0]))
