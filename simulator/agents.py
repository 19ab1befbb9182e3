"""The reference engine: one Mesa agent per person, with small verb methods.

Written to be read: each agent decides for itself, one at a time, with the same rules and the same
distributions as the vectorized engine (:mod:`simulator.populations`), which does the same for all
rows of an array at once. The tests run both on the same scenario over several seeds and check
that their aggregate metrics agree within Monte Carlo error. Slow: use it for small scenarios.

Agent types (``model.agents_by_type`` has one agent set each): HonestContributor, LazyClicker,
LabelFlipper, SybilAccount (with its SybilOperator, who does the work once for all their
accounts), Colluder, Staker, Consumer.

The ``Reference*`` classes at the end give the model the same population interface the vectorized
engine has (add, judge, credit, ...), by asking each agent in turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
from simulator.settlement import PER_ACCOUNT, EpochWork, split_pro_rata


@dataclass
class DayOfWork:
    count: int
    correct: int
    agreed: int
    noise: float  # the standard normal that places the day's score (attribution_model, step 2)


# --- contributors ------------------------------------------------------------------------------


class Contributor(mesa.Agent):
    """A contributor account. Its kind decides how often it is right (attribution_model)."""

    kind: Kind = Kind.HONEST

    def __init__(self, model: LedgerloopModel, row: int, traits: dict[str, Any]) -> None:
        super().__init__(model)
        self.row = row
        self.quality = float(traits["quality"])
        self.participation = float(traits["participation"])
        self.rate = float(traits["rate"])
        self.seconds = float(traits["seconds"])
        self.wage = float(traits["wage"])
        self.account_cost = float(traits["account_cost"])
        self.sell_fraction = float(traits["sell_fraction"])
        self.flag_probability = float(traits["flag_probability"])
        self.agreement = float(traits["agreement"])
        self.cluster = int(traits["cluster"])
        self.detected = bool(traits["detected"])
        self.end_epoch = int(traits["end_epoch"])
        self.arrived = int(traits["arrived"])
        self.present = True
        self.wallet = 0
        self.bond = 0
        self.earned_today = 0
        self.ema_earn = 0.0
        self.ema_cost = 0.0
        self.value_usd = 0.0
        self.cost_usd = 0.0
        self.hours_today = 0.0

    @property
    def p_correct(self) -> float:
        return float(correct_probability(self.kind, self.quality))

    def judge_today(self) -> DayOfWork | None:
        """Decide whether to judge today; if so, how much, and how it went."""
        if self.rng.random() >= self.participation:
            return None
        count = int(judgments_on_active_day(self.rng, self.rate))
        correct = int(self.rng.binomial(count, self.p_correct))
        agreed = int(agreed_count(self.rng, count, correct, self.agreement, self.model.majority_accuracy))
        return DayOfWork(count, correct, agreed, float(draw_noise(self.rng)))

    def is_flagged(self) -> bool:
        return bool(self.rng.random() < self.flag_probability)

    def earn(self, amount: int, price: float) -> None:
        self.wallet += amount
        self.earned_today += amount
        self.value_usd += amount * price / SIM_UNITS_PER_OPEN

    def tally_day(self, earned_usd: float) -> None:
        """Fold today's earnings and costs (time at the reservation wage, account costs) into the averages."""
        cost = self.account_cost + self.hours_today * self.wage
        self.cost_usd += cost
        weight = 1.0 / self.model.scenario.contributors.earnings_memory_epochs
        self.ema_earn += weight * (earned_usd - self.ema_earn)
        self.ema_cost += weight * (cost - self.ema_cost)
        self.hours_today = 0.0

    def sell(self) -> int:
        sale = min(int(np.floor(self.earned_today * self.sell_fraction)), self.wallet)
        self.wallet -= sale
        self.earned_today = 0
        return sale

    def tenure_over(self, epoch: int) -> bool:
        return bool(epoch - self.arrived + 1 >= self.model.scenario.contributors.min_tenure_epochs)

    def attack_over(self, epoch: int) -> bool:
        return self.end_epoch >= 0 and epoch + 1 >= self.end_epoch

    def wants_to_leave(self, epoch: int) -> bool:
        return (self.tenure_over(epoch) and self.ema_earn < self.ema_cost) or self.attack_over(epoch)

    def leave(self, price: float) -> int:
        """Go, taking the bond back and selling it; returns the OPEN sold."""
        bond, self.bond = self.bond, 0
        self.value_usd += bond * price / SIM_UNITS_PER_OPEN
        self.present = False
        return bond


