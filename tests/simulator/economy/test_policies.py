"""Emission policies: exact conservation and caps for any input, and the behaviour each promises."""

import copy
import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.economy.epoch import EpochInputs, Standing
from simulator.economy.policies import (
    POLICIES,
    AgreementParams,
    AttributionBondedParams,
    AttributionEvidenceParams,
    AttributionParams,
    VolumeParams,
    bond_slashes,
    bond_slashes_array,
    params_to_dict,
    policy_from_dict,
    run_policy,
)
from simulator.economy.units import largest_remainder_split_reference
from simulator.economy.weights import attribution_weights

ACCOUNT_NAMES = [f"acct-{i}" for i in range(12)]

bps = st.integers(0, 10_000)
params_strategies = {
    "volume": st.builds(VolumeParams, max_contributor_share_bps=bps),
    "agreement": st.builds(AgreementParams, min_agreement_bps=bps, max_contributor_share_bps=bps),
    "attribution": st.builds(AttributionParams, max_contributor_share_bps=bps),
    "attribution_bonded": st.builds(
        AttributionBondedParams,
        slash_rate_bps=bps,
        fee_multiple_bps=st.none() | st.integers(0, 10**6),
        max_cluster_share_bps=bps,
        max_contributor_share_bps=bps,
        min_bond=st.just(0) | st.integers(0, 10**6),
    ),
    "attribution_evidence": st.builds(
        AttributionEvidenceParams,
        confidence_centi_sd=st.integers(0, 300),
        min_judgments=st.integers(1, 100),
        min_bond=st.just(0) | st.integers(0, 10**6),
        max_cluster_share_bps=bps,
        max_contributor_share_bps=bps,
    ),
}
any_float = st.floats(allow_nan=False, allow_infinity=False)
scores = st.one_of(
    st.floats(0.01, 1.0),
    st.floats(-1.0, 1.0),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1e300, -1.0]),
    any_float,
)
rates = st.one_of(st.floats(0.0, 1.0), st.fractions(0, 1), st.sampled_from([0, 1, 0.5]))


@st.composite
def epoch_inputs(draw, scores=scores):
    accounts = draw(st.lists(st.sampled_from(ACCOUNT_NAMES), unique=True, max_size=len(ACCOUNT_NAMES)))

    def per_account(values):
        # Most accounts appear in most mappings, so that caps and clusters really bite.
        present = st.sampled_from([True, True, True, False])
        return {account: draw(values) for account in accounts if draw(present)}

    return EpochInputs(
        budget=draw(st.one_of(st.integers(0, 50), st.integers(10**20, 10**27))),
        fees_collected=draw(st.integers(0, 10**6) | st.integers(10**20, 10**26)),
        epoch=draw(st.integers(0, 2000)),
        judgment_counts=per_account(st.integers(0, 10**6)),
        agreement_rates=per_account(rates),
        attribution_scores=per_account(scores),
        bonds=per_account(st.integers(0, 10**25) | st.just(10**20)),
        flagged=draw(st.frozensets(st.sampled_from(ACCOUNT_NAMES), max_size=3)),
        clusters=per_account(st.sampled_from(["ring-1", "ring-2"])),
        standing=per_account(
            st.builds(Standing, st.floats(-1e3, 1e3), st.integers(0, 10**4), st.floats(-1e3, 1e3))
        ),
    )


def assert_policy_invariants(params, inputs, result):
    budget = inputs.budget
    assert sum(result.payouts.values()) + result.carry_over == budget
    assert result.carry_over >= 0
    assert all(payout > 0 for payout in result.payouts.values())
    contributor_cap = budget * params.max_contributor_share_bps // 10_000
    assert all(payout <= contributor_cap for payout in result.payouts.values())
    assert not set(result.payouts) & inputs.flagged
    withheld = result.explanation["withheld"]
    assert all(amount >= 0 for amount in withheld.values())
    assert sum(withheld.values()) == result.carry_over == result.explanation["carry_over"]
    for account, slash in result.slashes.items():
        assert 0 < slash <= inputs.bonds.get(account, 0)
        assert inputs.attribution_scores[account] < 0
    json.dumps(result.explanation)  # the explanation is stored and shown as JSON


@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_policy_pays_out_exactly_its_budget_within_its_caps(name, data):
    params = data.draw(params_strategies[name])
    inputs = data.draw(epoch_inputs())
    result = run_policy(params, inputs)
    assert_policy_invariants(params, inputs, result)
    source = inputs.judgment_counts if name in ("volume", "agreement") else inputs.attribution_scores
    assert set(result.payouts) <= set(source)
    if name == "attribution_bonded":
        for account, slash in result.slashes.items():
            assert slash <= inputs.bonds[account] * params.slash_rate_bps // 10_000
        if params.fee_multiple_bps is not None:
            assert result.total_paid <= inputs.fees_collected * params.fee_multiple_bps // 10_000
        for account in result.payouts:
            assert inputs.bonds.get(account, 0) >= params.min_bond
            assert inputs.attribution_scores[account] > 0


