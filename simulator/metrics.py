"""The metrics recorded every epoch, and the inequality measures behind them.

:data:`METRICS` is the table's schema: one column per metric, with its type, unit and meaning.
Both engines record exactly these columns (through a Mesa ``DataCollector``), a sweep stores them
in Parquet, and a report reads the descriptions from here. Amounts of OPEN are int64 sim units
(1 sim unit = 1 micro-OPEN, see :mod:`simulator.accounting`), so sums stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.attribution_model import Kind


@dataclass(frozen=True)
class Metric:
    name: str
    dtype: str  # "int64", "float64" or "bool"
    unit: str
    description: str


_KIND_COLUMNS = tuple(
    Metric(
        f"{kind.label}_present",
        "int64",
        "accounts",
        f"{kind.label.capitalize()} contributor accounts present.",
    )
    for kind in Kind
)

METRICS: tuple[Metric, ...] = (
    Metric("epoch", "int64", "epoch", "Epoch index (0 = genesis day)."),
    Metric("emission", "int64", "micro-OPEN", "Emission budget released by the schedule this epoch."),
    Metric("budget", "int64", "micro-OPEN", "What the policy could pay: emission plus the carry-over."),
    Metric("paid", "int64", "micro-OPEN", "Emission the policy paid to contributors."),
    Metric("carry_over", "int64", "micro-OPEN", "Budget the policy did not pay, carried to the next epoch."),
    Metric("fees", "int64", "micro-OPEN", "Fees consumers paid (bought in the pool) this epoch."),
    Metric("calls", "int64", "calls", "Inference calls consumers bought."),
    Metric(
        "slashed",
        "int64",
        "micro-OPEN",
        "Bonds slashed by the policy (to the treasury), delegated stake included.",
    ),
    Metric(
        "slashed_from_stakers", "int64", "micro-OPEN", "The part of it taken from stakers' delegated stake."
    ),
    Metric(
        "supply",
        "int64",
        "micro-OPEN",
        "Total supply; always circulating + locked + staked + treasury + pool.",
    ),
    Metric("circulating", "int64", "micro-OPEN", "OPEN in wallets."),
    Metric(
        "locked",
        "int64",
        "micro-OPEN",
        "Community OPEN not emitted, carried-over budget, unvested team/investor OPEN.",
    ),
    Metric("staked", "int64", "micro-OPEN", "Stakes (including those cooling down) and contributor bonds."),
    Metric("treasury", "int64", "micro-OPEN", "The protocol treasury."),
    Metric("pool", "int64", "micro-OPEN", "OPEN in the market pool."),
    Metric("pool_usd", "float64", "USD", "Dollars in the market pool."),
    Metric("price", "float64", "USD/OPEN", "Pool price at the end of the epoch."),
    Metric("staking_ratio", "float64", "share", "staked / (staked + circulating)."),
    Metric("staking_yield", "float64", "per year", "Stakers' fee income (moving average) x 365 / stake."),
    Metric("stakers_staked", "int64", "stakers", "Stakers with a stake."),
    Metric("contributors_present", "int64", "accounts", "Contributor accounts present (arrived, not left)."),
    Metric("contributors_active", "int64", "accounts", "Contributor accounts that judged this epoch."),
    *_KIND_COLUMNS,
    Metric("judgments", "int64", "judgments", "Judgments submitted this epoch."),
    Metric("flagged", "int64", "accounts", "Accounts flagged by quality control this epoch."),
    Metric(
        "honest_retention",
        "float64",
        "share",
        "Honest contributors present / honest contributors ever arrived.",
    ),
    Metric(
        "attacker_reward_share",
        "float64",
        "share",
        "Non-honest accounts' share of this epoch's contributor rewards (emission + fee share).",
    ),
    Metric(
        "attacker_true_share",
        "float64",
        "share",
        "Their share of this epoch's true contribution (noise-free attribution, clipped at 0).",
    ),
    Metric(
        "attacker_return_on_cost",
        "float64",
        "ratio",
        "Attackers' (value received - cost) / cost so far; NaN before any cost.",
    ),
    Metric(
        "honest_reward_gini",
        "float64",
        "index",
        "Gini of this epoch's rewards among honest contributors who judged.",
    ),
    Metric(
        "honest_reward_top10_share",
        "float64",
        "share",
        "Share of those rewards going to the top 10% of them.",
    ),
    Metric(
        "stake_nakamoto",
        "int64",
        "holders",
        "Fewest stake holders (stakers and bonded accounts) holding over half the stake.",
    ),
    Metric(
        "treasury_runway",
        "float64",
        "epochs",
        "Treasury value / its spending per epoch; inf when it spends nothing.",
    ),
    Metric(
        "accounts_settled",
        "int64",
        "accounts",
        "Accounts the policy was called with (pseudo-accounts when grouped).",
    ),
)

METRIC_NAMES = tuple(metric.name for metric in METRICS)


def gini(values: np.ndarray, *, already_sorted: bool = False) -> float:
    """Gini coefficient of non-negative values (0 = equal, towards 1 = one holds everything)."""
    ascending = values if already_sorted else np.sort(values)
    n = ascending.size
    cumulative = np.cumsum(ascending, dtype=np.float64)
    if n == 0 or cumulative[-1] <= 0:
        return float("nan")
    # G = (n + 1 - 2 * sum_i(cumulative_i) / total) / n, the rank-weighted form without a product.
    return float((n + 1 - 2.0 * cumulative.sum() / cumulative[-1]) / n)


def top_share(values: np.ndarray, fraction: float = 0.1, *, already_sorted: bool = False) -> float:
    """Share of the total held by the top ``fraction`` of holders (at least one holder)."""
    n = len(values)
    total = float(np.sum(values, dtype=np.float64))
    if n == 0 or total <= 0:
        return float("nan")
    top = max(1, int(np.ceil(n * fraction)))
    largest = values[n - top :] if already_sorted else np.partition(values, n - top)[n - top :]
    return float(np.sum(largest, dtype=np.float64) / total)


def nakamoto(holdings: np.ndarray) -> int:
    """Fewest holders whose holdings add up to more than half the total (0 if nothing is held)."""
    holdings = np.asarray(holdings)
    holdings = holdings[holdings > 0]
    if holdings.size == 0:
        return 0
    half = int(holdings.sum()) // 2
    descending = np.sort(holdings)[::-1]
    return int(np.searchsorted(np.cumsum(descending), half, side="right") + 1)


def share(part: float, whole: float) -> float:
    return float(part / whole) if whole > 0 else float("nan")
