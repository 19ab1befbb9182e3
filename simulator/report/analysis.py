"""The numbers a report shows: quantiles over seeds, pass/fail checks, and current vs proposed.

Pure functions of a :class:`~simulator.report.data.SweepData`; the HTML and the charts only
format what these return, so tests can check the numbers without parsing a page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.report.data import ReportError, SweepData

MICRO_OPEN_PER_OPEN = 1_000_000
QUANTILES = (5, 50, 95)
# Which scenarios a check applies to: every scenario with an attack, every one with a price
# crash, or every scenario.
SCENARIO_SELECTORS = ("attack", "price_crash", "all")
OPERATORS = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class Threshold:
    """A pass/fail rule: in every selected scenario, the run summary ``metric`` compared to ``value``.

    The median over seeds must pass (the p5/p95 band is shown next to it so a reader sees how
    close the worse seeds come)."""

    metric: str  # a key of SUMMARY_METRICS
    operator: str  # one of OPERATORS
    value: float
    scenarios: str = "all"  # one of SCENARIO_SELECTORS, or a scenario name
    label: str = ""

    def __post_init__(self) -> None:
        if self.metric not in SUMMARY_METRICS:
            raise ReportError(
                f"threshold {self.label or self.metric!r}: field 'metric' must be one of {', '.join(SUMMARY_METRICS)}, got {self.metric!r}"
            )
        if self.operator not in OPERATORS:
            raise ReportError(
                f"threshold {self.label or self.metric!r}: field 'operator' must be one of {', '.join(OPERATORS)}, got {self.operator!r}"
            )
        if (
            isinstance(self.value, bool)
            or not isinstance(self.value, int | float)
            or not math.isfinite(self.value)
        ):
            raise ReportError(
                f"threshold {self.label or self.metric!r}: field 'value' must be a finite number, got {self.value!r}"
            )

    def passes(self, number: float) -> bool:
        if not math.isfinite(number):
            return False
        return {
            "<": number < self.value,
            "<=": number <= self.value,
            ">": number > self.value,
            ">=": number >= self.value,
        }[self.operator]

    def describe(self) -> str:
        return self.label or f"{SUMMARY_METRICS[self.metric][0]} {self.operator} {self.value:g}"

    @classmethod
    def from_data(cls, data: Any, *, where: str) -> Threshold:
        if not isinstance(data, dict):
            raise ReportError(
                f"{where}: a threshold is a mapping {{metric, operator, value, scenarios, label}}, got {data!r}"
            )
        unknown = set(data) - {"metric", "operator", "value", "scenarios", "label"}
        if unknown:
            raise ReportError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            return cls(**data)
        except (TypeError, ReportError) as error:
            raise ReportError(f"{where}: {error}") from None


# Run summaries: one number per run, computed from its per-epoch metrics.
# name -> (what a reader sees, unit, how to compute it from the run's columns)
SUMMARY_METRICS: dict[str, tuple[str, str]] = {
    "attacker_reward_share": (
        "attackers' share of rewards over the attack period",
        "share of emission paid + fee share, from the first attack or shock to the end (whole run without one)",
    ),
    "honest_rank_correlation": (
        "rank correlation of honest pay with fair pay",
        "Spearman rho of honest accounts' totals against the oracle's pay of the same accounts",
    ),
    "honest_pay_ratio": (
        "honest pay against fair pay",
        "honest accounts' total / what the oracle would pay them",
    ),
    "first_payout_days_median": ("days to a newcomer's first payout", "median over honest newcomers paid"),
    "newcomers_never_paid": ("newcomers never paid", "share of honest newcomers unpaid within 90 days"),
    "honest_retention": ("honest retention", "share at the last epoch"),
    "price": ("price", "USD/OPEN at the last epoch"),
    "staking_ratio": ("staking ratio", "share at the last epoch"),
    "staking_yield": ("stakers' yield", "per year at the last epoch"),
    "honest_reward_gini": (
        "Gini of honest contributors' rewards",
        "index, whole run per account, from the recorded Lorenz curve",
    ),
    "honest_rewards_open": ("paid to honest contributors", "OPEN, whole run"),
    "treasury_open": ("treasury", "OPEN at the last epoch"),
    "carried_over_share": (
        "community allocation released but not paid (carried over)",
        "share of the allocation at the last epoch",
    ),
    "carried_over_open": ("emission carried over", "OPEN at the last epoch"),
}


def default_thresholds() -> tuple[Threshold, ...]:
    return (
        Threshold(
            "attacker_reward_share",
            "<",
            0.05,
            "attack",
            "attackers capture < 5% of rewards in every attack scenario",
        ),
        Threshold("honest_retention", ">", 0.80, "price_crash", "honest retention > 80% after a price crash"),
        Threshold(
            "honest_rank_correlation",
            ">=",
            0.9,
            "all",
            "honest pay ranks as fair pay does (Spearman >= 0.9) in every scenario",
        ),
        Threshold("honest_pay_ratio", ">=", 0.9, "all", "honest contributors receive >= 90% of fair pay"),
    )


def thresholds_from_data(data: Any, *, where: str = "thresholds") -> tuple[Threshold, ...]:
    if not isinstance(data, list) or not data:
        raise ReportError(f"{where}: expected a non-empty list of thresholds")
    return tuple(Threshold.from_data(item, where=f"{where}[{i}]") for i, item in enumerate(data))


def _last(row: np.ndarray) -> float:
    finite = row[~np.isnan(row)]
    return float(finite[-1]) if finite.size else float("nan")


def carried_over(sweep: SweepData, *, scenario: str, policy: str) -> tuple[np.ndarray, np.ndarray]:
    """Per run: the emission carried over at the last epoch (micro-OPEN) and its share of the
    community allocation, which is what the schedule has not released yet plus every emission so
    far (exact: the amounts are integers below 2**53). NaN shares for a sweep without
    ``community_unreleased`` (made before it was recorded)."""
    carry = np.array([_last(row) for row in sweep.series("carry_over", scenario=scenario, policy=policy)])
    if "community_unreleased" not in sweep.columns:
        return carry, np.full(carry.shape, np.nan)
    unreleased = np.array(
        [_last(row) for row in sweep.series("community_unreleased", scenario=scenario, policy=policy)]
    )
    released = np.nansum(sweep.series("emission", scenario=scenario, policy=policy), axis=1)
    allocation = unreleased + released
    with np.errstate(invalid="ignore", divide="ignore"):
        return carry, np.where(allocation > 0, carry / allocation, np.nan)


def honest_reward_gini(sweep: SweepData, *, scenario: str, policy: str, runs: int) -> np.ndarray:
    """Per run, the Gini of honest accounts' rewards over the whole run, as recorded with the
    Lorenz curve (the same integers, so the figure and the curve agree); NaN where not recorded."""
    recorded = sweep.lorenz_value("gini", group="honest", scenario=scenario, policy=policy)
    return recorded if recorded.size == runs else np.full(runs, np.nan)


def stress_start(sweep: SweepData, scenario: str) -> int:
    """The epoch the scenario's first attack or shock starts; 0 for a scenario with neither."""
    data = sweep.manifest["scenarios"][scenario]
    starts = [event["start_epoch"] for event in (data.get("attacks") or []) + (data.get("shocks") or [])]
    return min(starts, default=0)


