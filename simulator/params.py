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
import types
import typing
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.attribution_model import ATTACKER_KINDS, AttributionModelParams, Kind
from simulator.economy.fields import (
    BASIS_POINTS,
    int_in,
    non_negative_int,
    one_of,
    optional,
    param,
    positive_int,
    probability,
    real_in,
    require_finite_real,
    require_int,
    require_known_fields,
    require_text,
    validate_fields,
)
from simulator.economy.schedule import ScheduleParams


class ScenarioError(ValueError):
    """A scenario file or mapping is wrong; the message names where."""


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
# Each field declares its check (simulator.economy.fields); validate() runs them and then the rules
# across fields.


@dataclass(frozen=True)
class ContributorParams:
    """The organic contributor population (honest people and a few low-effort or hostile ones)."""

    initial: int = param(1000, "Contributors present at genesis.", non_negative_int)
    arrivals_per_epoch: float = param(10.0, "Mean new contributors per epoch (Poisson).", real_in(0))
    mix: dict[str, float] = param(
        {"honest": 0.95, "lazy": 0.04, "flipper": 0.01},
        "Kinds of organic contributors, as shares adding up to 1 (honest, lazy, flipper).",
    )
    participation: Dist = param(Dist.beta(2.0, 3.0), "Per-contributor probability of judging on a given day.")
    judgments_per_active_day: Dist = param(
        Dist.lognormal(1.8, 0.8),
        "Per-contributor mean judgments on a day they judge (heavy-tailed); at least 1.",
    )
    seconds_per_judgment: Dist = param(Dist.lognormal(3.4, 0.5), "Per-contributor time one judgment takes.")
    quality: Dist = param(Dist.beta(8.0, 2.0), "Per-contributor probability that a judgment is correct.")
    majority_accuracy: float = param(
        0.9,
        "Probability that a comparison's majority is correct; agreement with it is what quality control sees.",
        real_in(0, 1, above=0.5),
    )
    flag_probability: float = param(
        0.02, "Probability that quality control flags a contributor in an epoch.", probability
    )
    lazy_flag_probability: float = param(
        0.3, "The same for a lazy random clicker (too fast, straight-lining).", probability
    )
    lazy_speedup: float = param(5.0, "A lazy clicker spends this many times less time per judgment.", real_in(1))
    reservation_wage_usd_per_hour: Dist = param(
        Dist.lognormal(2.0, 0.6), "Per-contributor hourly earnings below which they leave."
    )
    sell_fraction: float = param(
        0.5, "Share of each epoch's earnings an honest contributor sells at once.", probability
    )
    min_tenure_epochs: int = param(
        14, "Epochs a newcomer stays before weighing whether to leave.", non_negative_int
    )
    earnings_memory_epochs: float = param(
        14.0, "Span of the moving average of earnings and hours they weigh.", real_in(1)
    )
    bond_open: float = param(
        50.0, "OPEN a contributor buys and bonds on arrival when the policy reads bonds.", real_in(0)
    )

    def validate(self, where: str) -> None:
        _check_fields(self, where)
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

    def mix_shares(self) -> np.ndarray:
        shares = np.zeros(len(Kind))
        for name, share in self.mix.items():
            shares[Kind.parse(name, where="mix")] = share
        return shares


@dataclass(frozen=True)
class AttackParams:
    """An attack: accounts of one hostile kind that arrive at ``start_epoch``."""

    kind: str = param(
        help="lazy (spam), flipper (poisoning), sybil (one operator, many accounts) or colluder (a ring).",
        check=require_text,
    )
    start_epoch: int = param(30, "Epoch the attackers arrive.", non_negative_int)
    end_epoch: int | None = param(
        None, "Epoch they all leave (null: they stay until unprofitable).", optional(require_int)
    )
    actors: int = param(
        1, "Independent attackers: accounts (lazy, flipper), operators (sybil) or rings (colluder).", positive_int
    )
    accounts_per_actor: int = param(
        1, "Sybil: accounts per operator; colluder: members per ring; else 1.", positive_int
    )
    ramp_epochs: int = param(1, "Arrivals are spread evenly over this many epochs.", positive_int)
    quality: float = param(
        0.5, "Probability a judgment is correct (the operator's or ring's; a flipper's skill).", probability
    )
    judgments_per_active_day: float = param(30.0, "Mean judgments per account on a day it judges.", real_in(1))
    participation: float = param(1.0, "Probability of judging on a given day.", probability)
    agreement: float | None = param(
        None,
        "Rate at which the accounts agree with the comparison majority (a ring or a cluster forms its own "
        "majority); null: as an independent judge of their quality would.",
        optional(probability),
    )
    flag_probability: float = param(0.02, "Probability quality control flags an account in an epoch.", probability)
    detection_probability: float = param(
        0.0, "Sybil: probability the site links an operator's accounts into one cluster.", probability
    )
    seconds_per_judgment: float = param(
        10.0, "Time one judgment takes the attacker (once per operator for sybils).", real_in(0)
    )
    wage_usd_per_hour: float = param(5.0, "The attacker's value of time, a cost of the attack.", real_in(0))
    cost_usd_per_account_per_epoch: float = param(
        0.05, "Running cost of one account per epoch (phone number, IP, captcha).", real_in(0)
    )
    sell_fraction: float = param(1.0, "Share of earnings sold at once.", probability)

    def validate(self, where: str) -> None:
        _check_fields(self, where)
        kind = Kind.parse(self.kind, where=f"{where}.kind")
        _require(kind in ATTACKER_KINDS, where, "kind", "an attack is lazy, flipper, sybil or colluder")
        if self.end_epoch is not None:
            _require(self.end_epoch > self.start_epoch, where, "end_epoch", "must be after start_epoch")
        if kind not in (Kind.SYBIL, Kind.COLLUDER):
            _require(
                self.accounts_per_actor == 1,
                where,
                "accounts_per_actor",
                "only sybil and colluder attacks have several",
            )

    @property
    def kind_enum(self) -> Kind:
        return Kind.parse(self.kind, where="attack.kind")

    @property
    def accounts(self) -> int:
        return self.actors * self.accounts_per_actor


