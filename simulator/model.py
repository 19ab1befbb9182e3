"""The Mesa model of the OPEN economy: one epoch (a day) per ``step()``.

Two engines share this loop and differ only in how their populations are stored:
- ``vectorized`` (:mod:`simulator.populations`, the default): each population is one Mesa agent
  holding numpy arrays, one row per person (like mesa-frames), and its verbs act on all rows;
- ``reference`` (:mod:`simulator.agents`): one Mesa agent per person with small verb methods,
  readable and slow, used by the tests to check the vectorized engine.

An epoch, in order (each phase is one method below):

1. ``release_schedule``  the schedule's emission joins the carry-over as the policy's budget;
   team/investor tokens that unlock go to their holders.
2. ``apply_shocks``      a price crash reprices the pool; a demand shock scales demand.
3. ``admit_arrivals``    organic contributors arrive (Poisson), attackers on their schedule; under
   a policy that reads bonds, each newcomer buys a bond in the pool.
4. ``collect_fees``      consumers decide how many calls to buy (price-elastic) and buy the OPEN
   for the fees in the pool.
5. ``settle_epoch``      contributors judge; the economy's policy pays the budget by their work and
   slashes bonds (stakers' delegated stake backs the bonds of those who judged and is slashed
   with them, pro rata); the economy's fee split shares the fees.
6. ``trade``             contributors, vested holders, the model owner and the treasury sell.
7. ``stake``             stakers weigh the staking yield (fee income net of the slashes their
   delegated stake took) against their outside rate: buy and stake, or ask to unstake (a
   cooldown), and sell what the cooldown releases.
8. ``let_contributors_go`` contributors whose earnings fall below their reservation wage leave;
   their bond is returned and sold.
9. ``record``            the metrics of :mod:`simulator.metrics`, after checking conservation.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, ClassVar

import mesa
import numpy as np

from simulator.accounting import (
    MICRO_USD_PER_USD,
    SIM_UNITS_PER_OPEN,
    Balances,
    ScheduleInSimUnits,
    base_to_sim_ceil,
    check_conservation,
    floor_mul_div,
    genesis,
    open_to_sim,
    policy_in_sim_units,
)
from simulator.attribution_model import Kind
from simulator.economy.fees import FeeSplitParams
from simulator.economy.policies import PolicyParams
from simulator.market import ConstantProductPool
from simulator.metrics import METRIC_NAMES, LorenzCurve, RewardTotals, gini, nakamoto, share, top_share
from simulator.params import AttackParams, ContributorParams, Scenario
from simulator.settlement import (
    GROUPED,
    PER_ACCOUNT,
    EpochWork,
    Settlement,
    StandingBook,
    settle,
    split_equally,
)

DAYS_PER_YEAR = 365
POLICIES_READING_BONDS = frozenset({"attribution_bonded"})


def reads_bonds(policy: PolicyParams) -> bool:
    """Whether contributors must bond to take part: the bonded policy slashes bonds, and any policy
    with a ``min_bond`` above zero pays only the bonded."""
    return policy.name in POLICIES_READING_BONDS or getattr(policy, "min_bond", 0) > 0


def _latest(model: LedgerloopModel, *, name: str) -> Any:
    return model.latest[name]


def independent_traits(n: int, epoch: int) -> dict[str, np.ndarray]:
    """The traits every contributor outside an attack shares: no account costs, no ring, no
    cluster, no end date; arrived now."""
    return {
        "account_cost": np.zeros(n),
        "agreement": np.full(n, np.nan),
        "cluster": np.full(n, -1, dtype=np.int64),
        "detected": np.zeros(n, dtype=bool),
        "attack": np.full(n, -1, dtype=np.int64),
        "end_epoch": np.full(n, -1, dtype=np.int64),
        "arrived": np.full(n, epoch, dtype=np.int64),
    }


def contributor_traits(
    rng: np.random.Generator, params: ContributorParams, kinds: np.ndarray, epoch: int
) -> dict[str, np.ndarray]:
    """Traits of organic newcomers (one row each), drawn from the scenario's distributions."""
    n = len(kinds)
    lazy = kinds == Kind.LAZY
    seconds = params.seconds_per_judgment.sample(rng, n)
    return {
        "kind": kinds.astype(np.int8),
        "quality": np.clip(params.quality.sample(rng, n), 0.0, 1.0),
        "participation": np.clip(params.participation.sample(rng, n), 0.0, 1.0),
        "rate": np.maximum(params.judgments_per_active_day.sample(rng, n), 1.0),
        "seconds": np.where(lazy, seconds / params.lazy_speedup, seconds),
        "wage": params.reservation_wage_usd_per_hour.sample(rng, n),
        "sell_fraction": np.full(n, params.sell_fraction),
        "flag_probability": np.where(lazy, params.lazy_flag_probability, params.flag_probability),
        **independent_traits(n, epoch),
    }


