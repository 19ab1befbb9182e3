"""The vectorized engine: populations as numpy arrays, one row per person.

Each population is a single Mesa agent (so ``model.agents_by_type`` has one agent set per
population type, as in mesa-frames) whose verbs act on all its rows at once: ``judge`` draws the
whole day's work with a handful of array operations, ``credit`` pays every row, and so on. The
rules are those of the reference engine (:mod:`simulator.agents`), where each person is an agent;
the tests check that both give the same aggregate results within Monte Carlo error.

Money columns are int64 sim units (micro-OPEN); see :mod:`simulator.accounting`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from simulator.accounting import MICRO_USD_PER_USD, SIM_UNITS_PER_OPEN
from simulator.attribution_model import (
    Kind,
    attribution_figures,
    correct_probability,
    draw_noise,
    scores,
    true_contribution,
)
from simulator.judging import agreed_count, judgments_on_active_day
from simulator.model import LedgerloopModel
from simulator.settlement import GROUPED, EpochWork, split_pro_rata

if TYPE_CHECKING:
    from simulator.replay import ReplayLog

_TRAIT_TYPES = {
    "kind": np.int8,
    "quality": np.float64,
    "participation": np.float64,
    "rate": np.float64,
    "seconds": np.float64,
    "wage": np.float64,
    "account_cost": np.float64,
    "sell_fraction": np.float64,
    "flag_probability": np.float64,
    "agreement": np.float64,
    "cluster": np.int64,
    "detected": bool,
    "attack": np.int64,
    "end_epoch": np.int64,
    "arrived": np.int64,
    "replay_index": np.int64,  # the contributor's index in a replayed feedback log, -1 if simulated
}
_STATE_TYPES = {
    "present": bool,
    "wallet": np.int64,
    "bond": np.int64,
    "earned_today": np.int64,
    "ema_earn": np.float64,  # moving averages of daily earnings and costs, dollars
    "ema_cost": np.float64,
    "value_usd": np.float64,  # everything received, valued when received
    "cost_usd": np.float64,  # time at the reservation wage, account costs, bonds bought
}


class ContributorPopulation(mesa.Agent):
    """All contributor accounts, one row each; rows are never reused (leavers keep their row)."""

    model: LedgerloopModel  # set by mesa.Agent; declared so that __getattr__ (the columns) does not answer it

    def __init__(self, model: LedgerloopModel, capacity: int = 1024) -> None:
        super().__init__(model)
        self.size = 0
        self.columns: dict[str, np.ndarray] = {
            name: np.zeros(capacity, dtype=dtype) for name, dtype in {**_TRAIT_TYPES, **_STATE_TYPES}.items()
        }
        params = model.scenario.contributors
        self.memory = params.earnings_memory_epochs
        self.min_tenure = params.min_tenure_epochs
        self.majority_accuracy = params.majority_accuracy
        self.replay_rows: dict[int, int] = {}  # replayed log index -> row

    def __getattr__(self, name: str) -> np.ndarray:
        columns = self.__dict__.get("columns")
        if columns is not None and name in columns:
            column: np.ndarray = columns[name][: self.size]
            return column
        raise AttributeError(name)

    # --- arriving ----------------------------------------------------------------------------

    def add(self, traits: dict[str, np.ndarray]) -> np.ndarray:
        count = len(traits["kind"])
        needed = self.size + count
        capacity = len(self.columns["kind"])
        if needed > capacity:
            new_capacity = max(needed, 2 * capacity)
            for name, column in self.columns.items():
                grown = np.zeros(new_capacity, dtype=column.dtype)
                grown[: self.size] = column[: self.size]
                self.columns[name] = grown
        rows = np.arange(self.size, needed)
        self.columns["replay_index"][rows] = -1
        for name, values in traits.items():
            self.columns[name][rows] = values
        self.columns["present"][rows] = True
        self.size = needed
        replayed = traits.get("replay_index")
        if replayed is not None:
            self.replay_rows.update(zip(replayed.tolist(), rows.tolist(), strict=True))
        return rows

    @property
    def replayed(self) -> np.ndarray:
        return self.replay_index >= 0

    def post_bonds(self, rows: np.ndarray, bond_each: int, usd_each: float) -> None:
        self.columns["bond"][rows] = bond_each
        self.columns["cost_usd"][rows] += usd_each

    # --- judging -----------------------------------------------------------------------------

    def judge(self, epoch: int) -> EpochWork:
        """Everyone present decides whether to judge today, and how much; returns the day's work."""
        rng = self.model.rng
        rows = np.flatnonzero(self.present & ~self.replayed)
        sybil = self.kind[rows] == Kind.SYBIL
        parts = [self._independent_work(rng, rows[~sybil]), self._sybil_work(rng, rows[sybil])]
        replay = getattr(self.model, "replay", None)
        if replay is not None:
            parts.append(self._replayed_work(rng, replay, epoch))
        return EpochWork.concatenate([part for part in parts if len(part)])

    def _independent_work(self, rng: np.random.Generator, rows: np.ndarray) -> EpochWork:
        rows = rows[rng.random(len(rows)) < self.participation[rows]]
        count = judgments_on_active_day(rng, self.rate[rows])
        return self._work(rng, rows, count, duplicates=np.ones(len(rows)))

    def _sybil_work(self, rng: np.random.Generator, rows: np.ndarray) -> EpochWork:
        """One operator's work, drawn once per cluster and copied onto every account."""
        if rows.size == 0:
            return EpochWork.empty()
        clusters, member_of, sizes = np.unique(self.cluster[rows], return_inverse=True, return_counts=True)
        operator = rows[np.unique(member_of, return_index=True)[1]]
        active = rng.random(len(clusters)) < self.participation[operator]
        count = judgments_on_active_day(rng, self.rate[operator])
        correct = rng.binomial(count, correct_probability(self.kind[operator], self.quality[operator]))
        agreed = agreed_count(rng, count, correct, self.agreement[operator], self.majority_accuracy)
        noise = draw_noise(rng, len(clusters))
        keep = active[member_of]
        kept = rows[keep]
        cluster_of = member_of[keep]
        return self._work(
            rng,
            kept,
            count[cluster_of],
            duplicates=sizes[cluster_of].astype(np.float64),
            correct=correct[cluster_of],
            agreed=agreed[cluster_of],
            noise=noise[cluster_of],
        )

    def _replayed_work(self, rng: np.random.Generator, replay: ReplayLog, epoch: int) -> EpochWork:
        annotators, count, agreed, flagged = replay.activity(epoch)
        rows = np.array([self.replay_rows[a] for a in annotators.tolist()], dtype=np.int64)
        work = self._work(rng, rows, count, duplicates=np.ones(len(rows)), agreed=agreed)
        work.flagged = flagged
        return work

    def _work(
        self,
        rng: np.random.Generator,
        rows: np.ndarray,
        count: np.ndarray,
        *,
        duplicates: np.ndarray,
        correct: np.ndarray | None = None,
        agreed: np.ndarray | None = None,
        noise: np.ndarray | None = None,
    ) -> EpochWork:
        kind = self.kind[rows]
        p_correct = correct_probability(kind, self.quality[rows])
        if correct is None:
            correct = rng.binomial(count, p_correct)
        if agreed is None:
            agreed = agreed_count(rng, count, correct, self.agreement[rows], self.majority_accuracy)
        if noise is None:
            noise = draw_noise(rng, len(rows))
        figures = attribution_figures(self.model.scenario.attribution_model)
        return EpochWork(
            account=rows.astype(np.int64),
            kind=kind,
            count=np.asarray(count, dtype=np.int64),
            correct=np.asarray(correct, dtype=np.int64),
            agreed=np.asarray(agreed, dtype=np.int64),
            flagged=rng.random(len(rows)) < self.flag_probability[rows],
            score=scores(kind, count, correct, duplicates, noise, figures),
            true_value=true_contribution(kind, count, p_correct, duplicates, figures),
            bond=self.bond[rows].copy(),
            cluster=np.where(self.detected[rows], self.cluster[rows], -1),
            hours=count * self.seconds[rows] / 3600.0 / duplicates,
        )

    # --- earning -----------------------------------------------------------------------------

    def credit(self, work: EpochWork, rewards: np.ndarray, price: float) -> None:
        """Pay the day's rewards and update everyone's running view of earnings and costs."""
        rows = work.account
        size = self.size
        self.columns["wallet"][rows] += rewards
        self.columns["earned_today"][rows] += rewards
        earned_usd = np.zeros(size)
        earned_usd[rows] = rewards * (price / SIM_UNITS_PER_OPEN)
        # Whole-column arithmetic (cheaper than gathering the present rows); rows that left are
        # masked out of the costs, and their moving averages are never read again.
        present = self.present
        cost = np.where(present, self.account_cost, 0.0)
        cost[rows] += work.hours * self.wage[rows]
        self.columns["value_usd"][:size] += earned_usd
        self.columns["cost_usd"][:size] += cost
        weight = 1.0 / self.memory
        ema_earn = self.columns["ema_earn"][:size]
        ema_cost = self.columns["ema_cost"][:size]
        ema_earn += weight * (earned_usd - ema_earn)
        ema_cost += weight * (cost - ema_cost)

    def slash(self, rows: np.ndarray, amounts: np.ndarray) -> None:
        self.columns["bond"][rows] -= amounts

    def take_sales(self) -> int:
        """Each contributor sells their share of today's earnings; returns the OPEN to sell."""
        sales = np.minimum(np.floor(self.earned_today * self.sell_fraction).astype(np.int64), self.wallet)
        self.columns["wallet"][: self.size] -= sales
        self.columns["earned_today"][: self.size] = 0
        return int(sales.sum())

    # --- leaving -----------------------------------------------------------------------------

    def leaving(self, epoch: int) -> np.ndarray:
        """Rows that leave after ``epoch``: earnings below costs after the minimum tenure (a sybil
        operator weighs all their accounts together), or the end of their attack."""
        candidates = self.present & ~self.replayed
        earn, cost = self.ema_earn, self.ema_cost
        in_cluster = candidates & (self.cluster >= 0)
        if in_cluster.any():
            rows = np.flatnonzero(in_cluster)
            _, member_of = np.unique(self.cluster[rows], return_inverse=True)
            earn, cost = earn.copy(), cost.copy()
            earn[rows] = np.bincount(member_of, earn[rows])[member_of]
            cost[rows] = np.bincount(member_of, cost[rows])[member_of]
        settled_in = epoch - self.arrived + 1 >= self.min_tenure
        end = self.end_epoch
        ended = (end >= 0) & (epoch + 1 >= end)
        return np.flatnonzero(candidates & ((settled_in & (earn < cost)) | ended))

    def leave(self, epoch: int, price: float) -> int:
        """Leavers go; each sells the bond they get back. Returns the OPEN to sell."""
        rows = self.leaving(epoch)
        bonds = self.bond[rows]
        self.columns["value_usd"][rows] += bonds * price / SIM_UNITS_PER_OPEN
        self.columns["bond"][rows] = 0
        self.columns["present"][rows] = False
        return int(bonds.sum())

    # --- books and census --------------------------------------------------------------------

    def wallet_total(self) -> int:
        return int(self.wallet.sum())

    def bond_total(self) -> int:
        return int(self.bond.sum())

    def census(self) -> dict[str, Any]:
        kind = self.kind
        present = self.present
        attacker = kind != Kind.HONEST
        return {
            "present_by_kind": np.bincount(kind[present], minlength=len(Kind)),
            "honest_arrived": int(np.count_nonzero(~attacker)),
            "attacker_value_usd": float(self.value_usd[attacker].sum()),
            "attacker_cost_usd": float(self.cost_usd[attacker].sum()),
            "bonds": self.bond[present & (self.bond > 0)],
        }


