"""The simulator's money unit, and the conservation check every epoch must pass.

The economy counts in base units (1 OPEN = 10**18) held in Python ints, because a day's emission
(~4.3e23 base units) does not fit int64. A simulation moves money between hundreds of thousands of
agents every epoch, which wants numpy int64 arrays, so the simulator counts in a coarser unit:

    1 sim unit = 1 micro-OPEN = 10**12 base units

The whole supply is 10**15 sim units, far inside int64 (9.2e18), and every allocation of the
published schedule is a whole number of sim units, so nothing is rounded at genesis. Every
transfer in the simulator is an integer number of sim units: exact in that unit, never a float.
The economy's functions take Python ints of any unit (splits do not care which unit they split),
so the simulator passes sim units to them; the few policy fields that are amounts (a minimum bond)
are converted with :func:`policy_in_sim_units`.

Conservation (checked every epoch by both engines, :func:`check_conservation`):

    supply == circulating + locked + staked + treasury + pool

circulating: OPEN in wallets (contributors, stakers, vested holders, the model owner);
locked: community tokens not yet emitted, emitted budget the policy carried over, unvested
team/investor tokens; staked: stakers' stakes (also while cooling down) and contributors' bonds;
treasury: the protocol treasury; pool: the OPEN side of the market pool.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from simulator.economy.policies import PolicyParams
from simulator.economy.schedule import Allocation, ScheduleParams, unlocked_at
from simulator.economy.units import BASE_UNITS_PER_OPEN

SIM_UNIT_BASE_UNITS: int = 10**12
SIM_UNITS_PER_OPEN = BASE_UNITS_PER_OPEN // SIM_UNIT_BASE_UNITS  # 10**6: a sim unit is a micro-OPEN
MICRO_USD_PER_USD = 10**6  # the market's USD side is integer micro-dollars, so the pool is exact too

# Policy fields that are amounts of OPEN (in base units); everything else is a ratio or a count.
_POLICY_AMOUNT_FIELDS = frozenset({"min_bond", "price_per_call", "price_per_token"})


class ConservationError(AssertionError):
    """The books do not balance: some OPEN was created or destroyed. Always a bug."""


def open_to_sim(amount_open: float | int) -> int:
    """Whole or fractional OPEN (a scenario parameter) -> sim units, rounded down.

    Scenario files give human amounts ("bond 50 OPEN"); they enter the books once, as an int.
    """
    return int(amount_open * SIM_UNITS_PER_OPEN)


def sim_to_open(amount_sim: int | float) -> float:
    """Sim units -> OPEN as a float, for metrics and display only (never for the books)."""
    return float(amount_sim / SIM_UNITS_PER_OPEN)


def base_to_sim_floor(base_units: int) -> int:
    return base_units // SIM_UNIT_BASE_UNITS


def base_to_sim_ceil(base_units: int) -> int:
    """Rounded up: a threshold stays exact (``x_sim >= ceil(t / unit)`` iff ``x >= t``) and no fee is undercharged."""
    return -(-base_units // SIM_UNIT_BASE_UNITS)


# Within these bounds floor_mul_div's float64 estimate is off by at most one and its remainder fits int64.
_ESTIMATE_MAX_BITS = 50
_DIVISOR_MAX_BITS = 61


def floor_mul_div(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``a * b // c`` per row for non-negative int64 arrays with ``c > 0``, exactly, although
    ``a * b`` may not fit int64 (a slash times the stake backing a bond, say).

    Sim amounts are below the supply, 10**15 < 2**50: with ``a``, ``b`` and the quotient below
    2**50 the quotient's float64 estimate (relative error under 2**-51) is off by at most one, and
    the remainder ``a * b - q * c``, computed modulo 2**64, is exact because it lies within one
    ``c`` of [0, c); one correction step then gives the floor. Beyond those bounds Python ints do it.
    """
    a, b, c = (np.asarray(x, dtype=np.int64) for x in (a, b, c))
    if not a.shape == b.shape == c.shape:
        raise ValueError(f"floor_mul_div: shapes differ: {a.shape}, {b.shape}, {c.shape}")
    if a.size == 0:
        return np.zeros(a.shape, dtype=np.int64)
    if min(int(a.min()), int(b.min())) < 0 or int(c.min()) <= 0:
        raise ValueError("floor_mul_div: needs a >= 0, b >= 0 and c > 0")
    estimate = np.floor(a.astype(np.float64) * b.astype(np.float64) / c.astype(np.float64))
    if (
        max(int(a.max()), int(b.max())) >> _ESTIMATE_MAX_BITS
        or int(c.max()) >> _DIVISOR_MAX_BITS
        or estimate.max() >= 2.0**_ESTIMATE_MAX_BITS - 2
    ):
        exact = [x * y // z for x, y, z in zip(a.tolist(), b.tolist(), c.tolist(), strict=True)]
        return np.array(exact, dtype=np.int64)
    quotient = estimate.astype(np.int64)
    product = a.astype(np.uint64) * b.astype(np.uint64)  # wraps modulo 2**64
    remainder = (product - quotient.astype(np.uint64) * c.astype(np.uint64)).view(np.int64)
    too_high = remainder < 0
    quotient -= too_high
    remainder += too_high * c
    quotient += remainder >= c
    return quotient


def policy_in_sim_units(params: PolicyParams) -> PolicyParams:
    """The same policy with its amount fields converted from base units to sim units.

    ``bond >= min_bond`` (base units) holds exactly when ``bond_sim >= ceil(min_bond / unit)``,
    so rounding the threshold up keeps the rule exact. A policy field whose help says it is in
    base units but is not known here is refused, so a new amount field cannot be misread.
    """
    changes = {}
    for field in dataclasses.fields(params):
        if field.name in _POLICY_AMOUNT_FIELDS:
            changes[field.name] = base_to_sim_ceil(getattr(params, field.name))
        elif "base units" in field.metadata.get("help", "").lower():
            raise ValueError(
                f"policy {params.name}: field {field.name!r} is an amount in base units that the "
                "simulator does not know how to convert; add it to _POLICY_AMOUNT_FIELDS"
            )
    return dataclasses.replace(params, **changes) if changes else params


@dataclass(frozen=True)
class Genesis:
    """The supply and its allocations in sim units, exactly."""

    supply: int
    community: int
    team: int
    investors: int
    liquidity: int


def genesis(schedule: ScheduleParams) -> Genesis:
    at_end = unlocked_at(schedule, epoch=schedule.final_epoch)
    amounts = {allocation: at_end[allocation] for allocation in Allocation}
    for allocation, base_units in amounts.items():
        if base_units % SIM_UNIT_BASE_UNITS:
            raise ValueError(
                f"schedule: the {allocation} allocation ({base_units} base units) is not a whole number "
                f"of sim units (10**12 base units); use a supply in whole OPEN and whole basis points"
            )
    return Genesis(
        supply=schedule.total_supply // SIM_UNIT_BASE_UNITS,
        community=amounts[Allocation.COMMUNITY] // SIM_UNIT_BASE_UNITS,
        team=amounts[Allocation.TEAM] // SIM_UNIT_BASE_UNITS,
        investors=amounts[Allocation.INVESTORS] // SIM_UNIT_BASE_UNITS,
        liquidity=amounts[Allocation.LIQUIDITY] // SIM_UNIT_BASE_UNITS,
    )


@dataclass(frozen=True)
class ScheduleInSimUnits:
    """Cumulative releases of the economy's schedule, floored to sim units.

    A period's release is the difference of two floored cumulative values, so the releases of all
    epochs add up to each allocation exactly, as the schedule's own base-unit releases do.
    """

    schedule: ScheduleParams

    def community_released(self, epochs_elapsed: int) -> int:
        return base_to_sim_floor(unlocked_at(self.schedule, epoch=epochs_elapsed)[Allocation.COMMUNITY])

    def vesting_released(self, epochs_elapsed: int) -> int:
        unlocked = unlocked_at(self.schedule, epoch=epochs_elapsed)
        return base_to_sim_floor(unlocked[Allocation.TEAM]) + base_to_sim_floor(
            unlocked[Allocation.INVESTORS]
        )

    def emission(self, epoch: int) -> int:
        """The epoch's emission budget in sim units (the economy's emission_for_epoch, floored cumulatively)."""
        return self.community_released(epoch + 1) - self.community_released(epoch)

    def vesting_unlock(self, epoch: int) -> int:
        """Team and investor tokens that unlock during ``epoch``."""
        return self.vesting_released(epoch + 1) - self.vesting_released(epoch)


@dataclass(frozen=True)
class Balances:
    """Where every sim unit of the supply is at the end of an epoch."""

    circulating: int
    locked: int
    staked: int
    treasury: int
    pool: int

    @property
    def total(self) -> int:
        return self.circulating + self.locked + self.staked + self.treasury + self.pool


def check_conservation(supply: int, balances: Balances, *, epoch: int) -> None:
    """Raise ConservationError unless the balances add up to the supply exactly."""
    for name, value in dataclasses.asdict(balances).items():
        if value < 0:
            raise ConservationError(f"epoch {epoch}: {name} balance is negative ({value} sim units)")
    if balances.total != supply:
        raise ConservationError(
            f"epoch {epoch}: supply {supply} != circulating {balances.circulating} + locked {balances.locked} "
            f"+ staked {balances.staked} + treasury {balances.treasury} + pool {balances.pool} "
            f"(= {balances.total}; off by {balances.total - supply} sim units)"
        )