def attack_traits(
    rng: np.random.Generator,
    attack: AttackParams,
    attack_index: int,
    actors: int,
    epoch: int,
    first_cluster: int,
) -> dict[str, np.ndarray]:
    """Traits of ``actors`` attackers of one attack arriving now (sybil operators bring all their accounts)."""
    per_actor = attack.accounts_per_actor
    n = actors * per_actor
    kind = attack.kind_enum
    sybil = kind is Kind.SYBIL
    actor_of_row = np.repeat(np.arange(actors), per_actor)
    detected_actor = rng.random(actors) < attack.detection_probability
    return {
        "kind": np.full(n, kind, dtype=np.int8),
        "quality": np.full(n, attack.quality),
        "participation": np.full(n, attack.participation),
        "rate": np.full(n, attack.judgments_per_active_day),
        "seconds": np.full(n, attack.seconds_per_judgment),
        "wage": np.full(n, attack.wage_usd_per_hour),
        "account_cost": np.full(n, attack.cost_usd_per_account_per_epoch),
        "sell_fraction": np.full(n, attack.sell_fraction),
        "flag_probability": np.full(n, attack.flag_probability),
        "agreement": np.full(n, np.nan if attack.agreement is None else attack.agreement),
        "cluster": (first_cluster + actor_of_row) if sybil else np.full(n, -1, dtype=np.int64),
        "detected": detected_actor[actor_of_row] if sybil else np.zeros(n, dtype=bool),
        "attack": np.full(n, attack_index, dtype=np.int64),
        "end_epoch": np.full(n, -1 if attack.end_epoch is None else attack.end_epoch, dtype=np.int64),
        "arrived": np.full(n, epoch, dtype=np.int64),
    }


def attack_actors_arriving(attack: AttackParams, epoch: int) -> int:
    """Actors of ``attack`` arriving in ``epoch``: spread evenly over its ramp."""
    offset = epoch - attack.start_epoch
    if not 0 <= offset < attack.ramp_epochs:
        return 0
    return attack.actors * (offset + 1) // attack.ramp_epochs - attack.actors * offset // attack.ramp_epochs