class HonestContributor(Contributor):
    kind = Kind.HONEST


class LazyClicker(Contributor):
    kind = Kind.LAZY


class LabelFlipper(Contributor):
    kind = Kind.FLIPPER


class Colluder(Contributor):
    kind = Kind.COLLUDER


class SybilAccount(Contributor):
    """One of a sybil operator's accounts: it submits the operator's work, copied."""

    kind = Kind.SYBIL

    def judge_today(self) -> DayOfWork | None:
        work: DayOfWork | None = self.model.contributors.operators[self.cluster].work_today
        return work

    def wants_to_leave(self, epoch: int) -> bool:
        return bool(self.model.contributors.operators[self.cluster].wants_to_leave(epoch))


class SybilOperator(mesa.Agent):
    """The person behind a sybil cluster: does the work once a day, weighs all accounts together."""

    def __init__(self, model: LedgerloopModel, cluster: int) -> None:
        super().__init__(model)
        self.cluster = cluster
        self.accounts: list[SybilAccount] = []
        self.work_today: DayOfWork | None = None

    def present_accounts(self) -> list[SybilAccount]:
        return [account for account in self.accounts if account.present]

    def work(self) -> None:
        accounts = self.present_accounts()
        self.work_today = Contributor.judge_today(accounts[0]) if accounts else None

    def wants_to_leave(self, epoch: int) -> bool:
        accounts = self.present_accounts()
        earn = sum(account.ema_earn for account in accounts)
        cost = sum(account.ema_cost for account in accounts)
        first = accounts[0]
        return (first.tenure_over(epoch) and earn < cost) or first.attack_over(epoch)


CONTRIBUTOR_CLASSES: dict[Kind, type[Contributor]] = {
    Kind.HONEST: HonestContributor,
    Kind.LAZY: LazyClicker,
    Kind.FLIPPER: LabelFlipper,
    Kind.SYBIL: SybilAccount,
    Kind.COLLUDER: Colluder,
}


# --- stakers and consumers ------------------------------------------------------------------


class Staker(mesa.Agent):
    def __init__(self, model: LedgerloopModel, budget_usd: int, outside_rate: float) -> None:
        super().__init__(model)
        self.budget_usd = budget_usd
        self.outside_rate = outside_rate
        self.stake = 0
        self.unbonding = 0
        self.release_epoch = -1
        self.wallet = 0

    def reconsider(self, epoch: int, staking_yield: float) -> bool:
        """Maybe reconsider today; ask to unstake if staking pays too little. True if entering."""
        params = self.model.scenario.stakers
        if self.rng.random() >= params.decision_probability:
            return False
        if self.stake > 0 and staking_yield < self.outside_rate - params.hysteresis:
            self.unbonding, self.stake = self.unbonding + self.stake, 0
            self.release_epoch = epoch + params.cooldown_epochs
            return False
        return (
            self.stake == 0
            and self.unbonding == 0
            and self.budget_usd > 0
            and staking_yield > self.outside_rate + params.hysteresis
        )

    @property
    def delegated(self) -> int:
        """The part of the stake backing contributors' bonds (slashed with them)."""
        return int(np.floor(self.stake * self.model.scenario.stakers.delegated_share))

    def release(self, epoch: int) -> int:
        """Take back a stake whose cooldown is over; returns the OPEN to sell."""
        if not (self.unbonding > 0 and self.release_epoch <= epoch):
            return 0
        released, self.unbonding = self.unbonding, 0
        sale = int(np.floor(released * self.model.scenario.stakers.sell_fraction_on_exit))
        self.wallet += released - sale
        return sale


class Consumer(mesa.Agent):
    def __init__(self, model: LedgerloopModel, base_calls: float) -> None:
        super().__init__(model)
        self.base_calls = base_calls

    def calls_today(self, factor: float) -> int:
        return int(self.rng.poisson(self.base_calls * factor))


# --- the population interface, one agent at a time ------------------------------------------


