"""The OPEN supply, its allocation and the release schedule, in exact integer base units.

Supply: 1,000,000,000 OPEN, all created at genesis (no mint afterwards). Allocation:
61.71% community and ecosystem, 18.29% investors, 15% team, 5% liquidity.

Release, counted in epochs since genesis (an epoch is the settlement period, a day by default):
- liquidity: all of it at genesis;
- community and ecosystem: linearly over 48 months, one slice per epoch; that slice is the
  epoch's emission budget (617.1M OPEN / 48 = 12,856,250 OPEN a month, ~428,542 OPEN a day);
- team and investors: nothing during a 12-month cliff, then linearly over the next 36 months.

A month is ``epochs_per_month`` epochs, 30 by default: a "month" of the schedule is 30 daily
epochs, so 48 months are 1,440 epochs. Whole epochs per month keep every month boundary on an
epoch boundary, which is what makes "the cliff ends at month 12" exact; the schedule drifts from
the calendar by ~5 days a year, which nothing here depends on.

Exactness: every release curve is cumulative, ``floor(amount * elapsed / duration)``, and a
period's release is the difference of two cumulative values. Nothing is lost to rounding: the
emissions of all epochs add up to the community allocation exactly, and everything is unlocked
once the last period ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from simulator.economy.fields import (
    non_negative_int,
    param,
    positive_int,
    require_bps,
    require_int,
    require_whole_split,
    validate_fields,
)
from simulator.economy.units import BASE_UNITS_PER_OPEN, split_by_integer_weights


class Allocation(StrEnum):
    COMMUNITY = "community"
    INVESTORS = "investors"
    TEAM = "team"
    LIQUIDITY = "liquidity"


@dataclass(frozen=True)
class ScheduleParams:
    """Supply, allocation and release schedule of OPEN; the defaults are the published ones."""

    total_supply_open: int = param(
        1_000_000_000, "Fixed supply in whole OPEN, all created at genesis.", positive_int
    )
    community_bps: int = param(
        6171, "Community and ecosystem share, basis points; emitted to contributors.", require_bps
    )
    investors_bps: int = param(1829, "Investors' share, basis points; cliff then linear.", require_bps)
    team_bps: int = param(1500, "Team share, basis points; cliff then linear.", require_bps)
    liquidity_bps: int = param(500, "Liquidity share, basis points; unlocked at genesis.", require_bps)
    epochs_per_month: int = param(
        30, "Epochs in one month of the schedule: 30 daily epochs by default.", positive_int
    )
    community_release_months: int = param(
        48, "Months over which the community pool is emitted, linearly.", positive_int
    )
    cliff_months: int = param(
        12, "Months during which team and investor tokens stay locked.", non_negative_int
    )
    vesting_months: int = param(
        36, "Months after the cliff over which team and investor tokens unlock linearly.", positive_int
    )

    def __post_init__(self) -> None:
        validate_fields(self)
        require_whole_split(self, [f"{allocation}_bps" for allocation in Allocation])

    @property
    def total_supply(self) -> int:
        """The supply in base units."""
        return self.total_supply_open * BASE_UNITS_PER_OPEN

    @property
    def community_release_epochs(self) -> int:
        return self.community_release_months * self.epochs_per_month

    @property
    def cliff_epochs(self) -> int:
        """Epochs during which team and investor tokens stay locked."""
        return self.cliff_months * self.epochs_per_month

    @property
    def vesting_epochs(self) -> int:
        """Epochs after the cliff over which team and investor tokens unlock."""
        return self.vesting_months * self.epochs_per_month

    @property
    def final_epoch(self) -> int:
        """Epochs after which everything is unlocked."""
        return self.epochs_per_month * max(
            self.community_release_months, self.cliff_months + self.vesting_months
        )


def allocation_amounts(params: ScheduleParams) -> dict[Allocation, int]:
    """Base units of each allocation; they add up to the supply exactly (largest remainder)."""
    allocations = list(Allocation)
    bps = require_whole_split(params, [f"{allocation}_bps" for allocation in allocations])
    shares = split_by_integer_weights(params.total_supply, allocations, bps)
    return dict(zip(allocations, shares, strict=True))


def _linear_release(amount: int, elapsed: int, duration: int) -> int:
    """Cumulative amount released after ``elapsed`` of ``duration`` periods."""
    return amount * min(max(elapsed, 0), duration) // duration


def unlocked_at(
    params: ScheduleParams, *, epoch: int | None = None, month: int | None = None
) -> dict[Allocation, int]:
    """Cumulative base units unlocked per allocation once ``epoch`` epochs (or ``month`` months)
    have passed since genesis. Give exactly one of the two; 0 is genesis.

    The community figure is the sum of the emission budgets of epochs 0 .. epoch-1.
    """
    if (epoch is None) == (month is None):
        raise TypeError("unlocked_at: give exactly one of epoch= or month=")
    if epoch is None:
        elapsed = require_int(month, where="month", minimum=0) * params.epochs_per_month
    else:
        elapsed = require_int(epoch, where="epoch", minimum=0)
    amounts = allocation_amounts(params)
    cliff, vesting = params.cliff_epochs, params.vesting_epochs
    return {
        Allocation.COMMUNITY: _linear_release(
            amounts[Allocation.COMMUNITY], elapsed, params.community_release_epochs
        ),
        Allocation.INVESTORS: _linear_release(amounts[Allocation.INVESTORS], elapsed - cliff, vesting),
        Allocation.TEAM: _linear_release(amounts[Allocation.TEAM], elapsed - cliff, vesting),
        Allocation.LIQUIDITY: amounts[Allocation.LIQUIDITY],
    }


def emission_for_epoch(params: ScheduleParams, epoch: int) -> int:
    """The emission budget of ``epoch`` (0-based) in base units; 0 once the community pool is spent."""
    epoch = require_int(epoch, where="epoch", minimum=0)
    community = allocation_amounts(params)[Allocation.COMMUNITY]
    duration = params.community_release_epochs
    return _linear_release(community, epoch + 1, duration) - _linear_release(community, epoch, duration)


@dataclass(frozen=True)
class MonthSummary:
    month: int
    emission: int
    unlocked: dict[Allocation, int]

    @property
    def circulating(self) -> int:
        return sum(self.unlocked.values())


def schedule_by_month(params: ScheduleParams) -> list[MonthSummary]:
    """One row per month until everything is unlocked: that month's emission and the cumulative
    unlocked amounts at its end."""
    months = params.final_epoch // params.epochs_per_month
    rows = []
    previous = unlocked_at(params, month=0)
    for month in range(1, months + 1):
        unlocked = unlocked_at(params, month=month)
        emission = unlocked[Allocation.COMMUNITY] - previous[Allocation.COMMUNITY]
        rows.append(MonthSummary(month=month, emission=emission, unlocked=unlocked))
        previous = unlocked
    return rows