def attacker_share_over_stress(sweep: SweepData, *, scenario: str, policy: str) -> np.ndarray:
    """Per run: attackers' share of contributor rewards (emission + fee share) from the first attack
    or shock to the end, from the integer per-epoch totals; NaN for a sweep made before they were
    recorded (format v2 and older), which the report says needs running again."""
    if "attacker_rewards" not in sweep.columns:
        return np.full(len(sweep.series("paid", scenario=scenario, policy=policy)), np.nan)
    start = stress_start(sweep, scenario)
    rewards = np.nansum(sweep.series("rewards", scenario=scenario, policy=policy)[:, start:], axis=1)
    attacker = np.nansum(
        sweep.series("attacker_rewards", scenario=scenario, policy=policy)[:, start:], axis=1
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rewards > 0, attacker / rewards, np.nan)


FAIRNESS_SUMMARIES = (
    "honest_rank_correlation",
    "honest_pay_ratio",
    "first_payout_days_median",
    "newcomers_never_paid",
)


def run_summaries(sweep: SweepData, *, scenario: str, policy: str) -> dict[str, np.ndarray]:
    """Every SUMMARY_METRICS value of every run (seed) of one scenario under one policy."""
    paid = sweep.series("paid", scenario=scenario, policy=policy)
    share = sweep.series("attacker_reward_share", scenario=scenario, policy=policy)
    shares = np.where(np.isnan(share), 0.0, share)
    out = {
        "attacker_reward_share": attacker_share_over_stress(sweep, scenario=scenario, policy=policy),
        "honest_rewards_open": ((1.0 - shares) * np.where(np.isnan(paid), 0.0, paid)).sum(axis=1)
        / MICRO_OPEN_PER_OPEN,
        "honest_reward_gini": honest_reward_gini(sweep, scenario=scenario, policy=policy, runs=len(paid)),
        "treasury_open": np.array(
            [_last(row) for row in sweep.series("treasury", scenario=scenario, policy=policy)]
        )
        / MICRO_OPEN_PER_OPEN,
    }
    carry, carry_share = carried_over(sweep, scenario=scenario, policy=policy)
    out["carried_over_open"] = carry / MICRO_OPEN_PER_OPEN
    out["carried_over_share"] = carry_share
    for name in ("honest_retention", "price", "staking_ratio", "staking_yield"):
        out[name] = np.array([_last(row) for row in sweep.series(name, scenario=scenario, policy=policy)])
    for name in FAIRNESS_SUMMARIES:
        recorded = sweep.fairness_value(name, scenario=scenario, policy=policy)
        out[name] = recorded if recorded.size == len(paid) else np.full(len(paid), np.nan)
    return out