class ReferenceContributors:
    def __init__(self, model: LedgerloopModel) -> None:
        self.model = model
        self.by_row: list[Contributor] = []
        self.operators: dict[int, SybilOperator] = {}

    def present(self) -> list[Contributor]:
        return [agent for agent in self.by_row if agent.present]

    def add(self, traits: dict[str, np.ndarray]) -> np.ndarray:
        first = len(self.by_row)
        for i in range(len(traits["kind"])):
            row_traits = {name: values[i] for name, values in traits.items()}
            agent = CONTRIBUTOR_CLASSES[Kind(int(row_traits["kind"]))](
                self.model, len(self.by_row), row_traits
            )
            self.by_row.append(agent)
            if isinstance(agent, SybilAccount):
                if agent.cluster not in self.operators:
                    self.operators[agent.cluster] = SybilOperator(self.model, agent.cluster)
                self.operators[agent.cluster].accounts.append(agent)
        return np.arange(first, len(self.by_row))

    def post_bonds(self, rows: np.ndarray, bond_each: int, usd_each: float) -> None:
        for row in rows.tolist():
            self.by_row[row].bond = bond_each
            self.by_row[row].cost_usd += usd_each

    def judge(self, epoch: int) -> EpochWork:
        for operator in self.operators.values():
            operator.work()
        rows = []
        for agent in self.present():
            day = agent.judge_today()
            if day is None:
                continue
            duplicates = (
                len(self.operators[agent.cluster].present_accounts()) if agent.kind is Kind.SYBIL else 1
            )
            rows.append((agent, day, duplicates, agent.is_flagged()))
        return self._as_work(rows)

    def _as_work(self, rows: list[tuple[Contributor, DayOfWork, int, bool]]) -> EpochWork:
        if not rows:
            return EpochWork.empty()
        figures = attribution_figures(self.model.scenario.attribution_model)
        kind = np.array([agent.kind for agent, *_ in rows], dtype=np.int8)
        count = np.array([day.count for _, day, *_ in rows], dtype=np.int64)
        correct = np.array([day.correct for _, day, *_ in rows], dtype=np.int64)
        duplicates = np.array([dup for *_, dup, _ in rows], dtype=np.float64)
        noise = np.array([day.noise for _, day, *_ in rows])
        p_correct = np.array([agent.p_correct for agent, *_ in rows])
        for agent, day, dup, _ in rows:
            agent.hours_today = day.count * agent.seconds / 3600.0 / dup
        return EpochWork(
            account=np.array([agent.row for agent, *_ in rows], dtype=np.int64),
            kind=kind,
            count=count,
            correct=correct,
            agreed=np.array([day.agreed for _, day, *_ in rows], dtype=np.int64),
            flagged=np.array([flag for *_, flag in rows], dtype=bool),
            score=scores(kind, count, correct, duplicates, noise, figures),
            true_value=true_contribution(kind, count, p_correct, duplicates, figures),
            bond=np.array([agent.bond for agent, *_ in rows], dtype=np.int64),
            cluster=np.array([agent.cluster if agent.detected else -1 for agent, *_ in rows], dtype=np.int64),
            hours=np.array([agent.hours_today for agent, *_ in rows]),
        )

    def credit(self, work: EpochWork, rewards: np.ndarray, price: float) -> None:
        earned_usd = {}
        for row, amount in zip(work.account.tolist(), rewards.tolist(), strict=True):
            self.by_row[row].earn(amount, price)
            earned_usd[row] = amount * price / SIM_UNITS_PER_OPEN
        for agent in self.present():
            agent.tally_day(earned_usd.get(agent.row, 0.0))

    def slash(self, rows: np.ndarray, amounts: np.ndarray) -> None:
        for row, amount in zip(rows.tolist(), amounts.tolist(), strict=True):
            self.by_row[row].bond -= amount

    def take_sales(self) -> int:
        return sum(agent.sell() for agent in self.by_row)

    def leave(self, epoch: int, price: float) -> int:
        leaving = [agent for agent in self.present() if agent.wants_to_leave(epoch)]
        return sum(agent.leave(price) for agent in leaving)

    def wallet_total(self) -> int:
        return sum(agent.wallet for agent in self.by_row)

    def bond_total(self) -> int:
        return sum(agent.bond for agent in self.by_row)

    def census(self) -> dict[str, Any]:
        present = self.present()
        attackers = [agent for agent in self.by_row if agent.kind is not Kind.HONEST]
        return {
            "present_by_kind": np.bincount([int(agent.kind) for agent in present], minlength=len(Kind)),
            "honest_arrived": len(self.by_row) - len(attackers),
            "attacker_value_usd": sum(agent.value_usd for agent in attackers),
            "attacker_cost_usd": sum(agent.cost_usd for agent in attackers),
            "bonds": np.array([agent.bond for agent in present if agent.bond > 0], dtype=np.int64),
        }


