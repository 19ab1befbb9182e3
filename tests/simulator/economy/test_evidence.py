"""attribution_evidence: pay by a confidence bound of cumulative evidence, not by each epoch's noise."""

import numpy as np
import pytest

from simulator.economy.epoch import EpochInputs, Standing
from simulator.economy.evidence import noise_estimate
from simulator.economy.policies import (
    AttributionEvidenceParams,
    AttributionParams,
    explain_account,
    policy_from_dict,
    run_policy,
)

BUDGET = 10**24


def _epochs(params, score_draws, *, epochs, counts=20, flagged=frozenset()):
    """Run ``epochs`` epochs; ``score_draws(rng)`` gives one epoch's {account: score}. Returns the
    total paid per account and the last result."""
    rng = np.random.default_rng(7)
    standing: dict[str, Standing] = {}
    totals: dict[str, int] = {}
    result = None
    for epoch in range(epochs):
        scores = score_draws(rng)
        result = run_policy(
            params,
            EpochInputs(
                budget=BUDGET,
                epoch=epoch,
                judgment_counts=dict.fromkeys(scores, counts),
                attribution_scores=scores,
                flagged=flagged,
                standing=standing,
            ),
        )
        assert sum(result.payouts.values()) + result.carry_over == BUDGET
        standing = {**standing, **result.standing}
        for account, amount in result.payouts.items():
            totals[account] = totals.get(account, 0) + amount
    return totals, result


def _honest_and_noise(rng, n=20):
    """Per-judgment scores with sd 4: honest accounts add 1 per judgment, noise accounts 0."""
    spread = 4.0 * np.sqrt(n)
    honest = {f"h{i}": float(rng.normal(n * 1.0, spread)) for i in range(60)}
    noise = {f"z{i}": float(rng.normal(0.0, spread)) for i in range(60)}
    return honest | noise


def _noise_share(totals):
    paid = sum(totals.values())
    return sum(amount for account, amount in totals.items() if account.startswith("z")) / paid


def test_accounts_that_add_nothing_collect_little_of_what_attribution_pays_them():
    evidence_totals, _ = _epochs(AttributionEvidenceParams(), _honest_and_noise, epochs=40)
    attribution_totals, _ = _epochs(AttributionParams(), _honest_and_noise, epochs=40)
    assert _noise_share(attribution_totals) > 0.2  # the positive tail of the noise is paid
    # Half the accounts are noise here; the high-water mark pays their running maximum only.
    assert _noise_share(evidence_totals) < 0.12
    assert _noise_share(evidence_totals) * 2.5 < _noise_share(attribution_totals)
    # A bound one standard error below the evidence pays noise less still.
    bounded_totals, _ = _epochs(AttributionEvidenceParams(confidence_centi_sd=100), _honest_and_noise, epochs=40)
    assert _noise_share(bounded_totals) < _noise_share(evidence_totals)


def test_a_negative_balance_carries_forward_until_it_is_earned_back():
    params = AttributionEvidenceParams(confidence_centi_sd=0, min_judgments=1)
    crowd = {f"h{i}": 10.0 * (i - 8) for i in range(20)}  # a steady spread: the noise stays about the same
    standing: dict[str, Standing] = {}
    paid = {"fell": [], "fresh": []}
    for epoch in range(30):
        scores = {**crowd, "fell": -300.0 if epoch == 0 else 20.0}
        if epoch:
            scores["fresh"] = 20.0  # the same work, without the harmful first epoch
        result = run_policy(
            params,
            EpochInputs(
                budget=BUDGET, epoch=epoch, judgment_counts=dict.fromkeys(scores, 10),
                attribution_scores=scores, standing=standing,
            ),
        )  # fmt: skip
        standing = {**standing, **result.standing}
        for account in paid:
            paid[account].append(result.payouts.get(account, 0))
    assert paid["fresh"][1] > 0 and paid["fell"][1] == 0  # under `attribution` both would be paid alike
    first_paid = next(epoch for epoch, amount in enumerate(paid["fell"]) if amount)
    assert first_paid > 5 and standing["fell"].evidence > 0
    assert sum(paid["fell"]) < sum(paid["fresh"])
    bare = run_policy(
        AttributionParams(),
        EpochInputs(budget=BUDGET, attribution_scores={**crowd, "fell": 20.0, "fresh": 20.0}),
    )
    assert bare.payouts["fell"] == bare.payouts["fresh"] > 0


def test_evidence_before_the_minimum_of_judgments_is_kept_and_paid_once_it_is_reached():
    params = AttributionEvidenceParams(confidence_centi_sd=0, min_judgments=30, max_cluster_share_bps=10_000)
    standing: dict[str, Standing] = {}
    paid, paid_old = [], []
    for epoch in range(4):
        scores = {"old": 5.0, "new": 5.0, "other": 1.0}
        counts = {"old": 30, "new": 10, "other": 30}
        result = run_policy(
            params,
            EpochInputs(
                budget=BUDGET,
                epoch=epoch,
                judgment_counts=counts,
                attribution_scores=scores,
                standing=standing,
            ),
        )
        standing = {**standing, **result.standing}
        paid.append(result.payouts.get("new", 0))
        paid_old.append(result.payouts.get("old", 0))
        if epoch < 2:
            assert result.explanation["accounts"]["new"]["status"] == "needs_judgments"
    assert paid[0] == paid[1] == 0
    # At 30 judgments the three epochs of evidence are paid at once: more than "old" got that epoch.
    assert paid[2] > paid_old[2] > 0