@dataclass(frozen=True)
class StakerParams:
    count: int = param(200, "Stakers (people who may buy OPEN to stake it).", non_negative_int)
    usd_budget: Dist = param(
        Dist.lognormal(8.5, 1.2), "Dollars each staker may put in (heavy-tailed: whales exist)."
    )
    outside_rate: Dist = param(
        Dist.uniform(0.02, 0.12),
        "Each staker's yearly return elsewhere; they stake when staking yields more.",
    )
    hysteresis: float = param(0.01, "Yield margin (yearly) around the outside rate before they act.", real_in(0))
    decision_probability: float = param(0.1, "Probability a staker reconsiders in a given epoch.", probability)
    cooldown_epochs: int = param(
        7, "Epochs between asking to unstake and getting the OPEN back.", non_negative_int
    )
    yield_memory_epochs: float = param(
        30.0, "Span of the moving average of staking income they weigh.", real_in(1)
    )
    delegated_share: float = param(
        0.5,
        "Share of each stake delegated to back the bonds of the contributors who judge, under a policy "
        "that slashes bonds: it is slashed with them (so stakers weigh income net of slashes).",
        probability,
    )
    sell_fraction_on_exit: float = param(1.0, "Share of unstaked OPEN sold when the cooldown ends.", probability)

    def validate(self, where: str) -> None:
        _check_fields(self, where)


@dataclass(frozen=True)
class ConsumerParams:
    count: int = param(1000, "Consumers buying inference from the models.", non_negative_int)
    calls_per_epoch: Dist = param(
        Dist.lognormal(3.0, 1.0), "Each consumer's mean calls per epoch at the reference price."
    )
    price_elasticity: float = param(
        1.2, "Demand falls by this % per 1% rise of the dollar cost of a call.", real_in(0)
    )
    max_demand_multiplier: float = param(
        5.0, "Cheap calls raise demand at most this many times (saturation).", real_in(1)
    )
    prompt_tokens_per_call: int = param(
        200, "Tokens a call sends the model; the policy's price_per_token prices them.", non_negative_int
    )
    reply_tokens_per_call: int = param(
        100, "Tokens a call gets back; the policy's price_per_token prices them.", non_negative_int
    )

    def validate(self, where: str) -> None:
        _check_fields(self, where)


@dataclass(frozen=True)
class MarketParams:
    initial_price_usd: float = param(
        0.05, "Price of OPEN at genesis; the pool holds the liquidity allocation at it.", real_in(above=0)
    )
    swap_fee_bps: int = param(
        30, "Pool swap fee in basis points (stays in the pool).", int_in(0, BASIS_POINTS - 1)
    )
    vested_sell_fraction: float = param(
        0.1, "Share of newly unlocked team/investor OPEN sold in the epoch it unlocks.", probability
    )
    vested_later_sell_fraction: float = param(
        0.002, "Share of their held OPEN they sell in each later epoch.", probability
    )
    model_owner_sell_fraction: float = param(
        0.5, "Share of the model owner's fee income sold at once.", probability
    )
    treasury_spend_usd_per_epoch: float = param(
        50.0, "Operating costs the treasury pays by selling OPEN, dollars per epoch.", real_in(0)
    )

    def validate(self, where: str) -> None:
        _check_fields(self, where)


SHOCK_KINDS = ("demand", "price_crash")


