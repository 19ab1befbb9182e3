"""Fee split: every base unit of a fee lands somewhere, and in the right place."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.economy.fees import FeeSplitParams, split_fee

accounts = st.sampled_from([f"acct-{i}" for i in range(8)])
shares = st.integers(0, 10_000)


@st.composite
def fee_params(draw):
    contributors = draw(shares)
    model_owner = draw(st.integers(0, 10_000 - contributors))
    stakers = draw(st.integers(0, 10_000 - contributors - model_owner))
    return FeeSplitParams(
        contributors_bps=contributors,
        model_owner_bps=model_owner,
        stakers_bps=stakers,
        treasury_bps=10_000 - contributors - model_owner - stakers,
    )


@given(
    fee=st.integers(0, 10**6) | st.integers(0, 10**27),
    attribution=st.dictionaries(
        accounts, st.floats(-1.0, 1.0) | st.floats(allow_nan=False, allow_infinity=False)
    ),
    stakes=st.dictionaries(accounts, st.integers(0, 10**24)),
    model_owner=st.none() | st.just("owner"),
    params=fee_params(),
)
def test_a_fee_is_conserved_to_the_base_unit(fee, attribution, stakes, model_owner, params):
    split = split_fee(
        fee, attribution_scores=attribution, stakes=stakes, model_owner=model_owner, params=params
    )
    assert split.total == fee
    amounts = [
        *split.contributors.values(),
        *split.model_owner.values(),
        *split.stakers.values(),
        split.treasury,
    ]
    assert all(amount >= 0 for amount in amounts)
    assert all(attribution[account] > 0 for account in split.contributors)
    assert all(stakes[account] > 0 for account in split.stakers)
    # The four parts are within one unit of their basis points of the fee.
    for part, amount in split.explanation["parts"].items():
        exact = Fraction(fee * getattr(params, f"{part}_bps"), 10_000)
        assert abs(amount - exact) <= 1
    if model_owner is None:
        assert split.model_owner == {}


def test_default_split_is_half_contributors_then_owner_stakers_treasury():
    split = split_fee(
        10_000,
        attribution_scores={"ann": 3.0, "bob": 1.0, "eve": -2.0},
        stakes={"sam": 1, "sue": 3},
        model_owner="lab",
    )
    assert split.contributors == {"ann": 3750, "bob": 1250}
    assert split.model_owner == {"lab": 2000}
    assert split.stakers == {"sam": 500, "sue": 1500}
    assert split.treasury == 1000


def test_parts_with_nobody_to_pay_go_to_the_treasury():
    split = split_fee(1001, attribution_scores={"eve": -1.0}, stakes={"sam": 0}, model_owner=None)
    assert (split.contributors, split.model_owner, split.stakers) == ({}, {}, {})
    assert split.treasury == 1001
    assert split.explanation["redirected_to_treasury"] == {
        "contributors": 501,
        "model_owner": 200,
        "stakers": 200,
    }


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"fee": 1.5}, TypeError, "fee"),
        ({"fee": -1}, ValueError, "fee"),
        ({"stakes": {"sam": -1}}, ValueError, r"stakes\['sam'\]"),
        ({"attribution_scores": {"ann": float("inf")}}, ValueError, r"attribution_scores\['ann'\]"),
        ({"model_owner": ""}, TypeError, "model_owner"),
    ],
)
def test_bad_fee_inputs_are_refused_naming_them(kwargs, error, message):
    arguments = {"fee": 100, "attribution_scores": {}, "stakes": {}, "model_owner": "lab", **kwargs}
    with pytest.raises(error, match=message):
        split_fee(**arguments)


def test_fee_shares_must_add_up_to_100_percent():
    with pytest.raises(ValueError, match="must be 10000"):
        FeeSplitParams(treasury_bps=0)
    with pytest.raises(ValueError, match="FeeSplitParams.stakers_bps"):
        FeeSplitParams(stakers_bps=-5)


def test_a_call_is_priced_per_call_plus_per_token_in_exact_integers():
    from simulator.economy.policies import policy_from_dict

    by_call = policy_from_dict("attribution", {"price_per_call": 7})
    assert by_call.call_fee(tokens_in=120, tokens_out=30) == 7  # per token is 0 unless governance sets it
    by_token = policy_from_dict("attribution", {"price_per_call": 10**17, "price_per_token": 3 * 10**15 + 1})
    assert by_token.call_fee(tokens_in=120, tokens_out=30) == 10**17 + 150 * (3 * 10**15 + 1)
    assert by_token.call_fee(tokens_in=0, tokens_out=0) == 10**17
    for tokens, error in ((-1, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="tokens_in"):
            by_token.call_fee(tokens_in=tokens, tokens_out=0)
    with pytest.raises(ValueError, match="price_per_token"):
        policy_from_dict("attribution", {"price_per_token": -1})
