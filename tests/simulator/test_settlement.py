"""Settlement calls the economy's own policies; grouping identical contributors changes nobody's
pay by more than a unit or two, and conservation stays exact."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.accounting import policy_in_sim_units
from simulator.attribution_model import AttributionModelParams, Kind, attribution_figures, scores
from simulator.economy.epoch import EpochInputs, Standing
from simulator.economy.fees import split_fee
from simulator.economy.policies import POLICIES, policy_from_dict, run_policy
from simulator.oracle import simulation_policy_from_dict
from simulator.settlement import (
    GROUPED,
    MODEL_OWNER_ACCOUNT,
    PER_ACCOUNT,
    EpochWork,
    StandingBook,
    account_name,
    settle,
    split_equally,
    split_pro_rata,
)

BUDGET = 428_541_666_666
FEES = 10_000_000_000


def random_work(n: int, seed: int) -> EpochWork:
    rng = np.random.default_rng(seed)
    kind = rng.choice(len(Kind), n, p=[0.8, 0.1, 0.04, 0.03, 0.03]).astype(np.int8)
    count = 1 + rng.poisson(4, n)
    correct = rng.binomial(count, np.where(kind == Kind.FLIPPER, 0.2, 0.7))
    duplicates = np.where(kind == Kind.SYBIL, 10, 1)
    score = scores(
        kind,
        count,
        correct,
        duplicates,
        rng.standard_normal(n),
        attribution_figures(AttributionModelParams()),
    )
    return EpochWork(
        account=np.arange(n) * 3 + 7,
        kind=kind,
        count=count,
        correct=correct,
        agreed=rng.binomial(count, 0.8),
        flagged=rng.random(n) < 0.05,
        score=score,
        true_value=np.maximum(score, 0),
        bond=np.where(rng.random(n) < 0.7, 50_000_000, rng.integers(0, 50_000_000, n)),
        cluster=np.where(kind == Kind.SYBIL, rng.integers(0, 3, n), -1),
        hours=np.ones(n),
    )


CASES = [(name, {}) for name in sorted(POLICIES)] + [
    ("volume", {"max_contributor_share_bps": 50}),
    ("agreement", {"min_agreement_bps": 7000, "max_contributor_share_bps": 100}),
    ("attribution_bonded", {"fee_multiple_bps": None, "min_bond": 30 * 10**18}),
    ("attribution_bonded", {"max_cluster_share_bps": 20, "slash_rate_bps": 10_000}),
]


@pytest.mark.parametrize(("name", "params"), CASES)
def test_grouped_settlement_pays_each_account_what_per_account_settlement_pays(name, params):
    policy = policy_in_sim_units(policy_from_dict(name, params))
    work = random_work(3000, seed=len(params))
    stakes = {row: 10**9 + row for row in range(40)}
    exact = settle(
        policy,
        work,
        budget=BUDGET,
        fees=FEES,
        epoch=5,
        stakes=stakes,
        mode=PER_ACCOUNT,
        standing=StandingBook(),
    )
    grouped = settle(
        policy, work, budget=BUDGET, fees=FEES, epoch=5, stakes=stakes, mode=GROUPED, standing=StandingBook()
    )
    for outcome in (exact, grouped):
        assert int(outcome.payouts.sum()) + outcome.carry_over == BUDGET
        assert (
            int(outcome.fee_to_contributors.sum())
            + sum(outcome.fee_to_stakers.values())
            + outcome.fee_to_model_owner
            + outcome.fee_to_treasury
            == FEES
        )
    assert np.abs(exact.payouts - grouped.payouts).max() <= 2
    assert np.abs(exact.fee_to_contributors - grouped.fee_to_contributors).max() <= 2
    assert np.array_equal(exact.slashes, grouped.slashes)
    # A cluster cap carries over the cluster's integer share beyond the cap; the largest-remainder split hands
    # that share's odd units out differently when the other accounts are pooled, so what is carried over may
    # differ by a unit per member of a capped cluster (seen: a few units in some seeds, with either profile).
    # Without a cluster cap it is the same to the unit.
    cluster_members = np.count_nonzero(work.cluster >= 0) if policy.name == "attribution_bonded" else 0
    assert abs(exact.carry_over - grouped.carry_over) <= cluster_members
    assert exact.fee_to_stakers == grouped.fee_to_stakers
    assert not np.any(exact.payouts[work.flagged]) and not np.any(exact.fee_to_contributors[work.flagged])


def test_grouping_calls_the_policy_with_far_fewer_accounts():
    policy = policy_from_dict("volume", {})
    work = random_work(20_000, seed=1)
    grouped = settle(policy, work, budget=BUDGET, fees=FEES, epoch=0, stakes={}, mode=GROUPED)
    assert grouped.accounts_settled < 100
    assert not grouped.regrouped_per_account


def test_a_cap_that_binds_a_pseudo_account_sends_the_epoch_per_account():
    # One cap in a hundred thousand of the budget: any group of identical accounts would hit it.
    policy = policy_from_dict("volume", {"max_contributor_share_bps": 1})
    work = random_work(500, seed=3)
    grouped = settle(policy, work, budget=BUDGET, fees=FEES, epoch=0, stakes={}, mode=GROUPED)
    exact = settle(policy, work, budget=BUDGET, fees=FEES, epoch=0, stakes={}, mode=PER_ACCOUNT)
    assert np.abs(exact.payouts - grouped.payouts).max() <= 2
    assert int(grouped.payouts.max()) <= BUDGET // 10_000


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="settlement mode"):
        settle(
            policy_from_dict("volume", {}),
            random_work(3, 0),
            budget=1,
            fees=0,
            epoch=0,
            stakes={},
            mode="fast",
        )


def test_split_pro_rata_is_exact():
    shares = split_pro_rata(1_000_003, np.array([1, 2, 3, 0]))
    assert shares.sum() == 1_000_003 and shares[3] == 0 and shares[2] > shares[1] > shares[0]


@given(total=st.integers(0, 10**15), count=st.integers(0, 300))
def test_split_equally_is_split_pro_rata_with_equal_weights(total, count):
    assert (
        split_equally(total, count).tolist() == split_pro_rata(total, np.ones(count, dtype=np.int64)).tolist()
    )


def test_grouped_bonded_settlement_slashes_negative_scores_outside_the_policy_call_to_the_unit():
    policy = policy_in_sim_units(policy_from_dict("attribution_bonded", {"slash_rate_bps": 7_500}))
    work = random_work(4000, seed=11)
    harmful = int(np.count_nonzero(work.score < 0))
    assert harmful > 100
    exact = settle(policy, work, budget=BUDGET, fees=FEES, epoch=2, stakes={}, mode=PER_ACCOUNT)
    grouped = settle(policy, work, budget=BUDGET, fees=FEES, epoch=2, stakes={}, mode=GROUPED)
    assert np.array_equal(exact.slashes, grouped.slashes) and exact.slashes.any()
    for figure in ("slashed_total", "contributors_slashed"):
        assert grouped.explanation[figure] == exact.explanation[figure]
    # The policy saw pseudo-accounts and cluster members only, none of the harmful accounts.
    assert grouped.accounts_settled < len(work) - harmful


def test_the_evidence_policy_in_the_simulator_pays_what_the_economy_pays_epoch_after_epoch():
    """The simulator keeps standing in arrays; the economy takes it as a mapping. Three epochs, some
    accounts absent some days: every payout, fee share and standing is the same to the unit."""
    policy = policy_in_sim_units(policy_from_dict("attribution_evidence", {"min_judgments": 6}))
    book, standing = StandingBook(), {}
    stakes = {row: 10**9 + row for row in range(5)}
    for epoch in range(3):
        work = random_work(400, seed=10 + epoch)
        present = np.random.default_rng(epoch).random(len(work.account)) < 0.8
        work = EpochWork(**{name: getattr(work, name)[present] for name in EpochWork.__dataclass_fields__})
        simulated = settle(policy, work, budget=BUDGET, fees=FEES, epoch=epoch, stakes=stakes, standing=book)
        names = [account_name(row) for row in work.account.tolist()]
        result = run_policy(
            policy,
            EpochInputs(
                budget=BUDGET,
                fees_collected=FEES,
                epoch=epoch,
                judgment_counts=dict(zip(names, work.count.tolist(), strict=True)),
                attribution_scores=dict(zip(names, work.score.tolist(), strict=True)),
                bonds=dict(zip(names, work.bond.tolist(), strict=True)),
                flagged=frozenset(n for n, f in zip(names, work.flagged.tolist(), strict=True) if f),
                clusters={
                    n: f"cluster-{c}" for n, c in zip(names, work.cluster.tolist(), strict=True) if c >= 0
                },
                standing=standing,
            ),
        )
        standing = {**standing, **result.standing}
        fees = split_fee(
            FEES,
            contributor_weights=result.fee_weights,
            stakes={f"s{row}": stake for row, stake in stakes.items()},
            model_owner=MODEL_OWNER_ACCOUNT,
            params=policy.fee_split(),
        )
        assert dict(zip(names, simulated.payouts.tolist(), strict=True)) == {
            n: result.payouts.get(n, 0) for n in names
        }
        assert dict(zip(names, simulated.fee_to_contributors.tolist(), strict=True)) == {
            n: fees.contributors.get(n, 0) for n in names
        }
        assert (
            simulated.carry_over == result.carry_over
            and int(simulated.payouts.sum()) + simulated.carry_over == BUDGET
        )
        evidence, judgments, credited = book.take(work.account)
        assert [
            Standing(*entry)
            for entry in zip(evidence.tolist(), judgments.tolist(), credited.tolist(), strict=True)
        ] == [standing[n] for n in names]
    assert result.explanation["contributors_paid"] > 0


def test_the_oracle_pays_in_proportion_to_true_value_and_conserves():
    oracle = simulation_policy_from_dict("oracle", {})
    work = random_work(500, seed=3)
    outcome = settle(oracle, work, budget=BUDGET, fees=FEES, epoch=0, stakes={})
    assert int(outcome.payouts.sum()) + outcome.carry_over == BUDGET and outcome.carry_over == 0
    valued = work.true_value > 0
    assert not outcome.payouts[~valued].any() and not outcome.fee_to_contributors[~valued].any()
    expected = BUDGET * work.true_value / work.true_value.sum()
    assert np.abs(outcome.payouts - expected).max() < BUDGET * 1e-9
    with pytest.raises(
        TypeError, match="not the parameters of a registered policy"
    ):  # governance cannot run it
        run_policy(oracle, EpochInputs(budget=1))