def test_a_flag_forfeits_what_the_bound_gained_that_epoch_and_its_fee_share():
    params = AttributionEvidenceParams(confidence_centi_sd=0, min_judgments=1)
    scores = {"a": 10.0, "b": 8.0, "c": 1.0}
    inputs = EpochInputs(
        budget=BUDGET,
        judgment_counts=dict.fromkeys(scores, 5),
        attribution_scores=scores,
        flagged=frozenset({"a"}),
    )
    result = run_policy(params, inputs)
    assert "a" not in result.payouts and "a" not in result.fee_weights
    assert result.fee_weights.keys() == result.payouts.keys() == {"b", "c"}
    assert result.standing["a"].credited == result.explanation["accounts"]["a"]["bound"] > 0
    # Next epoch, unflagged, the same score pays only the new rise, not the forfeited one.
    again = run_policy(
        params,
        EpochInputs(
            budget=BUDGET,
            epoch=1,
            judgment_counts=dict.fromkeys(scores, 5),
            attribution_scores=scores,
            standing=result.standing,
        ),
    )
    gained = again.explanation["accounts"]["a"]
    assert gained["gain"] == pytest.approx(gained["bound"] - result.standing["a"].credited)


def test_the_result_does_not_depend_on_the_order_of_the_accounts():
    rng = np.random.default_rng(3)
    scores = {f"acct-{i}": float(rng.normal(1.0, 5.0)) for i in range(200)}
    standing = {account: Standing(float(rng.normal()), int(rng.integers(0, 50)), 0.0) for account in scores}
    params = AttributionEvidenceParams(min_judgments=5)

    def settle(order):
        return run_policy(
            params,
            EpochInputs(
                budget=BUDGET + 7,
                judgment_counts={a: 3 for a in order},
                attribution_scores={a: scores[a] for a in order},
                standing={a: standing[a] for a in order},
            ),
        )

    forward, backward = settle(list(scores)), settle(list(reversed(scores)))
    assert forward.payouts == backward.payouts
    assert forward.standing == backward.standing
    assert noise_estimate(np.array(list(scores.values())), np.full(200, 3)) == noise_estimate(
        np.array(list(reversed(scores.values()))), np.full(200, 3)
    )


def test_an_epoch_without_a_noise_estimate_pays_nobody_carries_its_budget_and_says_why():
    result = run_policy(
        AttributionEvidenceParams(),
        EpochInputs(
            budget=BUDGET,
            judgment_counts={"alone": 40},
            attribution_scores={"alone": 3.0},
            standing={"alone": Standing(50.0, 400, 1.0)},
        ),
    )
    assert result.payouts == {} and result.carry_over == BUDGET and result.standing == {}
    assert "at least two accounts" in result.explanation["evidence"]["reason"]
    assert "not counted" in " ".join(explain_account(result.explanation, "alone", 0))


def test_the_earnings_words_name_the_score_bound_and_carried_balance():
    _, result = _epochs(AttributionEvidenceParams(), _honest_and_noise, epochs=10)
    paid = next(account for account in result.payouts if account.startswith("h"))
    words = " ".join(explain_account(result.explanation, paid, result.payouts[paid]))
    detail = result.explanation["accounts"][paid]
    assert f"{detail['bound']:.2f}" in words and f"{detail['evidence']:.2f}" in words and "OPEN" in words
    unpaid = next(
        account for account, d in result.explanation["accounts"].items() if d["status"] == "below_bound"
    )
    assert "paid you nothing" in " ".join(explain_account(result.explanation, unpaid, 0))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("min_judgments", 0, "min_judgments: must be >= 1"),
        ("min_bond", -1, "min_bond: must be >= 0"),
        ("confidence_centi_sd", -5, "confidence_centi_sd: must be >= 0"),
        ("max_cluster_share_bps", 10_001, "max_cluster_share_bps: must be <= 10000"),
        ("fee_contributors_bps", 9000, r"fee_contributors_bps \+ fee_model_owner_bps"),
        ("too_fast_bps", 0, "too_fast_bps: must be >= 1"),
    ],
)
def test_a_parameter_set_that_cannot_work_is_refused_naming_the_field(field, value, message):
    with pytest.raises((ValueError, TypeError), match=message):
        policy_from_dict("attribution_evidence", {field: value})


def test_the_policy_parameters_carry_the_shared_money_rules():
    params = policy_from_dict("attribution_evidence", {"fee_contributors_bps": 6000, "fee_treasury_bps": 0})
    split = params.fee_split()
    assert (split.contributors_bps, split.treasury_bps) == (6000, 0)
    assert (
        policy_from_dict("volume", {}).fee_split() == policy_from_dict("attribution_bonded", {}).fee_split()
    )
