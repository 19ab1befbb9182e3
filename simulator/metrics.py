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
        "rewards",
        "int64",
        "micro-OPEN",
        "Contributor rewards this epoch (emission payouts + fee share): the denominator of attacker_reward_share.",
    ),
    Metric("attacker_rewards", "int64", "micro-OPEN", "The part of them paid to non-honest accounts."),
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


# --- fair pay: each run's rewards against the oracle's, recorded once per run -------------------
#
# Beside what the policy paid, every run keeps what the oracle (simulator.oracle) would have paid
# the same accounts: each epoch, the emission plus the contributors' part of the fees, split in
# proportion to true contribution. Per account the comparison is within one run (same people, same
# work), so it measures how the policy divides pay, and how much of it reaches them, against fair pay.

NEWCOMER_WINDOW_EPOCHS = 90  # a newcomer is followed for this long before "never paid" counts

FAIRNESS_METRICS: tuple[Metric, ...] = (
    Metric("honest_accounts", "int64", "accounts", "Honest accounts that judged at least once in the run."),
    Metric(
        "honest_rank_correlation",
        "float64",
        "Spearman rho",
        "Rank correlation of honest accounts' total rewards with what the oracle would have paid them.",
    ),
    Metric(
        "honest_pay_ratio",
        "float64",
        "ratio",
        "Honest accounts' total rewards / what the oracle would have paid them (1 = all of fair pay).",
    ),
    Metric(
        "newcomers",
        "int64",
        "accounts",
        f"Honest accounts that arrived after genesis, judged, and could be followed {NEWCOMER_WINDOW_EPOCHS} epochs.",
    ),
    Metric(
        "first_payout_days_median",
        "float64",
        "days",
        "Median days from a newcomer's arrival to their first reward, among those paid.",
    ),
    Metric(
        "newcomers_never_paid",
        "float64",
        "share",
        f"Share of newcomers paid nothing within {NEWCOMER_WINDOW_EPOCHS} epochs of arriving.",
    ),
)


class RewardTotals:
    """Every contributor account's kind and cumulative rewards, by its row (rows are never reused),
    with what the oracle would have paid it and when it was first paid.

    The model admits each newcomer's row and credits each epoch's rewards; both engines name a
    contributor by the same row number, so this one record serves them both."""

    def __init__(self) -> None:
        self._kinds = np.zeros(1024, dtype=np.int8)
        self._totals = np.zeros(1024, dtype=np.int64)
        self._oracle = np.zeros(1024, dtype=np.float64)
        self._arrived = np.zeros(1024, dtype=np.int64)
        self._first_paid = np.full(1024, -1, dtype=np.int64)
        self._judged = np.zeros(1024, dtype=bool)
        self.size = 0

    def admit(self, rows: np.ndarray, kinds: np.ndarray, epoch: int = 0) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return
        needed = int(rows.max()) + 1
        if needed > len(self._kinds):
            grow = max(needed, 2 * len(self._kinds)) - len(self._kinds)
            self._kinds = np.concatenate([self._kinds, np.zeros(grow, np.int8)])
            self._totals = np.concatenate([self._totals, np.zeros(grow, np.int64)])
            self._oracle = np.concatenate([self._oracle, np.zeros(grow)])
            self._arrived = np.concatenate([self._arrived, np.zeros(grow, np.int64)])
            self._first_paid = np.concatenate([self._first_paid, np.full(grow, -1, np.int64)])
            self._judged = np.concatenate([self._judged, np.zeros(grow, bool)])
        self._kinds[rows] = kinds
        self._arrived[rows] = epoch
        self.size = max(self.size, needed)

    def credit(self, rows: np.ndarray, amounts: np.ndarray, epoch: int = 0) -> None:
        if len(rows) and int(np.max(rows)) >= self.size:
            raise ValueError(f"reward credited to contributor row {int(np.max(rows))}, never admitted")
        rows = np.asarray(rows, dtype=np.int64)
        amounts = np.asarray(amounts, dtype=np.int64)
        np.add.at(self._totals, rows, amounts)
        self._judged[rows] = True
        first = rows[(amounts > 0) & (self._first_paid[rows] < 0)]
        self._first_paid[first] = epoch

    def credit_oracle(self, rows: np.ndarray, true_value: np.ndarray, pot: int) -> None:
        """What the oracle would pay ``rows`` this epoch: ``pot`` in proportion to true value."""
        total = float(np.sum(true_value))
        if pot > 0 and total > 0:
            np.add.at(self._oracle, np.asarray(rows, dtype=np.int64), true_value * (pot / total))

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

    def fairness(self, epochs: int) -> dict[str, float | int]:
        """The :data:`FAIRNESS_METRICS` of a run of ``epochs`` epochs."""
        from scipy.stats import spearmanr

        size = self.size
        honest = (self.kinds == Kind.HONEST) & self._judged[:size]
        paid, fair = self.totals[honest], self._oracle[:size][honest]
        rho = float("nan")
        if honest.sum() >= 3 and np.ptp(paid) > 0 and np.ptp(fair) > 0:
            rho = float(spearmanr(paid, fair).statistic)
        arrived = self._arrived[:size]
        newcomer = honest & (arrived > 0) & (arrived <= epochs - NEWCOMER_WINDOW_EPOCHS)
        first = self._first_paid[:size][newcomer]
        waited = first - arrived[newcomer]
        within = (first >= 0) & (waited <= NEWCOMER_WINDOW_EPOCHS)
        return {
            "honest_accounts": int(honest.sum()),
            "honest_rank_correlation": rho,
            "honest_pay_ratio": share(float(paid.sum()), float(fair.sum())),
            "newcomers": int(newcomer.sum()),
            "first_payout_days_median": float(np.median(waited[first >= 0]))
            if (first >= 0).any()
            else float("nan"),
            "newcomers_never_paid": share(float((~within).sum()), float(newcomer.sum())),
        }
