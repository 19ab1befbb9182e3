"""Scenario parameters: plain frozen data, read from YAML/JSON, validated with errors that name
the file and the field.

A scenario says who is in the economy (contributors and their kinds, stakers, consumers), how the
market starts, which attacks and shocks happen when, and for how many epochs. The emission policy
is not part of a scenario: a sweep crosses every scenario with every policy.

Distributions are written as one-key mappings, ``{lognormal: {mu: 2.0, sigma: 0.8}}``,
``{beta: {a: 8, b: 2}}``, ``{uniform: {low: 0.02, high: 0.1}}``, or a plain number (a constant).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.attribution_model import ATTACKER_KINDS, AttributionModelParams, Kind
from simulator.economy.schedule import ScheduleParams


class ScenarioError(ValueError):
    """A scenario file or mapping is wrong; the message names where."""


def _help(text: str, default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    if isinstance(default, list | dict | tuple) and not kwargs:
        return field(default_factory=lambda: default, metadata={"help": text})
    return field(default=default, metadata={"help": text}, **kwargs)


# --- distributions ---------------------------------------------------------------------------

_DISTRIBUTION_ARGS = {
    "lognormal": ("mu", "sigma"),
    "beta": ("a", "b"),
    "uniform": ("low", "high"),
    "pareto": ("alpha", "scale"),  # classic Pareto: values >= scale, tail index alpha
    "constant": ("value",),
}


@dataclass(frozen=True)
class Dist:
    """A distribution to draw per-agent traits from."""

    kind: str
    a: float
    b: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in _DISTRIBUTION_ARGS:
            raise ScenarioError(f"unknown distribution {self.kind!r}; known: {', '.join(_DISTRIBUTION_ARGS)}")
        if not (math.isfinite(self.a) and math.isfinite(self.b)):
            raise ScenarioError(f"{self.kind}: parameters must be finite numbers")
        if self.kind == "lognormal" and self.b < 0:
            raise ScenarioError(f"lognormal: sigma must be >= 0, got {self.b}")
        if self.kind == "beta" and not (self.a > 0 and self.b > 0):
            raise ScenarioError(f"beta: a and b must be > 0, got {self.a}, {self.b}")
        if self.kind == "pareto" and not (self.a > 0 and self.b > 0):
            raise ScenarioError(f"pareto: alpha and scale must be > 0, got {self.a}, {self.b}")
        if self.kind == "uniform" and self.b < self.a:
            raise ScenarioError(f"uniform: high must be >= low, got {self.a}, {self.b}")

    @classmethod
    def lognormal(cls, mu: float, sigma: float) -> Dist:
        return cls("lognormal", mu, sigma)

    @classmethod
    def beta(cls, a: float, b: float) -> Dist:
        return cls("beta", a, b)

    @classmethod
    def uniform(cls, low: float, high: float) -> Dist:
        return cls("uniform", low, high)

    @classmethod
    def constant(cls, value: float) -> Dist:
        return cls("constant", value)

    @classmethod
    def from_data(cls, data: Any, *, where: str) -> Dist:
        if isinstance(data, Dist):
            return data
        if isinstance(data, int | float) and not isinstance(data, bool):
            return cls.constant(float(data))
        if not (isinstance(data, dict) and len(data) == 1):
            raise ScenarioError(
                f"{where}: a distribution is a number or one of "
                f"{{lognormal: {{mu, sigma}}}}, {{beta: {{a, b}}}}, {{uniform: {{low, high}}}}, "
                f"{{pareto: {{alpha, scale}}}}; got {data!r}"
            )
        ((kind, args),) = data.items()
        names = _DISTRIBUTION_ARGS.get(kind)
        if names is None:
            raise ScenarioError(
                f"{where}: unknown distribution {kind!r}; known: {', '.join(_DISTRIBUTION_ARGS)}"
            )
        if not isinstance(args, dict) or set(args) != set(names):
            raise ScenarioError(
                f"{where}.{kind}: expected exactly the parameters {', '.join(names)}, got {args!r}"
            )
        try:
            return cls(kind, *(float(args[name]) for name in names))
        except (TypeError, ValueError) as error:
            raise ScenarioError(f"{where}: {error}") from None

    def to_data(self) -> Any:
        names = _DISTRIBUTION_ARGS[self.kind]
        return {self.kind: dict(zip(names, (self.a, self.b)[: len(names)], strict=True))}

    @property
    def mean(self) -> float:
        if self.kind == "lognormal":
            return math.exp(self.a + self.b**2 / 2)
        if self.kind == "beta":
            return self.a / (self.a + self.b)
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        if self.kind == "pareto":
            return self.a * self.b / (self.a - 1) if self.a > 1 else math.inf
        return self.a

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        if self.kind == "lognormal":
            return rng.lognormal(self.a, self.b, size)
        if self.kind == "beta":
            return rng.beta(self.a, self.b, size)
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b, size)
        if self.kind == "pareto":
            return self.b * (1.0 + rng.pareto(self.a, size))
        return np.full(size, self.a) if size is not None else self.a


# --- the parts of a scenario ------------------------------------------------------------------


@dataclass(frozen=True)
class ContributorParams:
    """The organic contributor population (honest people and a few low-effort or hostile ones)."""

    initial: int = _help("Contributors present at genesis.", 1000)
    arrivals_per_epoch: float = _help("Mean new contributors per epoch (Poisson).", 10.0)
    mix: dict[str, float] = _help(
        "Kinds of organic contributors, as shares adding up to 1 (honest, lazy, flipper).",
        {"honest": 0.95, "lazy": 0.04, "flipper": 0.01},
    )
    participation: Dist = _help("Per-contributor probability of judging on a given day.", Dist.beta(2.0, 3.0))
    judgments_per_active_day: Dist = _help(
        "Per-contributor mean judgments on a day they judge (heavy-tailed); at least 1.",
        Dist.lognormal(1.8, 0.8),
    )
    seconds_per_judgment: Dist = _help("Per-contributor time one judgment takes.", Dist.lognormal(3.4, 0.5))
    quality: Dist = _help("Per-contributor probability that a judgment is correct.", Dist.beta(8.0, 2.0))
    majority_accuracy: float = _help(
        "Probability that a comparison's majority is correct; agreement with it is what quality control sees.",
        0.9,
    )
    flag_probability: float = _help("Probability that quality control flags a contributor in an epoch.", 0.02)
    lazy_flag_probability: float = _help(
        "The same for a lazy random clicker (too fast, straight-lining).", 0.3
    )
    lazy_speedup: float = _help("A lazy clicker spends this many times less time per judgment.", 5.0)
    reservation_wage_usd_per_hour: Dist = _help(
        "Per-contributor hourly earnings below which they leave.", Dist.lognormal(2.0, 0.6)
    )
    sell_fraction: float = _help("Share of each epoch's earnings an honest contributor sells at once.", 0.5)
    min_tenure_epochs: int = _help("Epochs a newcomer stays before weighing whether to leave.", 14)
    earnings_memory_epochs: float = _help(
        "Span of the moving average of earnings and hours they weigh.", 14.0
    )
    bond_open: float = _help(
        "OPEN a contributor buys and bonds on arrival when the policy reads bonds.", 50.0
    )

    def validate(self, where: str) -> None:
        _require(self.initial >= 0, where, "initial", "must be >= 0")
        _require(self.arrivals_per_epoch >= 0, where, "arrivals_per_epoch", "must be >= 0")
        if not self.mix:
            raise ScenarioError(f"{where}.mix: give at least one kind")
        for name, share in self.mix.items():
            kind = Kind.parse(name, where=f"{where}.mix")
            _require(
                kind in (Kind.HONEST, Kind.LAZY, Kind.FLIPPER),
                where,
                f"mix.{name}",
                "organic contributors are honest, lazy or flipper; sybils and colluders come as attacks",
            )
            _require(share >= 0, where, f"mix.{name}", "must be >= 0")
        _require(
            abs(sum(self.mix.values()) - 1) < 1e-9,
            where,
            "mix",
            f"shares must add up to 1, got {sum(self.mix.values())}",
        )
        for name in ("majority_accuracy", "flag_probability", "lazy_flag_probability", "sell_fraction"):
            _require(0 <= getattr(self, name) <= 1, where, name, "must be between 0 and 1")
        _require(self.majority_accuracy > 0.5, where, "majority_accuracy", "must be above 0.5")
        _require(self.lazy_speedup >= 1, where, "lazy_speedup", "must be >= 1")
        _require(self.min_tenure_epochs >= 0, where, "min_tenure_epochs", "must be >= 0")
        _require(self.earnings_memory_epochs >= 1, where, "earnings_memory_epochs", "must be >= 1")
        _require(self.bond_open >= 0, where, "bond_open", "must be >= 0")

    def mix_shares(self) -> np.ndarray:
        shares = np.zeros(len(Kind))
        for name, share in self.mix.items():
            shares[Kind.parse(name, where="mix")] = share
        return shares


@dataclass(frozen=True)
class AttackParams:
    """An attack: accounts of one hostile kind that arrive at ``start_epoch``."""

    kind: str = _help(
        "lazy (spam), flipper (poisoning), sybil (one operator, many accounts) or colluder (a ring)."
    )
    start_epoch: int = _help("Epoch the attackers arrive.", 30)
    end_epoch: int | None = _help("Epoch they all leave (null: they stay until unprofitable).", None)
    actors: int = _help(
        "Independent attackers: accounts (lazy, flipper), operators (sybil) or rings (colluder).", 1
    )
    accounts_per_actor: int = _help("Sybil: accounts per operator; colluder: members per ring; else 1.", 1)
    ramp_epochs: int = _help("Arrivals are spread evenly over this many epochs.", 1)
    quality: float = _help(
        "Probability a judgment is correct (the operator's or ring's; a flipper's skill).", 0.5
    )
    judgments_per_active_day: float = _help("Mean judgments per account on a day it judges.", 30.0)
    participation: float = _help("Probability of judging on a given day.", 1.0)
    agreement: float | None = _help(
        "Rate at which the accounts agree with the comparison majority (a ring or a cluster forms its own "
        "majority); null: as an independent judge of their quality would.",
        None,
    )
    flag_probability: float = _help("Probability quality control flags an account in an epoch.", 0.02)
    detection_probability: float = _help(
        "Sybil: probability the site links an operator's accounts into one cluster.", 0.0
    )
    seconds_per_judgment: float = _help(
        "Time one judgment takes the attacker (once per operator for sybils).", 10.0
    )
    wage_usd_per_hour: float = _help("The attacker's value of time, a cost of the attack.", 5.0)
    cost_usd_per_account_per_epoch: float = _help(
        "Running cost of one account per epoch (phone number, IP, captcha).", 0.05
    )
    sell_fraction: float = _help("Share of earnings sold at once.", 1.0)

    def validate(self, where: str) -> None:
        kind = Kind.parse(self.kind, where=f"{where}.kind")
        _require(kind in ATTACKER_KINDS, where, "kind", "an attack is lazy, flipper, sybil or colluder")
        _require(self.start_epoch >= 0, where, "start_epoch", "must be >= 0")
        if self.end_epoch is not None:
            _require(self.end_epoch > self.start_epoch, where, "end_epoch", "must be after start_epoch")
        _require(self.actors >= 1, where, "actors", "must be >= 1")
        _require(self.accounts_per_actor >= 1, where, "accounts_per_actor", "must be >= 1")
        if kind not in (Kind.SYBIL, Kind.COLLUDER):
            _require(
                self.accounts_per_actor == 1,
                where,
                "accounts_per_actor",
                "only sybil and colluder attacks have several",
            )
        _require(self.ramp_epochs >= 1, where, "ramp_epochs", "must be >= 1")
        for name in (
            "quality",
            "participation",
            "flag_probability",
            "detection_probability",
            "sell_fraction",
        ):
            _require(0 <= getattr(self, name) <= 1, where, name, "must be between 0 and 1")
        if self.agreement is not None:
            _require(0 <= self.agreement <= 1, where, "agreement", "must be between 0 and 1")
        _require(self.judgments_per_active_day >= 1, where, "judgments_per_active_day", "must be >= 1")
        for name in ("seconds_per_judgment", "wage_usd_per_hour", "cost_usd_per_account_per_epoch"):
            _require(getattr(self, name) >= 0, where, name, "must be >= 0")

    @property
    def kind_enum(self) -> Kind:
        return Kind.parse(self.kind, where="attack.kind")

    @property
    def accounts(self) -> int:
        return self.actors * self.accounts_per_actor


@dataclass(frozen=True)
class StakerParams:
    count: int = _help("Stakers (people who may buy OPEN to stake it).", 200)
    usd_budget: Dist = _help(
        "Dollars each staker may put in (heavy-tailed: whales exist).", Dist.lognormal(8.5, 1.2)
    )
    outside_rate: Dist = _help(
        "Each staker's yearly return elsewhere; they stake when staking yields more.",
        Dist.uniform(0.02, 0.12),
    )
    hysteresis: float = _help("Yield margin (yearly) around the outside rate before they act.", 0.01)
    decision_probability: float = _help("Probability a staker reconsiders in a given epoch.", 0.1)
    cooldown_epochs: int = _help("Epochs between asking to unstake and getting the OPEN back.", 7)
    yield_memory_epochs: float = _help("Span of the moving average of staking income they weigh.", 30.0)
    delegated_share: float = _help(
        "Share of each stake delegated to back the bonds of the contributors who judge, under a policy "
        "that slashes bonds: it is slashed with them (so stakers weigh income net of slashes).",
        0.5,
    )
    sell_fraction_on_exit: float = _help("Share of unstaked OPEN sold when the cooldown ends.", 1.0)

    def validate(self, where: str) -> None:
        _require(self.count >= 0, where, "count", "must be >= 0")
        for name in ("hysteresis",):
            _require(getattr(self, name) >= 0, where, name, "must be >= 0")
        for name in ("decision_probability", "sell_fraction_on_exit", "delegated_share"):
            _require(0 <= getattr(self, name) <= 1, where, name, "must be between 0 and 1")
        _require(self.cooldown_epochs >= 0, where, "cooldown_epochs", "must be >= 0")
        _require(self.yield_memory_epochs >= 1, where, "yield_memory_epochs", "must be >= 1")


@dataclass(frozen=True)
class ConsumerParams:
    count: int = _help("Consumers buying inference from the models.", 1000)
    calls_per_epoch: Dist = _help(
        "Each consumer's mean calls per epoch at the reference price.", Dist.lognormal(3.0, 1.0)
    )
    fee_open_per_call: float = _help("Fee per call, in OPEN (consumers buy the OPEN in the pool).", 1.0)
    price_elasticity: float = _help("Demand falls by this % per 1% rise of the dollar cost of a call.", 1.2)
    max_demand_multiplier: float = _help(
        "Cheap calls raise demand at most this many times (saturation).", 5.0
    )

    def validate(self, where: str) -> None:
        _require(self.count >= 0, where, "count", "must be >= 0")
        _require(self.fee_open_per_call >= 0, where, "fee_open_per_call", "must be >= 0")
        _require(self.price_elasticity >= 0, where, "price_elasticity", "must be >= 0")
        _require(self.max_demand_multiplier >= 1, where, "max_demand_multiplier", "must be >= 1")


@dataclass(frozen=True)
class MarketParams:
    initial_price_usd: float = _help(
        "Price of OPEN at genesis; the pool holds the liquidity allocation at it.", 0.05
    )
    swap_fee_bps: int = _help("Pool swap fee in basis points (stays in the pool).", 30)
    vested_sell_fraction: float = _help(
        "Share of newly unlocked team/investor OPEN sold in the epoch it unlocks.", 0.1
    )
    vested_later_sell_fraction: float = _help(
        "Share of their held OPEN they sell in each later epoch.", 0.002
    )
    model_owner_sell_fraction: float = _help("Share of the model owner's fee income sold at once.", 0.5)
    treasury_spend_usd_per_epoch: float = _help(
        "Operating costs the treasury pays by selling OPEN, dollars per epoch.", 50.0
    )

    def validate(self, where: str) -> None:
        _require(self.initial_price_usd > 0, where, "initial_price_usd", "must be > 0")
        _require(0 <= self.swap_fee_bps < 10_000, where, "swap_fee_bps", "must be in [0, 10000)")
        for name in ("vested_sell_fraction", "vested_later_sell_fraction", "model_owner_sell_fraction"):
            _require(0 <= getattr(self, name) <= 1, where, name, "must be between 0 and 1")
        _require(
            self.treasury_spend_usd_per_epoch >= 0, where, "treasury_spend_usd_per_epoch", "must be >= 0"
        )


SHOCK_KINDS = ("demand", "price_crash")


@dataclass(frozen=True)
class ShockParams:
    kind: str = _help(
        "demand (consumer demand times multiplier while it lasts) or price_crash (the pool's dollar side times multiplier, once, at start_epoch)."
    )
    start_epoch: int = _help("Epoch the shock starts.", 90)
    end_epoch: int | None = _help("Epoch a demand shock ends (null: never).", None)
    multiplier: float = _help("0.3 = demand -70%; 0.2 = price -80%.", 1.0)

    def validate(self, where: str) -> None:
        _require(self.kind in SHOCK_KINDS, where, "kind", f"must be one of {', '.join(SHOCK_KINDS)}")
        _require(self.start_epoch >= 0, where, "start_epoch", "must be >= 0")
        _require(self.multiplier > 0, where, "multiplier", "must be > 0")
        if self.end_epoch is not None:
            _require(self.end_epoch > self.start_epoch, where, "end_epoch", "must be after start_epoch")


@dataclass(frozen=True)
class Scenario:
    """Everything about a simulated world except the emission policy."""

    name: str = _help("Short name, used in file names and reports.")
    description: str = _help("What the scenario tests, for people reading a report.", "")
    epochs: int = _help("Epochs (days) to simulate.", 365)
    contributors: ContributorParams = _help(
        "The organic contributor population.", default_factory=ContributorParams
    )
    stakers: StakerParams = _help("Stakers.", default_factory=StakerParams)
    consumers: ConsumerParams = _help("Consumers.", default_factory=ConsumerParams)
    market: MarketParams = _help("The pool and the other sellers.", default_factory=MarketParams)
    attacks: tuple[AttackParams, ...] = _help("Attacks, each a group of hostile accounts.", ())
    shocks: tuple[ShockParams, ...] = _help("Exogenous shocks to demand or price.", ())
    schedule: dict[str, int] = _help("Overrides of the economy's ScheduleParams (e.g. cliff_months).", {})
    attribution_model: AttributionModelParams = _help(
        "Which measured attribution figures score the work: profile file, method, overlap (simulator/attribution_model.py).",
        default_factory=AttributionModelParams,
    )

    def __post_init__(self) -> None:
        self.validate(where=f"scenario {self.name!r}")

    def validate(self, where: str) -> None:
        if (
            not isinstance(self.name, str)
            or not self.name
            or not self.name.replace("_", "").replace("-", "").isalnum()
        ):
            raise ScenarioError(f"{where}.name: a short name of letters, digits, - and _, got {self.name!r}")
        _require(self.epochs >= 1, where, "epochs", "must be >= 1")
        self.contributors.validate(f"{where}.contributors")
        self.stakers.validate(f"{where}.stakers")
        self.consumers.validate(f"{where}.consumers")
        self.market.validate(f"{where}.market")
        for index, attack in enumerate(self.attacks):
            attack.validate(f"{where}.attacks[{index}]")
        for index, shock in enumerate(self.shocks):
            shock.validate(f"{where}.shocks[{index}]")
        self.schedule_params()  # raises on a bad override

    def schedule_params(self) -> ScheduleParams:
        try:
            return ScheduleParams(**self.schedule)
        except (TypeError, ValueError) as error:
            raise ScenarioError(f"scenario {self.name!r}.schedule: {error}") from None

    def to_data(self) -> dict[str, Any]:
        """The scenario as plain JSON-ready data (what a manifest records)."""
        return _to_data(self)

    def with_changes(self, **changes: Any) -> Scenario:
        return dataclasses.replace(self, **changes)


def _require(condition: bool, where: str, name: str, message: str) -> None:
    if not condition:
        raise ScenarioError(f"{where}.{name}: {message}")


# --- from and to plain data -------------------------------------------------------------------


def _to_data(value: Any) -> Any:
    if isinstance(value, Dist):
        return value.to_data()
    if dataclasses.is_dataclass(value):
        return {f.name: _to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_to_data(item) for item in value]
    if isinstance(value, dict):
        return {key: _to_data(item) for key, item in value.items()}
    return value


def _build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, checking every field's type; errors name ``where``."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a mapping of field: value, got {type(data).__name__}")
    if cls is AttributionModelParams:
        try:
            return AttributionModelParams.from_dict(data)
        except (TypeError, ValueError) as error:
            raise ScenarioError(f"{where}: {error}") from None
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ScenarioError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )
    values = {}
    for name, raw in data.items():
        values[name] = _convert(hints[name], raw, f"{where}.{name}")
    try:
        return cls(**values)
    except TypeError as error:
        raise ScenarioError(f"{where}: {error}") from None


def _convert(hint: Any, raw: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Dist:
        return Dist.from_data(raw, where=where)
    if dataclasses.is_dataclass(hint):
        return _build(hint, raw, where)
    if origin is tuple:
        if not isinstance(raw, list | tuple):
            raise ScenarioError(f"{where}: expected a list, got {type(raw).__name__}")
        return tuple(_convert(args[0], item, f"{where}[{i}]") for i, item in enumerate(raw))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if raw is None and type(None) in args:
            return None
        hint = next(arg for arg in args if arg is not type(None))
        return _convert(hint, raw, where)
    if origin is dict:
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: expected a mapping, got {type(raw).__name__}")
        return {str(key): _convert(args[1], value, f"{where}.{key}") for key, value in raw.items()}
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ScenarioError(f"{where}: expected a number, got {raw!r}")
        return float(raw)
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ScenarioError(f"{where}: expected an integer, got {raw!r}")
        return raw
    if hint is str:
        if not isinstance(raw, str):
            raise ScenarioError(f"{where}: expected text, got {raw!r}")
        return raw
    return raw


def scenario_part_from_data(cls: type, data: dict[str, Any], where: str) -> Any:
    """One part of a scenario (e.g. ContributorParams) from plain data, validated."""
    part = _build(cls, data, where)
    part.validate(where)
    return part


def scenario_from_data(data: dict[str, Any], *, where: str = "scenario") -> Scenario:
    """A Scenario from plain data (a parsed YAML/JSON file); errors name ``where`` and the field."""
    try:
        return _build(Scenario, data, where)
    except ScenarioError as error:
        message = str(error)
        if not message.startswith(where):
            message = f"{where}: {message}"
        raise ScenarioError(message) from None