class ReferenceStakers:
    def __init__(self, model: LedgerloopModel) -> None:
        params = model.scenario.stakers
        budgets = np.round(params.usd_budget.sample(model.rng, params.count) * MICRO_USD_PER_USD).astype(
            np.int64
        )
        rates = params.outside_rate.sample(model.rng, params.count)
        self.agents = [Staker(model, int(b), float(r)) for b, r in zip(budgets, rates, strict=True)]

    def stakes(self) -> dict[int, int]:
        return {row: agent.stake for row, agent in enumerate(self.agents) if agent.stake > 0}

    def receive(self, amounts: dict[int, int]) -> None:
        for row, amount in amounts.items():
            self.agents[row].wallet += amount

    def decide(self, epoch: int, staking_yield: float) -> tuple[np.ndarray, np.ndarray]:
        rows = [row for row, agent in enumerate(self.agents) if agent.reconsider(epoch, staking_yield)]
        return np.array(rows, dtype=np.int64), np.array(
            [self.agents[r].budget_usd for r in rows], dtype=np.int64
        )

    def delegated(self) -> np.ndarray:
        return np.array([agent.delegated for agent in self.agents], dtype=np.int64)

    def lose(self, amount: int) -> None:
        for agent, cut in zip(self.agents, split_pro_rata(amount, self.delegated()).tolist(), strict=True):
            agent.stake -= cut

    def enter(self, rows: np.ndarray, usd: np.ndarray, bought: int) -> None:
        for row, amount, paid in zip(
            rows.tolist(), split_pro_rata(bought, usd).tolist(), usd.tolist(), strict=True
        ):
            self.agents[row].stake += amount
            self.agents[row].budget_usd -= paid

    def release(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        due = [
            (row, agent)
            for row, agent in enumerate(self.agents)
            if agent.unbonding > 0 and agent.release_epoch <= epoch
        ]
        return (
            np.array([row for row, _ in due], dtype=np.int64),
            np.array([agent.release(epoch) for _, agent in due], dtype=np.int64),
        )

    def receive_usd(self, rows: np.ndarray, sales: np.ndarray, proceeds: int) -> None:
        for row, amount in zip(rows.tolist(), split_pro_rata(proceeds, sales).tolist(), strict=True):
            self.agents[row].budget_usd += amount

    def stake_total(self) -> int:
        return sum(agent.stake for agent in self.agents)

    def unbonding_total(self) -> int:
        return sum(agent.unbonding for agent in self.agents)

    def wallet_total(self) -> int:
        return sum(agent.wallet for agent in self.agents)

    def stake_array(self) -> np.ndarray:
        return np.array([agent.stake for agent in self.agents if agent.stake > 0], dtype=np.int64)

    def staked_count(self) -> int:
        return sum(1 for agent in self.agents if agent.stake > 0)


class ReferenceConsumers:
    def __init__(self, model: LedgerloopModel) -> None:
        params = model.scenario.consumers
        self.agents = [
            Consumer(model, float(b)) for b in params.calls_per_epoch.sample(model.rng, params.count)
        ]

    def calls(self, factor: float) -> int:
        return sum(agent.calls_today(factor) for agent in self.agents)


class ReferenceModel(LedgerloopModel):
    """The per-agent engine."""

    engine = "reference"
    default_settlement = PER_ACCOUNT

    @property
    def majority_accuracy(self) -> float:
        return self.scenario.contributors.majority_accuracy

    def make_contributors(self) -> ReferenceContributors:
        return ReferenceContributors(self)

    def make_stakers(self) -> ReferenceStakers:
        return ReferenceStakers(self)

    def make_consumers(self) -> ReferenceConsumers:
        return ReferenceConsumers(self)