@dataclass(frozen=True)
class Spread:
    """Median and the [p5, p95] band over seeds."""

    median: float
    p5: float
    p95: float
    runs: int

    @classmethod
    def of(cls, values: np.ndarray) -> Spread:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return cls(float("nan"), float("nan"), float("nan"), int(values.size))
        p5, median, p95 = np.percentile(finite, QUANTILES)
        return cls(float(median), float(p5), float(p95), int(values.size))


def scenario_kinds(sweep: SweepData, scenario: str) -> set[str]:
    data = sweep.manifest["scenarios"][scenario]
    kinds = {"all", scenario}
    if data.get("attacks"):
        kinds.add("attack")
    if any(shock.get("kind") == "price_crash" for shock in data.get("shocks") or ()):
        kinds.add("price_crash")
    return kinds


@dataclass(frozen=True)
class CheckResult:
    threshold: Threshold
    scenario: str
    policy: str
    spread: Spread
    passed: bool


@dataclass(frozen=True)
class Analysis:
    """Everything the report shows, as numbers."""

    summaries: dict[tuple[str, str], dict[str, Spread]]  # (scenario, policy) -> metric -> spread
    checks: list[CheckResult]
    thresholds: tuple[Threshold, ...]
    pooled: dict[str, dict[str, Spread]] = field(default_factory=dict)  # policy -> metric -> over every run

    def passed(self, policy: str) -> tuple[int, int]:
        mine = [check for check in self.checks if check.policy == policy]
        return sum(check.passed for check in mine), len(mine)


def analyse(sweep: SweepData, thresholds: tuple[Threshold, ...] | None = None) -> Analysis:
    thresholds = default_thresholds() if thresholds is None else thresholds
    summaries: dict[tuple[str, str], dict[str, Spread]] = {}
    pooled_values: dict[str, dict[str, list[np.ndarray]]] = {}
    checks = []
    for scenario in sweep.scenarios:
        kinds = scenario_kinds(sweep, scenario)
        for policy in sweep.policies:
            values = run_summaries(sweep, scenario=scenario, policy=policy)
            summaries[scenario, policy] = {name: Spread.of(array) for name, array in values.items()}
            for name, array in values.items():
                pooled_values.setdefault(policy, {}).setdefault(name, []).append(array)
            for threshold in thresholds:
                if threshold.scenarios in kinds:
                    spread = summaries[scenario, policy][threshold.metric]
                    checks.append(
                        CheckResult(threshold, scenario, policy, spread, threshold.passes(spread.median))
                    )
    pooled = {
        policy: {name: Spread.of(np.concatenate(arrays)) for name, arrays in metrics.items()}
        for policy, metrics in pooled_values.items()
    }
    return Analysis(summaries=summaries, checks=checks, thresholds=thresholds, pooled=pooled)


# Who gains or loses from a change, and through which number (higher is better for the group,
# except for the attackers, where a fall is what the protocol wants).
STAKEHOLDERS = (
    ("honest contributors", "honest_rewards_open"),
    ("attackers", "attacker_reward_share"),
    ("stakers", "staking_yield"),
    ("token holders", "price"),
    ("treasury", "treasury_open"),
)


@dataclass(frozen=True)
class Impact:
    group: str
    metric: str
    current: float
    proposed: float

    @property
    def change(self) -> float:
        return self.proposed - self.current

    @property
    def relative(self) -> float:
        return self.change / abs(self.current) if self.current else float("nan")

    @property
    def verdict(self) -> str:
        if not (math.isfinite(self.current) and math.isfinite(self.proposed)):
            return "unknown"
        scale = max(abs(self.current), abs(self.proposed), 1e-12)
        if abs(self.change) <= 0.01 * scale:
            return "about the same"
        return "gains" if self.change > 0 else "loses"


def impacts(analysis: Analysis, *, current: str, proposed: str) -> list[Impact]:
    """Each stakeholder group's median (over every scenario and seed) under both policies."""
    return [
        Impact(
            group, metric, analysis.pooled[current][metric].median, analysis.pooled[proposed][metric].median
        )
        for group, metric in STAKEHOLDERS
    ]


def parameter_rows(manifest: dict[str, Any]) -> list[tuple[str, list[Any], bool]]:
    """(parameter, [value per policy label], differs) over the union of every policy's parameters."""
    policies = manifest["policies"]
    names: list[str] = ["policy"]
    for entry in policies.values():
        names += [name for name in entry["params"] if name not in names]
    rows = []
    for name in names:
        values = [
            entry["policy"] if name == "policy" else entry["params"].get(name, "—")
            for entry in policies.values()
        ]
        rows.append((name, values, any(value != values[0] for value in values)))
    return rows
