"""The Lorenz curve of rewards each run records: exact, well formed, and the same as one computed
directly from what the settlement paid each account, on both engines."""

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from simulator.attribution_model import Kind
from simulator.economy.policies import policy_from_dict
from simulator.metrics import LORENZ_GRID, LORENZ_GROUPS, RewardTotals, gini, lorenz_curve
from simulator.model import make_model

from .conftest import small


def lorenz_by_definition(totals: list[int], share: Fraction) -> Fraction:
    """L(p): the rewards of the poorest p of the accounts, a fractional account counted in part."""
    ascending = sorted(totals)
    held, remaining = Fraction(0), share * len(ascending)
    for value in ascending:
        if remaining <= 0:
            break
        taken = min(Fraction(1), remaining)
        held += taken * value
        remaining -= taken
    return held / sum(ascending)


def gini_by_definition(totals: list[int]) -> Fraction:
    """Mean absolute difference over all pairs / (2 * mean)."""
    n, total = len(totals), sum(totals)
    differences = sum(abs(a - b) for a in totals for b in totals)
    return Fraction(differences, 2 * n * total)


def test_the_curve_is_exact_monotone_and_runs_from_0_to_1():
    rng = np.random.default_rng(3)
    totals = np.concatenate([np.zeros(7, dtype=np.int64), rng.integers(1, 10**12, size=53)])
    curve = lorenz_curve("honest", totals)
    expected = [float(lorenz_by_definition(totals.tolist(), Fraction(k, 20))) for k in range(21)]
    assert list(curve.shares) == expected
    assert curve.shares[0] == 0.0 and curve.shares[-1] == 1.0
    assert all(b >= a for a, b in zip(curve.shares, curve.shares[1:], strict=False))
    assert curve.accounts == 60 and curve.total_rewards == int(totals.sum())
    assert curve.gini == float(gini_by_definition(totals.tolist()))
    assert curve.gini == pytest.approx(gini(totals.astype(np.float64)))
    # The Gini of the 21 recorded points: chords lie above a convex curve, so it can only be lower.
    area = np.trapezoid(curve.shares, LORENZ_GRID)
    assert 1 - 2 * area <= curve.gini + 1e-12


def test_equal_rewards_give_the_equality_line_and_nobody_paid_gives_no_curve():
    equal = lorenz_curve("all", np.full(8, 5, dtype=np.int64))
    assert equal.shares == pytest.approx(LORENZ_GRID) and equal.gini == 0.0
    unpaid = lorenz_curve("honest", np.zeros(4, dtype=np.int64))
    assert unpaid.accounts == 4 and np.isnan(unpaid.gini) and np.isnan(unpaid.shares).all()
    with pytest.raises(ValueError, match="cannot be negative"):
        lorenz_curve("all", np.array([3, -1]))


def test_reward_totals_refuse_a_credit_to_an_account_never_admitted():
    totals = RewardTotals()
    totals.admit(np.array([0, 1]), np.array([Kind.HONEST, Kind.LAZY]))
    totals.credit(np.array([1, 1, 0]), np.array([2, 3, 4]))
    assert totals.totals.tolist() == [4, 5]
    with pytest.raises(ValueError, match="row 5, never admitted"):
        totals.credit(np.array([5]), np.array([1]))


def _attacked_world(epochs: int, contributors: int):
    scenario = small("sybil_attack", epochs=epochs, contributors=contributors)
    return scenario.with_changes(attacks=(dataclasses.replace(scenario.attacks[0], start_epoch=2),))


@pytest.mark.parametrize(
    ("engine", "epochs", "contributors"), [("vectorized", 30, 120), ("reference", 12, 40)]
)
def test_each_engine_records_the_curve_of_what_settlement_paid_each_account(engine, epochs, contributors):
    model = make_model(
        engine, _attacked_world(epochs, contributors), policy_from_dict("attribution_bonded", {}), seed=5
    )
    paid: dict[int, int] = {}
    settle_epoch = model.settle_epoch

    def settle_and_note(*args, **kwargs):
        work, settlement = settle_epoch(*args, **kwargs)
        rewards = settlement.payouts + settlement.fee_to_contributors
        for account, amount in zip(work.account.tolist(), rewards.tolist(), strict=True):
            paid[account] = paid.get(account, 0) + amount
        return work, settlement

    model.settle_epoch = settle_and_note
    model.run()
    recorded = model.reward_lorenz()

    if engine == "vectorized":
        kinds = model.contributors.kind.tolist()
    else:
        kinds = [int(agent.kind) for agent in model.contributors.by_row]
    everyone = [paid.get(row, 0) for row in range(len(kinds))]
    honest = [paid.get(row, 0) for row, kind in enumerate(kinds) if kind == Kind.HONEST]
    assert any(kind != Kind.HONEST for kind in kinds) and 0 in everyone  # both groups differ, zeros count
    assert set(recorded) == set(LORENZ_GROUPS)
    for group, totals in (("honest", honest), ("all", everyone)):
        curve = recorded[group]
        assert curve.accounts == len(totals) and curve.total_rewards == sum(totals) > 0
        assert list(curve.shares) == [float(lorenz_by_definition(totals, Fraction(k, 20))) for k in range(21)]
        assert curve.gini == float(gini_by_definition(totals))
