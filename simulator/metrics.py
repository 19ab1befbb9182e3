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
    dtype: str  # "int64", "float64", "bool" or "string"
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
    Metric(
        "community_unreleased",
        "int64",
        "micro-OPEN",
        "Community allocation the schedule has not released yet (so the allocation is this plus every "
        "epoch's emission so far).",
    ),
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


_NAKAMOTO_FIRST_LOOK = 256  # holders sorted at first; most epochs need far fewer


def nakamoto(holdings: np.ndarray) -> int:
    """Fewest holders whose holdings add up to more than half the total (0 if nothing is held)."""
    holdings = np.asarray(holdings)
    holdings = holdings[holdings > 0]
    if holdings.size == 0:
        return 0
    half = int(holdings.sum()) // 2
    # Usually a few holders pass half, so sort only the largest ones, widening until they do
    # (the k largest values are the same whichever tied holders partition picks).
    n = holdings.size
    largest = min(n, _NAKAMOTO_FIRST_LOOK)
    while True:
        top = holdings if largest == n else np.partition(holdings, n - largest)[n - largest :]
        running = np.cumsum(np.sort(top)[::-1])
        if largest == n or running[-1] > half:
            return int(np.searchsorted(running, half, side="right") + 1)
        largest = min(n, largest * 8)


def share(part: float, whole: float) -> float:
    return float(part / whole) if whole > 0 else float("nan")


# --- the Lorenz curve of rewards, recorded once per run ------------------------------------------
#
# Per-epoch Gini values say how unequal one day's pay was; governance asks how unequal the pay of
# a whole run was. So every run also records, at its end, the Lorenz curve of each contributor
# account's cumulative rewards (emission payouts plus fee share, in micro-OPEN, before slashes and
# sales), computed exactly from the integer totals.

LORENZ_STEPS = 20
LORENZ_GRID: tuple[float, ...] = tuple(step / LORENZ_STEPS for step in range(LORENZ_STEPS + 1))
LORENZ_GROUPS: dict[str, str] = {
    "honest": "Honest contributor accounts that arrived during the run, including those who left and "
    "those never paid.",
    "all": "Every contributor account that arrived during the run: honest and attacker kinds alike "
    "(each sybil account counts as one account).",
}


def lorenz_column(population_share: float) -> str:
    """The column holding the curve at ``population_share``: ``share_poorest_005`` for 5%."""
    return f"share_poorest_{round(population_share * 100):03d}"


LORENZ_METRICS: tuple[Metric, ...] = (
    Metric(
        "group", "string", "", "Whose rewards: " + "; ".join(f"{k}: {v}" for k, v in LORENZ_GROUPS.items())
    ),
    Metric("accounts", "int64", "accounts", "Contributor accounts in the group (zero totals included)."),
    Metric(
        "total_rewards", "int64", "micro-OPEN", "Their rewards over the run, emission payouts plus fee share."
    ),
    Metric(
        "gini", "float64", "index", "Gini of their cumulative rewards, exact from the per-account totals."
    ),
    *(
        Metric(
            lorenz_column(p),
            "float64",
            "share",
            f"Share of the group's rewards held by its poorest {p:.0%} (linear between accounts).",
        )
        for p in LORENZ_GRID
    ),
)


@dataclass(frozen=True)
class LorenzCurve:
    """The Lorenz curve of one group's cumulative rewards at :data:`LORENZ_GRID`.

    ``shares`` is NaN throughout when nobody in the group was paid (the curve is undefined)."""

    group: str
    accounts: int
    total_rewards: int
    gini: float
    shares: tuple[float, ...]

    def as_row(self) -> dict[str, object]:
        return {
            "group": self.group,
            "accounts": self.accounts,
            "total_rewards": self.total_rewards,
            "gini": self.gini,
            **{lorenz_column(p): value for p, value in zip(LORENZ_GRID, self.shares, strict=True)},
        }


def lorenz_curve(group: str, totals: np.ndarray, *, steps: int = LORENZ_STEPS) -> LorenzCurve:
    """The exact Lorenz curve of integer ``totals`` at population shares 0, 1/steps, ..., 1.

    Between two accounts the curve is the straight line joining them (the standard piecewise-linear
    curve through (i/n, S_i/S)), so at share k/steps it is (steps*S_j + r*x_(j+1)) / (steps*S) with
    j = floor(k*n/steps) and r the remainder: a ratio of integers, divided once into a float. The
    Gini is 1 - 2 * the area under that same curve, also from integers."""
    sorted_totals = np.sort(np.asarray(totals, dtype=np.int64))
    if sorted_totals.size and sorted_totals[0] < 0:
        raise ValueError(f"Lorenz curve of {group!r}: rewards cannot be negative, got {sorted_totals[0]}")
    ascending = sorted_totals.tolist()  # Python ints from here: sums of prefix sums pass int64
    n = len(ascending)
    # Prefix sums fit int64: no run pays out more than the supply (1e15 micro-OPEN).
    prefix = [0, *np.cumsum(sorted_totals).tolist()]
    total = prefix[-1]
    if total == 0:
        return LorenzCurve(group, n, 0, float("nan"), tuple(float("nan") for _ in range(steps + 1)))
    shares = []
    for k in range(steps + 1):
        j, remainder = divmod(k * n, steps)
        partial = steps * prefix[j] + (remainder * ascending[j] if remainder else 0)
        shares.append(partial / (steps * total))
    # G = (n + 1 - 2 * sum_i(S_i) / S) / n, kept as one integer ratio.
    gini_value = ((n + 1) * total - 2 * sum(prefix[1:])) / (n * total)
    return LorenzCurve(group, n, total, gini_value, tuple(shares))


class RewardTotals:
    """Every contributor account's kind and cumulative rewards, by its row (rows are never reused).

    The model admits each newcomer's row and credits each epoch's rewards; both engines name a
    contributor by the same row number, so this one record serves them both."""

    def __init__(self) -> None:
        self._kinds = np.zeros(1024, dtype=np.int8)
        self._totals = np.zeros(1024, dtype=np.int64)
        self.size = 0

    def admit(self, rows: np.ndarray, kinds: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return
        needed = int(rows.max()) + 1
        if needed > len(self._kinds):
            capacity = max(needed, 2 * len(self._kinds))
            self._kinds = np.concatenate([self._kinds, np.zeros(capacity - len(self._kinds), np.int8)])
            self._totals = np.concatenate([self._totals, np.zeros(capacity - len(self._totals), np.int64)])
        self._kinds[rows] = kinds
        self.size = max(self.size, needed)

    def credit(self, rows: np.ndarray, amounts: np.ndarray) -> None:
        if len(rows) and int(np.max(rows)) >= self.size:
            raise ValueError(f"reward credited to contributor row {int(np.max(rows))}, never admitted")
        np.add.at(self._totals, np.asarray(rows, dtype=np.int64), np.asarray(amounts, dtype=np.int64))

    @property
    def kinds(self) -> np.ndarray:
        return self._kinds[: self.size]

    @property
    def totals(self) -> np.ndarray:
        return self._totals[: self.size]

    def lorenz(self) -> dict[str, LorenzCurve]:
        """The curve of each :data:`LORENZ_GROUPS` group."""
        honest = self.kinds == Kind.HONEST
        return {
            "honest": lorenz_curve("honest", self.totals[honest]),
            "all": lorenz_curve("all", self.totals),
        }