@dataclass(frozen=True)
class ShockParams:
    kind: str = param(
        help="demand (consumer demand times multiplier while it lasts) or price_crash (the pool's dollar side times multiplier, once, at start_epoch).",
        check=one_of(SHOCK_KINDS),
    )
    start_epoch: int = param(90, "Epoch the shock starts.", non_negative_int)
    end_epoch: int | None = param(None, "Epoch a demand shock ends (null: never).", optional(require_int))
    multiplier: float = param(1.0, "0.3 = demand -70%; 0.2 = price -80%.", real_in(above=0))

    def validate(self, where: str) -> None:
        _check_fields(self, where)
        if self.end_epoch is not None:
            _require(self.end_epoch > self.start_epoch, where, "end_epoch", "must be after start_epoch")


@dataclass(frozen=True)
class Scenario:
    """Everything about a simulated world except the emission policy."""

    name: str = param(help="Short name, used in file names and reports.")
    description: str = param("", "What the scenario tests, for people reading a report.", require_text)
    epochs: int = param(365, "Epochs (days) to simulate.", positive_int)
    contributors: ContributorParams = param(
        help="The organic contributor population.", default_factory=ContributorParams
    )
    stakers: StakerParams = param(help="Stakers.", default_factory=StakerParams)
    consumers: ConsumerParams = param(help="Consumers.", default_factory=ConsumerParams)
    market: MarketParams = param(help="The pool and the other sellers.", default_factory=MarketParams)
    attacks: tuple[AttackParams, ...] = param((), "Attacks, each a group of hostile accounts.")
    shocks: tuple[ShockParams, ...] = param((), "Exogenous shocks to demand or price.")
    schedule: dict[str, int] = param({}, "Overrides of the economy's ScheduleParams (e.g. cliff_months).")
    attribution_model: AttributionModelParams = param(
        help="Which measured attribution figures score the work: profile file, method, overlap (simulator/attribution_model.py).",
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
        _check_fields(self, where)
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
        data: dict[str, Any] = _to_data(self)
        return data

    def with_changes(self, **changes: Any) -> Scenario:
        return dataclasses.replace(self, **changes)


def _check_fields(part: Any, where: str) -> None:
    """The checks every field of ``part`` declares, as a ScenarioError naming ``where``.field."""
    try:
        validate_fields(part, where=where)
    except (TypeError, ValueError) as error:
        raise ScenarioError(str(error)) from None


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
    """Build dataclass ``cls`` from a mapping, checking every field; errors name ``where``."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a mapping of field: value, got {type(data).__name__}")
    if cls is AttributionModelParams:
        try:
            return AttributionModelParams.from_dict(data)
        except (TypeError, ValueError) as error:
            raise ScenarioError(f"{where}: {error}") from None
    try:
        require_known_fields(cls, data, where=where)
    except ValueError as error:
        raise ScenarioError(str(error)) from None
    hints = typing.get_type_hints(cls)
    values = {name: _convert(hints[name], raw, f"{where}.{name}") for name, raw in data.items()}
    try:
        built = cls(**values)
    except TypeError as error:
        raise ScenarioError(f"{where}: {error}") from None
    if cls is not Scenario:  # a Scenario validates itself, naming itself
        _check_fields(built, where)
    return built


def _convert(hint: Any, raw: Any, where: str) -> Any:
    """``raw`` in the shape ``hint`` says: nested parts built, lists as tuples, whole numbers as
    floats where a float belongs; the value itself is checked by the field's declared check."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Dist:
        return Dist.from_data(raw, where=where)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, raw, where)
    if origin is tuple:
        if not isinstance(raw, list | tuple):
            raise ScenarioError(f"{where}: expected a list, got {type(raw).__name__}")
        return tuple(_convert(args[0], item, f"{where}[{i}]") for i, item in enumerate(raw))
    if origin in (typing.Union, types.UnionType):
        if raw is None and type(None) in args:
            return None
        hint = next(arg for arg in args if arg is not type(None))
        return _convert(hint, raw, where)
    if origin is dict:
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: expected a mapping, got {type(raw).__name__}")
        return {str(key): _convert(args[1], value, f"{where}.{key}") for key, value in raw.items()}
    checks = {float: require_finite_real, int: require_int, str: require_text}
    if hint in checks:
        try:
            checks[hint](raw, where=where)
        except (TypeError, ValueError) as error:
            raise ScenarioError(str(error)) from None
    return float(raw) if hint is float else raw


def scenario_part_from_data(cls: type, data: dict[str, Any], where: str) -> Any:
    """One part of a scenario (e.g. ContributorParams) from plain data, validated."""
    part = _build(cls, data, where)
    part.validate(where)
    return part


def scenario_from_data(data: dict[str, Any], *, where: str = "scenario") -> Scenario:
    """A Scenario from plain data (a parsed YAML/JSON file); errors name ``where`` and the field."""
    try:
        scenario: Scenario = _build(Scenario, data, where)
        return scenario
    except ScenarioError as error:
        message = str(error)
        if not message.startswith(where):
            message = f"{where}: {message}"
        raise ScenarioError(message) from None
