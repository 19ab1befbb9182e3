"""Exact money: conversions from decimal text, and the largest-remainder split."""

import random
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.economy.units import (
    BASE_UNITS_PER_OPEN,
    base_units_to_open,
    largest_remainder_split,
    largest_remainder_split_reference,
    open_to_base_units,
    split_by_integer_weights,
)

# Weights from tiny to beyond the bounds of the vectorised path (2**50 per weight, 2**62 in
# total), so both the numpy path and the plain-int path are compared with the reference.
weight_values = st.one_of(
    st.integers(0, 3),
    st.integers(0, 10**6),
    st.integers(0, 2**50),
    st.integers(2**49, 2**64),
)
totals = st.one_of(st.integers(0, 1000), st.integers(0, 10**27), st.integers(10**27, 10**40))
weight_maps = st.dictionaries(st.text(min_size=1, max_size=4), weight_values, max_size=30)


@given(total=totals, weights=weight_maps)
def test_split_matches_the_reference_and_adds_up_exactly(total, weights):
    shares = largest_remainder_split(total, weights)
    assert shares == largest_remainder_split_reference(total, weights)
    assert set(shares) == set(weights)
    assert all(share >= 0 for share in shares.values())
    if any(weights.values()):
        assert sum(shares.values()) == total
    else:
        assert sum(shares.values()) == 0  # nothing to split by: the caller carries the total over


@given(total=totals, weights=weight_maps)
def test_every_share_is_within_one_unit_of_its_exact_entitlement(total, weights):
    total_weight = sum(weights.values())
    shares = largest_remainder_split(total, weights)
    for key, weight in weights.items():
        if total_weight:
            exact = Fraction(total * weight, total_weight)
            assert exact - 1 < shares[key] < exact + 1
        if weight == 0:
            assert shares[key] == 0


@given(
    total=totals,
    weights=st.dictionaries(
        st.text(min_size=1, max_size=3),
        st.one_of(
            st.fractions(min_value=0, max_value=10**6), st.decimals(min_value=0, max_value=10**6, places=6)
        ),
        max_size=12,
    ),
)
def test_fraction_and_decimal_weights_are_exact(total, weights):
    shares = largest_remainder_split(total, weights)
    assert shares == largest_remainder_split_reference(total, weights)


@given(total=totals, weights=weight_maps, seed=st.integers(0, 2**32))
def test_result_does_not_depend_on_the_order_the_mapping_was_built_in(total, weights, seed):
    items = list(weights.items())
    random.Random(seed).shuffle(items)
    assert largest_remainder_split(total, dict(items)) == largest_remainder_split(total, weights)


def test_equal_remainders_go_to_the_smallest_keys_first():
    # 10 split three ways: 3 each and one left over, which goes to the smallest key.
    assert largest_remainder_split(10, {"c": 1, "a": 1, "b": 1}) == {"c": 3, "a": 4, "b": 3}
    assert largest_remainder_split(11, {"c": 1, "a": 1, "b": 1}) == {"c": 3, "a": 4, "b": 4}


def test_leftover_goes_to_the_largest_fractional_part():
    # exact shares 2.857..., 7.142...: floors 2 + 7 = 9, the unit goes to the larger fraction (.857).
    assert largest_remainder_split(10, {"x": 2, "y": 5}) == {"x": 3, "y": 7}


def test_remainders_too_close_for_floats_are_still_ranked_exactly():
    # Beyond int64 remainders are ranked by a float first; these two round to the same float,
    # yet b's remainder is larger by one and must win over the smaller key a.
    weights = {"a": 2**70, "b": 2**70 + 1}
    assert largest_remainder_split(1, weights) == {"a": 0, "b": 1}
    many = {f"k{i:03d}": 2**80 + i for i in range(200)}
    assert largest_remainder_split(150, many) == largest_remainder_split_reference(150, many)


def test_large_split_with_many_ties_uses_the_vectorised_path_and_stays_exact():
    accounts = [f"acct-{i:05d}" for i in range(20_000)]
    weights = np.array([i % 7 for i in range(20_000)], dtype=np.int64)
    budget = 428_541_666_666_666_666_666_666 + 13
    shares = split_by_integer_weights(budget, accounts, weights)
    assert sum(shares) == budget
    sample = {a: int(w) for a, w in zip(accounts[:500], weights[:500], strict=True)}
    assert sum(largest_remainder_split(10**24 + 3, sample).values()) == 10**24 + 3


@pytest.mark.parametrize(
    ("total", "weights", "error", "names"),
    [
        (-1, {"a": 1}, ValueError, "total"),
        (1.5, {"a": 1}, TypeError, "total"),
        (True, {"a": 1}, TypeError, "total"),
        ("10", {"a": 1}, TypeError, "total"),
        (10, {"a": 0.5}, TypeError, "weights['a']"),
        (10, {"a": 1, "b": -2}, ValueError, "weights['b']"),
        (10, {"a": Fraction(-1, 2)}, ValueError, "weights['a']"),
        (10, {"a": Decimal("NaN")}, ValueError, "weights['a']"),
        (10, [1, 2], TypeError, "weights"),
    ],
)
def test_bad_split_arguments_are_refused_naming_the_argument(total, weights, error, names):
    with pytest.raises(error, match=names.replace("[", r"\[").replace("]", r"\]")):
        largest_remainder_split(total, weights)


@pytest.mark.parametrize(
    ("text", "base_units"),
    [
        ("1", BASE_UNITS_PER_OPEN),
        ("0.1", 10**17),
        ("0.000000000000000001", 1),
        ("617100000", 617_100_000 * BASE_UNITS_PER_OPEN),
        ("12856250.5", 12_856_250 * BASE_UNITS_PER_OPEN + 5 * 10**17),
        ("1e3", 1000 * BASE_UNITS_PER_OPEN),
        ("-2.5", -25 * 10**17),
        ("1000000000.000000000000000001", 10**27 + 1),
    ],
)
def test_decimal_text_converts_to_exact_base_units(text, base_units):
    assert open_to_base_units(text) == base_units
    assert open_to_base_units(Decimal(text)) == base_units


def test_whole_open_ints_convert_exactly():
    assert open_to_base_units(1_000_000_000) == 10**27


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (0.1, TypeError),
        ("0.0000000000000000001", ValueError),
        ("abc", ValueError),
        ("NaN", ValueError),
        ([1], TypeError),
    ],
)
def test_amounts_that_are_not_exact_base_units_are_refused(amount, error):
    with pytest.raises(error, match="OPEN amount"):
        open_to_base_units(amount)


@given(st.integers(-(10**30), 10**30))
def test_base_units_survive_a_round_trip_through_decimal_text(base_units):
    text = base_units_to_open(base_units)
    assert open_to_base_units(text) == base_units
    assert not text.endswith(".") and ("." not in text or not text.endswith("0"))


@given(seed=st.integers(0, 2**32), count=st.integers(1, 4000))
def test_vectorised_quotients_are_exact_where_the_float_estimate_is_off(seed, count):
    # Weights near 2**50 and a spare near the total weight: the float64 estimate of
    # spare * w / W is then often one off, and the integer correction has to repair it.
    from simulator.economy.units import _spare_shares_vectorised

    rng = random.Random(seed)
    weights = [rng.randint(2**49, 2**50 - 1) for _ in range(count)]
    total_weight = sum(weights)
    spare = total_weight - 1 - rng.randint(0, 10**6) % total_weight
    quotients, remainders = _spare_shares_vectorised(weights, spare, total_weight)
    assert quotients.tolist() == [spare * w // total_weight for w in weights]
    assert remainders.tolist() == [spare * w % total_weight for w in weights]