class LedgerloopModel(mesa.Model):
    """The shared epoch loop. Subclasses provide ``contributors``, ``stakers`` and ``consumers``."""

    engine: ClassVar[str] = ""
    default_settlement: ClassVar[str] = PER_ACCOUNT

    def __init__(
        self,
        scenario: Scenario,
        policy: PolicyParams,
        *,
        seed: int | np.random.SeedSequence = 0,
        settlement_mode: str | None = None,
        fee_params: FeeSplitParams | None = None,
        check_books: bool = True,
    ) -> None:
        seed_sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        super().__init__(rng=seed_sequence)
        self.scenario = scenario
        self.policy = policy
        self.policy_sim = policy_in_sim_units(policy)
        self.settlement_mode = settlement_mode or self.default_settlement
        # The fee split is one of the policy's money rules; a caller may override it to study it.
        self.fee_params = fee_params or policy.fee_split()
        self.standing = StandingBook()  # read only by policies that remember (attribution_evidence)
        self._emission = 0
        self.check_books = check_books
        self.schedule = ScheduleInSimUnits(scenario.schedule_params())
        self.genesis = genesis(self.schedule.schedule)
        market = scenario.market
        self.pool = ConstantProductPool.seeded(
            self.genesis.liquidity, market.initial_price_usd, market.swap_fee_bps
        )
        self.locked_community = self.genesis.community
        self.locked_vesting = self.genesis.team + self.genesis.investors
        self.carry_over = 0
        self.treasury = 0
        self.vested_holders = 0
        self.model_owner = 0
        self.next_cluster = 0
        self.demand_multiplier = 1.0
        self.staker_income_average = 0.0  # sim units per epoch, moving average
        self._pending_vested_sale = 0  # set when tokens unlock, sold in trade()
        self._owner_income = 0  # the model owner's fee income this epoch
        self.staker_slashes = 0  # delegated stake slashed this epoch
        self.bond_each = open_to_sim(scenario.contributors.bond_open) if reads_bonds(policy) else 0
        # The policy's price of a call of the scenario's size, the rule the site charges by, rounded up once.
        consumers = scenario.consumers
        self.fee_per_call = base_to_sim_ceil(
            policy.call_fee(tokens_in=consumers.prompt_tokens_per_call, tokens_out=consumers.reply_tokens_per_call)
        )
        self.latest: dict[str, Any] = {}
        self.reward_totals = RewardTotals()  # per account, for the run's Lorenz curve
        self.contributors = self.make_contributors()
        self.stakers = self.make_stakers()
        self.consumers = self.make_consumers()
        self.datacollector = mesa.DataCollector(
            model_reporters={name: partial(_latest, name=name) for name in METRIC_NAMES}
        )

    # --- what an engine provides -------------------------------------------------------------

    def make_contributors(self) -> Any:
        raise NotImplementedError

    def make_stakers(self) -> Any:
        raise NotImplementedError

    def make_consumers(self) -> Any:
        raise NotImplementedError

    # --- the epoch ---------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """The epoch being (or last) simulated: Mesa counts steps from 1."""
        return int(self.steps) - 1

    @property
    def price(self) -> float:
        return self.pool.price

    def step(self) -> None:
        epoch = self.epoch
        budget, emission = self.release_schedule(epoch)
        self.apply_shocks(epoch)
        self.admit_arrivals(epoch)
        calls, fees = self.collect_fees()
        work, settlement = self.settle_epoch(epoch, budget, fees)
        self.trade()
        self.stake(epoch, fees)
        self.let_contributors_go(epoch)
        self.record(
            epoch, emission=emission, budget=budget, calls=calls, fees=fees, work=work, settlement=settlement
        )
        if epoch + 1 >= self.scenario.epochs:
            self.running = False

    def release_schedule(self, epoch: int) -> tuple[int, int]:
        emission = min(self.schedule.emission(epoch), self.locked_community)
        self.locked_community -= emission
        unlocked = min(self.schedule.vesting_unlock(epoch), self.locked_vesting)
        self.locked_vesting -= unlocked
        market = self.scenario.market
        # Holders sell part of what unlocks now and a little of what they kept.
        sale = math.floor(unlocked * market.vested_sell_fraction) + math.floor(
            self.vested_holders * market.vested_later_sell_fraction
        )
        self.vested_holders += unlocked - sale
        self._pending_vested_sale = sale
        budget = emission + self.carry_over
        self.carry_over = 0
        self._emission = emission
        return budget, emission

    def apply_shocks(self, epoch: int) -> None:
        multiplier = 1.0
        for shock in self.scenario.shocks:
            if shock.kind == "price_crash" and epoch == shock.start_epoch:
                self.pool.reprice_usd_side(shock.multiplier)
            elif (
                shock.kind == "demand"
                and shock.start_epoch <= epoch
                and (shock.end_epoch is None or epoch < shock.end_epoch)
            ):
                multiplier *= shock.multiplier
        self.demand_multiplier = multiplier

    def arrivals(self, epoch: int) -> list[dict[str, np.ndarray]]:
        """Trait tables of everyone arriving in ``epoch``: organic newcomers, then attackers."""
        return self.organic_arrivals(epoch) + self.attack_arrivals(epoch)

    def organic_arrivals(self, epoch: int) -> list[dict[str, np.ndarray]]:
        params = self.scenario.contributors
        count = params.initial if epoch == 0 else int(self.rng.poisson(params.arrivals_per_epoch))
        if not count:
            return []
        kinds = self.rng.choice(len(Kind), size=count, p=params.mix_shares())
        return [contributor_traits(self.rng, params, kinds, epoch)]

    def attack_arrivals(self, epoch: int) -> list[dict[str, np.ndarray]]:
        batches = []
        for index, attack in enumerate(self.scenario.attacks):
            actors = attack_actors_arriving(attack, epoch)
            if actors:
                batches.append(attack_traits(self.rng, attack, index, actors, epoch, self.next_cluster))
                if attack.kind_enum is Kind.SYBIL:
                    self.next_cluster += actors
        return batches

    def admit_arrivals(self, epoch: int) -> None:
        for traits in self.arrivals(epoch):
            rows = self.contributors.add(traits)
            self.reward_totals.admit(rows, traits["kind"], epoch)
            if self.bond_each and len(rows):
                wanted = self.bond_each * len(rows)
                if wanted < self.pool.open_reserve // 2:  # a pool is never drained for bonds
                    usd = self.pool.buy_exact_open(wanted)
                    self.contributors.post_bonds(rows, self.bond_each, usd / MICRO_USD_PER_USD / len(rows))

    def demand_factor(self) -> float:
        """Demand relative to the reference: price-elastic in the dollar cost of a call, saturating."""
        consumers = self.scenario.consumers
        relative_cost = self.price / self.scenario.market.initial_price_usd
        elastic = relative_cost ** (-consumers.price_elasticity)
        return float(self.demand_multiplier * min(consumers.max_demand_multiplier, elastic))

    def collect_fees(self) -> tuple[int, int]:
        calls = self.consumers.calls(self.demand_factor())
        fees = calls * self.fee_per_call
        if fees >= self.pool.open_reserve // 2:  # demand beyond what the pool can sell is not met
            calls = (self.pool.open_reserve // 2 - 1) // max(self.fee_per_call, 1)
            fees = calls * self.fee_per_call
        self.pool.buy_exact_open(fees)
        return calls, fees

    def settle_epoch(self, epoch: int, budget: int, fees: int) -> tuple[EpochWork, Settlement]:
        work = self.contributors.judge(epoch)
        backing = self.back_bonds(work)
        settlement = settle(
            self.policy_sim,
            work,
            budget=budget,
            fees=fees,
            epoch=epoch,
            stakes=self.stakers.stakes(),
            fee_params=self.fee_params,
            mode=self.settlement_mode,
            standing=self.standing,
        )
        self.carry_over = settlement.carry_over
        rewards = settlement.payouts + settlement.fee_to_contributors
        self.contributors.credit(work, rewards, self.price)
        self.reward_totals.credit(work.account, rewards, epoch)
        # Fair pay of the same accounts: what the oracle would pay this epoch (no carry-over).
        fair_pot = self._emission + fees * self.fee_params.contributors_bps // 10_000
        self.reward_totals.credit_oracle(work.account, work.true_value, fair_pot)
        self.slash_bonds(work, backing, settlement.slashes)
        self.treasury += int(settlement.slashes.sum()) + settlement.fee_to_treasury
        self.stakers.receive(settlement.fee_to_stakers)
        self.model_owner += settlement.fee_to_model_owner
        self._owner_income = settlement.fee_to_model_owner
        return work, settlement

    def back_bonds(self, work: EpochWork) -> np.ndarray:
        """Stakers' delegated stake, split equally over the contributors who judged, joins their
        bonds for this settlement (a policy that slashes bonds then slashes it too)."""
        backing = np.zeros(len(work), dtype=np.int64)
        if reads_bonds(self.policy) and len(work):
            delegated = int(self.stakers.delegated().sum())
            if delegated:
                backing = split_equally(delegated, len(work))
                work.bond = work.bond + backing
        return backing

    def slash_bonds(self, work: EpochWork, backing: np.ndarray, slashes: np.ndarray) -> None:
        """Each slash falls on the contributor's own bond and on the stake backing it, pro rata."""
        from_backing = np.zeros(len(work), dtype=np.int64)
        hit = np.flatnonzero(slashes)
        # slash x backing can pass int64 when contributors carry a big delegation: exact helper.
        from_backing[hit] = floor_mul_div(slashes[hit], backing[hit], work.bond[hit])
        self.contributors.slash(work.account, slashes - from_backing)
        self.staker_slashes = int(from_backing.sum())
        if self.staker_slashes:
            self.stakers.lose(self.staker_slashes)

    def trade(self) -> None:
        market = self.scenario.market
        self.pool.sell_open(self.contributors.take_sales())
        self.pool.sell_open(self._pending_vested_sale)
        owner_sale = math.floor(self._owner_income * market.model_owner_sell_fraction)
        self.model_owner -= owner_sale
        self.pool.sell_open(owner_sale)
        spend = round(market.treasury_spend_usd_per_epoch * MICRO_USD_PER_USD)
        if spend and self.treasury:
            needed = (
                self.pool.open_to_sell_for_usd(spend) if spend < self.pool.usd_reserve // 2 else self.treasury
            )
            sale = min(needed, self.treasury)
            self.treasury -= sale
            self.pool.sell_open(sale)

    def stake(self, epoch: int, fees: int) -> None:
        params = self.scenario.stakers
        potential_income = fees * self.fee_params.stakers_bps / 10_000 - self.staker_slashes
        self.staker_income_average += (
            potential_income - self.staker_income_average
        ) / params.yield_memory_epochs
        entering_rows, usd = self.stakers.decide(epoch, self.staking_yield())
        if len(entering_rows):
            bought = self.pool.buy_open_with_usd(int(usd.sum()))
            self.stakers.enter(entering_rows, usd, bought)
        rows, sales = self.stakers.release(epoch)
        if len(rows):
            proceeds = self.pool.sell_open(int(sales.sum()))
            self.stakers.receive_usd(rows, sales, proceeds)

    def staking_yield(self) -> float:
        """Yearly fee income of stakers (moving average) over the stake; inf with no stake."""
        stake = self.stakers.stake_total()
        if stake == 0:
            return math.inf if self.staker_income_average > 0 else 0.0
        return float(self.staker_income_average * DAYS_PER_YEAR / stake)

    def let_contributors_go(self, epoch: int) -> None:
        self.pool.sell_open(self.contributors.leave(epoch, self.price))

    # --- books and metrics -------------------------------------------------------------------

    def balances(self) -> Balances:
        return Balances(
            circulating=self.contributors.wallet_total()
            + self.stakers.wallet_total()
            + self.vested_holders
            + self.model_owner,
            locked=self.locked_community + self.carry_over + self.locked_vesting,
            staked=self.stakers.stake_total()
            + self.stakers.unbonding_total()
            + self.contributors.bond_total(),
            treasury=self.treasury,
            pool=self.pool.open_reserve,
        )

    def record(
        self,
        epoch: int,
        *,
        emission: int,
        budget: int,
        calls: int,
        fees: int,
        work: EpochWork,
        settlement: Settlement,
    ) -> None:
        balances = self.balances()
        if self.check_books:
            check_conservation(self.genesis.supply, balances, epoch=epoch)
        rewards = settlement.payouts + settlement.fee_to_contributors
        attacker = work.kind != Kind.HONEST
        honest_rewards = np.sort(rewards[~attacker])
        census = self.contributors.census()
        present = census["present_by_kind"]
        treasury_usd = self.treasury / SIM_UNITS_PER_OPEN * self.price
        spend = self.scenario.market.treasury_spend_usd_per_epoch
        self.latest = {
            "epoch": epoch,
            "emission": emission,
            "budget": budget,
            "paid": int(settlement.payouts.sum()),
            "carry_over": settlement.carry_over,
            "community_unreleased": self.locked_community,
            "fees": fees,
            "calls": calls,
            "slashed": int(settlement.slashes.sum()),
            "slashed_from_stakers": self.staker_slashes,
            "supply": balances.total,
            "circulating": balances.circulating,
            "locked": balances.locked,
            "staked": balances.staked,
            "treasury": balances.treasury,
            "pool": balances.pool,
            "pool_usd": self.pool.usd_reserve / MICRO_USD_PER_USD,
            "price": self.price,
            "staking_ratio": share(balances.staked, balances.staked + balances.circulating),
            "staking_yield": self.staking_yield(),
            "stakers_staked": self.stakers.staked_count(),
            "contributors_present": int(present.sum()),
            "contributors_active": len(work),
            **{f"{kind.label}_present": int(present[kind]) for kind in Kind},
            "judgments": int(work.count.sum()),
            "flagged": int(work.flagged.sum()),
            "honest_retention": share(present[Kind.HONEST], census["honest_arrived"]),
            "rewards": int(rewards.sum()),
            "attacker_rewards": int(rewards[attacker].sum()),
            "attacker_reward_share": share(float(rewards[attacker].sum()), float(rewards.sum())),
            "attacker_true_share": share(
                float(work.true_value[attacker].sum()), float(work.true_value.sum())
            ),
            "attacker_return_on_cost": (
                (census["attacker_value_usd"] - census["attacker_cost_usd"]) / census["attacker_cost_usd"]
                if census["attacker_cost_usd"] > 0
                else float("nan")
            ),
            "honest_reward_gini": gini(honest_rewards, already_sorted=True),
            "honest_reward_top10_share": top_share(honest_rewards, already_sorted=True),
            "stake_nakamoto": nakamoto(np.concatenate([self.stakers.stake_array(), census["bonds"]])),
            "treasury_runway": treasury_usd / spend if spend > 0 else math.inf,
            "accounts_settled": settlement.accounts_settled,
        }
        self.datacollector.collect(self)

    # --- running -----------------------------------------------------------------------------

    def run(self) -> dict[str, list[Any]]:
        """Run every epoch of the scenario; returns the metrics, one list per column."""
        self.run_model()
        columns: dict[str, list[Any]] = self.datacollector.model_vars
        return columns

    def reward_lorenz(self) -> dict[str, LorenzCurve]:
        """The Lorenz curves of contributors' rewards so far (see :data:`simulator.metrics.LORENZ_GROUPS`)."""
        return self.reward_totals.lorenz()

    def fairness(self) -> dict[str, float | int]:
        """The run's pay against the oracle's (see :data:`simulator.metrics.FAIRNESS_METRICS`)."""
        return self.reward_totals.fairness(self.epoch + 1)


def make_model(
    engine: str,
    scenario: Scenario,
    policy: PolicyParams,
    *,
    seed: int | np.random.SeedSequence = 0,
    settlement_mode: str | None = None,
    replay: Any = None,
) -> LedgerloopModel:
    """The model of the named engine (``vectorized`` or ``reference``)."""
    from simulator.agents import ReferenceModel
    from simulator.populations import VectorizedModel

    engines: dict[str, type[LedgerloopModel]] = {"vectorized": VectorizedModel, "reference": ReferenceModel}
    if engine not in engines:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(engines)}")
    if replay is not None:
        if engine != "vectorized":
            raise ValueError("replay runs on the vectorized engine only")
        return VectorizedModel(scenario, policy, seed=seed, settlement_mode=settlement_mode, replay=replay)
    return engines[engine](scenario, policy, seed=seed, settlement_mode=settlement_mode)


ENGINES = ("vectorized", "reference")
SETTLEMENT_DEFAULTS = {"vectorized": GROUPED, "reference": PER_ACCOUNT}