@settings(max_examples=50)
@given(data=st.data())
def test_policies_are_pure_functions_of_their_inputs(data):
    name = data.draw(st.sampled_from(sorted(POLICIES)))
    params = data.draw(params_strategies[name])
    inputs = data.draw(epoch_inputs())
    snapshot = copy.deepcopy(inputs)
    first = run_policy(params, inputs)
    assert inputs == snapshot  # nothing in the inputs was changed
    assert run_policy(params, inputs) == first


@settings(max_examples=100)
@given(
    inputs=epoch_inputs(scores=st.floats(-1.0, 1.0) | st.floats(0.01, 1.0)),
    cluster_share_bps=st.integers(1, 10_000),
)
def test_no_identity_cluster_gets_more_than_the_cluster_cap(inputs, cluster_share_bps):
    params = AttributionBondedParams(fee_multiple_bps=None, max_cluster_share_bps=cluster_share_bps)
    result = run_policy(params, inputs)
    assert_policy_invariants(params, inputs, result)
    cluster_cap = inputs.budget * cluster_share_bps // 10_000
    by_cluster: dict[str, int] = {}
    for account, payout in result.payouts.items():
        cluster = inputs.clusters.get(account, "lone:" + account)
        by_cluster[cluster] = by_cluster.get(cluster, 0) + payout
    assert all(total <= cluster_cap for total in by_cluster.values())


@settings(max_examples=100)
@given(inputs=epoch_inputs())
def test_attribution_without_caps_is_the_exact_largest_remainder_split(inputs):
    result = run_policy(AttributionParams(), inputs)
    eligible = {a: s for a, s in inputs.attribution_scores.items() if a not in inputs.flagged}
    weights = dict(zip(eligible, attribution_weights(list(eligible.values())).tolist(), strict=True))
    expected = largest_remainder_split_reference(inputs.budget, weights)
    assert result.payouts == {account: share for account, share in expected.items() if share}


def test_volume_pays_per_judgment_and_excludes_flagged():
    inputs = EpochInputs(budget=1000, judgment_counts={"ann": 30, "bob": 10, "eve": 60}, flagged={"eve"})
    result = run_policy(VolumeParams(), inputs)
    assert result.payouts == {"ann": 750, "bob": 250}
    assert result.carry_over == 0


def test_agreement_weights_judgments_by_agreement_and_applies_the_threshold():
    inputs = EpochInputs(
        budget=900,
        judgment_counts={"ann": 10, "bob": 10, "cat": 10},
        agreement_rates={"ann": 1.0, "bob": Fraction(1, 2), "cat": 0.25},
    )
    assert run_policy(AgreementParams(), inputs).payouts == {"ann": 514, "bob": 257, "cat": 129}
    strict = run_policy(AgreementParams(min_agreement_bps=5000), inputs)
    assert strict.payouts == {"ann": 600, "bob": 300}  # exactly 50% still counts


def test_agreement_stays_exact_for_judgment_counts_beyond_int64():
    huge = 2**60
    inputs = EpochInputs(
        budget=10**27 + 1,
        judgment_counts={"ann": huge, "bob": huge * 3},
        agreement_rates={"ann": 1.0, "bob": 1.0},
    )
    result = run_policy(AgreementParams(), inputs)
    assert result.payouts == largest_remainder_split_reference(10**27 + 1, {"ann": 1, "bob": 3})


def test_attribution_pays_positive_attribution_only_and_carries_over_when_nobody_qualifies():
    inputs = EpochInputs(budget=1000, attribution_scores={"ann": 0.3, "bob": 0.1, "eve": -0.5, "zed": 0.0})
    assert run_policy(AttributionParams(), inputs).payouts == {"ann": 750, "bob": 250}
    nobody = run_policy(AttributionParams(), EpochInputs(budget=1000, attribution_scores={"eve": -1.0}))
    assert nobody.payouts == {}
    assert nobody.carry_over == 1000
    assert nobody.explanation["withheld"]["no_eligible_weight"] == 1000


def test_contributor_cap_carries_the_excess_over():
    inputs = EpochInputs(budget=1000, judgment_counts={"whale": 90, "minnow": 10})
    result = run_policy(VolumeParams(max_contributor_share_bps=5000), inputs)
    assert result.payouts == {"whale": 500, "minnow": 100}
    assert result.carry_over == 400
    assert result.explanation["withheld"]["contributor_cap"] == 400