class StakerPopulation(mesa.Agent):
    """All stakers, one row each."""

    def __init__(self, model: LedgerloopModel) -> None:
        super().__init__(model)
        params = model.scenario.stakers
        self.params = params
        n = params.count
        self.budget_usd = np.round(params.usd_budget.sample(model.rng, n) * MICRO_USD_PER_USD).astype(
            np.int64
        )
        self.outside_rate = params.outside_rate.sample(model.rng, n)
        self.stake = np.zeros(n, dtype=np.int64)
        self.unbonding = np.zeros(n, dtype=np.int64)
        self.release_epoch = np.full(n, -1, dtype=np.int64)
        self.wallet = np.zeros(n, dtype=np.int64)

    def stakes(self) -> dict[int, int]:
        rows = np.flatnonzero(self.stake)
        return dict(zip(rows.tolist(), self.stake[rows].tolist(), strict=True))

    def receive(self, amounts: dict[int, int]) -> None:
        if amounts:
            rows = np.fromiter(amounts.keys(), dtype=np.int64, count=len(amounts))
            self.wallet[rows] += np.fromiter(amounts.values(), dtype=np.int64, count=len(amounts))

    def decide(self, epoch: int, staking_yield: float) -> tuple[np.ndarray, np.ndarray]:
        """Some stakers reconsider: enter when staking beats their outside rate by the margin,
        ask to unstake when it falls below it. Returns who enters and the dollars they bring."""
        params = self.params
        considering = self.model.rng.random(len(self.stake)) < params.decision_probability
        entering = (
            considering
            & (self.stake == 0)
            & (self.unbonding == 0)
            & (self.budget_usd > 0)
            & (staking_yield > self.outside_rate + params.hysteresis)
        )
        exiting = considering & (self.stake > 0) & (staking_yield < self.outside_rate - params.hysteresis)
        self.unbonding[exiting] += self.stake[exiting]
        self.stake[exiting] = 0
        self.release_epoch[exiting] = epoch + params.cooldown_epochs
        rows = np.flatnonzero(entering)
        return rows, self.budget_usd[rows].copy()

    def delegated(self) -> np.ndarray:
        """Stake each staker delegates to back contributors' bonds."""
        delegated: np.ndarray = np.floor(self.stake * self.params.delegated_share).astype(np.int64)
        return delegated

    def lose(self, amount: int) -> None:
        """Take ``amount`` slashed from delegated stake, pro rata to what each delegated."""
        self.stake -= split_pro_rata(amount, self.delegated())

    def enter(self, rows: np.ndarray, usd: np.ndarray, bought: int) -> None:
        self.stake[rows] += split_pro_rata(bought, usd)
        self.budget_usd[rows] -= usd

    def release(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Stakes whose cooldown is over come back; the share to sell is returned as sales."""
        rows = np.flatnonzero((self.unbonding > 0) & (self.release_epoch <= epoch))
        released = self.unbonding[rows]
        sales = np.floor(released * self.params.sell_fraction_on_exit).astype(np.int64)
        self.wallet[rows] += released - sales
        self.unbonding[rows] = 0
        return rows, sales

    def receive_usd(self, rows: np.ndarray, sales: np.ndarray, proceeds: int) -> None:
        self.budget_usd[rows] += split_pro_rata(proceeds, sales)

    def stake_total(self) -> int:
        return int(self.stake.sum())

    def unbonding_total(self) -> int:
        return int(self.unbonding.sum())

    def wallet_total(self) -> int:
        return int(self.wallet.sum())

    def stake_array(self) -> np.ndarray:
        return self.stake[self.stake > 0]

    def staked_count(self) -> int:
        return int(np.count_nonzero(self.stake))


class ConsumerPopulation(mesa.Agent):
    """All consumers: each buys Poisson(base demand x factor) calls a day."""

    def __init__(self, model: LedgerloopModel) -> None:
        super().__init__(model)
        params = model.scenario.consumers
        self.base_calls = params.calls_per_epoch.sample(model.rng, params.count)

    def calls(self, factor: float) -> int:
        return int(self.model.rng.poisson(self.base_calls * factor).sum())


class VectorizedModel(LedgerloopModel):
    """The default engine: array-backed populations."""

    engine = "vectorized"
    default_settlement = GROUPED

    def __init__(self, *args: Any, replay: ReplayLog | None = None, **kwargs: Any) -> None:
        self.replay = replay
        super().__init__(*args, **kwargs)

    def make_contributors(self) -> ContributorPopulation:
        return ContributorPopulation(self, capacity=max(1024, 2 * self.scenario.contributors.initial))

    def make_stakers(self) -> StakerPopulation:
        return StakerPopulation(self)

    def make_consumers(self) -> ConsumerPopulation:
        return ConsumerPopulation(self)

    def organic_arrivals(self, epoch: int) -> list[dict[str, np.ndarray]]:
        if self.replay is None:
            return super().organic_arrivals(epoch)
        # Real contributors come from the log, on the day of their first judgment.
        newcomers = self.replay.arrivals(epoch)
        return (
            [self.replay.traits(newcomers, epoch, self.rng, self.scenario.contributors)]
            if len(newcomers)
            else []
        )