def test_bonded_policy_slashes_harm_in_proportion_and_never_beyond_the_bond():
    inputs = EpochInputs(
        budget=1000,
        fees_collected=10**6,
        attribution_scores={"good": 1.0, "bad": -1.0, "meh": -0.25, "broke": -1.0},
        bonds={"good": 400, "bad": 400, "meh": 400, "broke": 0},
    )
    params = AttributionBondedParams(slash_rate_bps=5000, max_cluster_share_bps=10_000)
    result = run_policy(params, inputs)
    assert result.slashes == {
        "bad": 200,
        "meh": 50,
    }  # half the bond at the worst harm, a quarter of that for a quarter
    assert result.payouts == {"good": 1000}
    full = run_policy(AttributionBondedParams(slash_rate_bps=10_000), inputs)
    assert full.slashes["bad"] == 400


def test_bonded_policy_caps_rewards_at_a_multiple_of_fees():
    inputs = EpochInputs(budget=10_000, fees_collected=1000, attribution_scores={"ann": 1.0, "bob": 1.0})
    params = AttributionBondedParams(fee_multiple_bps=30_000, max_cluster_share_bps=10_000)
    result = run_policy(params, inputs)
    assert result.payouts == {"ann": 1500, "bob": 1500}
    assert result.explanation["withheld"]["fee_cap"] == 7000
    uncapped = run_policy(
        AttributionBondedParams(fee_multiple_bps=None, max_cluster_share_bps=10_000), inputs
    )
    assert uncapped.total_paid == 10_000


def test_bonded_policy_pays_only_contributors_with_the_minimum_bond():
    inputs = EpochInputs(budget=100, attribution_scores={"ann": 1.0, "bob": 1.0}, bonds={"ann": 5, "bob": 4})
    params = AttributionBondedParams(fee_multiple_bps=None, max_cluster_share_bps=10_000, min_bond=5)
    assert run_policy(params, inputs).payouts == {"ann": 100}


def _sybil_share(params, sybil_accounts: int) -> Fraction:
    """Share of the budget a ring of ``sybil_accounts`` accounts takes beside 20 honest people.

    Every account, honest or not, submits the same number of judgments and shows the same
    attribution: the worst case for the cap, where the ring's copies look as useful as real work.
    """
    honest = [f"honest-{i}" for i in range(20)]
    ring = [f"sybil-{i}" for i in range(sybil_accounts)]
    everyone = honest + ring
    inputs = EpochInputs(
        budget=10**24,
        fees_collected=10**24,
        judgment_counts=dict.fromkeys(everyone, 10),
        attribution_scores=dict.fromkeys(everyone, 0.01),
        clusters=dict.fromkeys(ring, "ring"),
    )
    result = run_policy(params, inputs)
    return Fraction(sum(result.payouts.get(account, 0) for account in ring), inputs.budget)


def test_a_sybil_ring_gains_with_every_account_under_volume_but_not_past_the_cluster_cap():
    sizes = [1, 2, 5, 10, 50]
    volume = [_sybil_share(VolumeParams(), n) for n in sizes]
    assert all(later > earlier for earlier, later in zip(volume, volume[1:], strict=False))
    assert volume[-1] > Fraction(2, 3)

    capped = AttributionBondedParams(fee_multiple_bps=None, max_cluster_share_bps=1000)
    bonded = [_sybil_share(capped, n) for n in sizes]
    assert all(share <= Fraction(1, 10) for share in bonded)
    assert bonded[2] == bonded[3] == bonded[4] == Fraction(1, 10)  # more accounts, no more reward


def test_params_round_trip_through_json():
    for name, spec in POLICIES.items():
        params = spec.params_type()
        again = policy_from_dict(name, json.loads(json.dumps(params_to_dict(params))))
        assert again == params
        assert {field["name"] for field in spec.describe()} == set(params_to_dict(params))
        assert all(field["help"] for field in spec.describe())
    proposal = policy_from_dict("attribution_bonded", {"slash_rate_bps": 500, "fee_multiple_bps": None})
    assert proposal.slash_rate_bps == 500
    assert proposal.fee_multiple_bps is None
    assert proposal.version == POLICIES["attribution_bonded"].version == 2


@pytest.mark.parametrize(
    ("name", "params", "error", "message"),
    [
        (
            "volume",
            {"max_contributor_share_bps": 10_001},
            ValueError,
            "VolumeParams.max_contributor_share_bps",
        ),
        ("volume", {"max_share": 10}, ValueError, "unknown field 'max_share'"),
        ("agreement", {"min_agreement_bps": 0.5}, TypeError, "AgreementParams.min_agreement_bps"),
        ("attribution_bonded", {"slash_rate_bps": -1}, ValueError, "AttributionBondedParams.slash_rate_bps"),
        (
            "attribution_bonded",
            {"fee_multiple_bps": "3x"},
            TypeError,
            "AttributionBondedParams.fee_multiple_bps",
        ),
        ("attribution_bonded", {"min_bond": True}, TypeError, "AttributionBondedParams.min_bond"),
        ("quadratic", {}, ValueError, "unknown policy 'quadratic'"),
        ("volume", ["max_contributor_share_bps"], TypeError, "volume: parameters must be an object"),
    ],
)
def test_bad_governance_parameters_are_refused_naming_the_field(name, params, error, message):
    with pytest.raises(error, match=message):
        policy_from_dict(name, params)


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"budget": 1.5}, TypeError, "EpochInputs.budget"),
        ({"budget": -1}, ValueError, "EpochInputs.budget"),
        ({"budget": 1, "judgment_counts": {"ann": -1}}, ValueError, r"EpochInputs.judgment_counts\['ann'\]"),
        ({"budget": 1, "judgment_counts": {"ann": 2.0}}, TypeError, r"EpochInputs.judgment_counts\['ann'\]"),
        ({"budget": 1, "agreement_rates": {"ann": 1.5}}, ValueError, r"EpochInputs.agreement_rates\['ann'\]"),
        (
            {"budget": 1, "attribution_scores": {"ann": float("nan")}},
            ValueError,
            "EpochInputs.attribution_scores",
        ),
        ({"budget": 1, "attribution_scores": {"": 1.0}}, TypeError, "EpochInputs.attribution_scores key"),
        ({"budget": 1, "bonds": {"ann": "5"}}, TypeError, r"EpochInputs.bonds\['ann'\]"),
        ({"budget": 1, "flagged": "ann"}, TypeError, "EpochInputs.flagged"),
        ({"budget": 1, "clusters": {"ann": 3}}, TypeError, r"EpochInputs.clusters\['ann'\]"),
    ],
)
def test_bad_epoch_inputs_are_refused_naming_the_field(fields, error, message):
    with pytest.raises(error, match=message):
        EpochInputs(**fields)


def test_run_policy_refuses_what_is_not_a_registered_policy():
    with pytest.raises(TypeError, match="not the parameters of a registered policy"):
        run_policy(object(), EpochInputs(budget=1))


def test_caps_bind_on_the_reward_pool_not_on_a_budget_swollen_by_carry_over():
    from simulator.economy.policies import AttributionBondedParams, run_policy

    inputs = EpochInputs(
        budget=1_000_000_000,  # mostly carried over from epochs with few fees
        fees_collected=100,
        attribution_scores={"sybil-1": 5.0, "sybil-2": 5.0, "honest": 1.0},
        clusters={"sybil-1": "ring", "sybil-2": "ring"},
    )
    result = run_policy(AttributionBondedParams(fee_multiple_bps=30_000, max_cluster_share_bps=1_000), inputs)
    pool = 300  # 3x the fees
    assert result.explanation["reward_pool"] == pool
    assert result.payouts.get("sybil-1", 0) + result.payouts.get("sybil-2", 0) <= pool // 10
    assert result.payouts["honest"] <= pool // 10
    assert sum(result.payouts.values()) + result.carry_over == inputs.budget


@settings(max_examples=300)
@given(
    rows=st.lists(
        st.tuples(
            scores, st.integers(0, 10**15) | st.integers(0, 2**63 - 1) | st.sampled_from([0, 2**63 - 1])
        ),
        max_size=40,
    ),
    slash_rate_bps=bps,
)
def test_bond_slashes_over_arrays_equal_the_scalar_slashes(rows, slash_rate_bps):
    # Simulator-sized bonds take the exact int64 path; bonds near 2**63 the Python-int one.
    names = [f"acct-{i}" for i in range(len(rows))]
    score_values = [score for score, _ in rows]
    bond_values = [bond for _, bond in rows]
    scalar = bond_slashes(
        dict(zip(names, score_values, strict=True)),
        dict(zip(names, bond_values, strict=True)),
        slash_rate_bps,
    )
    arrays = bond_slashes_array(
        np.array(score_values, dtype=np.float64), np.array(bond_values, dtype=np.int64), slash_rate_bps
    )
    assert arrays.tolist() == [scalar.get(name, 0) for name in names]


def test_bond_slashes_over_arrays_refuse_mismatched_or_negative_input():
    with pytest.raises(ValueError, match="shapes"):
        bond_slashes_array(np.array([-1.0, 1.0]), np.array([5]), 100)
    with pytest.raises(ValueError, match="bonds must be >= 0"):
        bond_slashes_array(np.array([-1.0]), np.array([-5]), 100)
