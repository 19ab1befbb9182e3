"""The market for OPEN: one constant-product pool (x * y = k) of OPEN against US dollars.

Seeded at genesis with the whole liquidity allocation on the OPEN side and that amount times the
initial price on the dollar side. Consumers buy OPEN here to pay fees, stakers buy to stake, new
contributors buy their bond; contributors, vested team/investor holders, unstakers and the
treasury sell here. The spot price is dollars per OPEN, ``usd / open``.

Both reserves are integers (OPEN in sim units, dollars in micro-dollars) in Python ints, so the
pool is exact: OPEN in equals OPEN out of the traders' books to the unit, and every rounding goes
in the pool's favour, so ``k`` never falls. A swap fee (default 0.3%) stays in the pool.

Trades of one kind in one epoch are batched into one swap (all fee purchases, then all bond
purchases, then staker purchases, then the sales, in that order); a batch's proceeds are split
among its traders pro rata by the caller. Batching is what a daily epoch can resolve and keeps
the price path independent of how many agents make up a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.accounting import MICRO_USD_PER_USD, SIM_UNITS_PER_OPEN

BPS = 10_000


class MarketError(ValueError):
    pass


@dataclass
class ConstantProductPool:
    """Reserves: ``open_reserve`` in sim units, ``usd_reserve`` in micro-dollars."""

    open_reserve: int
    usd_reserve: int
    fee_bps: int = 30

    def __post_init__(self) -> None:
        if self.open_reserve <= 0 or self.usd_reserve <= 0:
            raise MarketError(
                f"pool: both reserves must be positive, got {self.open_reserve} OPEN units and {self.usd_reserve} micro-USD"
            )
        if not 0 <= self.fee_bps < BPS:
            raise MarketError(f"pool: fee_bps must be in [0, {BPS}), got {self.fee_bps}")

    @classmethod
    def seeded(cls, open_units: int, price_usd: float, fee_bps: int = 30) -> ConstantProductPool:
        """A pool holding ``open_units`` priced at ``price_usd`` dollars per OPEN."""
        usd = round(open_units * price_usd * MICRO_USD_PER_USD / SIM_UNITS_PER_OPEN)
        return cls(open_reserve=open_units, usd_reserve=max(usd, 1), fee_bps=fee_bps)

    @property
    def price(self) -> float:
        """Dollars per OPEN (micro-dollars per sim unit are the same ratio)."""
        return self.usd_reserve / self.open_reserve

    def _after_fee(self, amount: int) -> int:
        return amount * (BPS - self.fee_bps) // BPS

    def sell_open(self, open_in: int) -> int:
        """Sell ``open_in`` sim units of OPEN; returns the micro-dollars paid out."""
        if open_in < 0:
            raise MarketError(f"sell_open: amount must be >= 0, got {open_in}")
        if open_in == 0:
            return 0
        effective = self._after_fee(open_in)
        usd_out = self.usd_reserve * effective // (self.open_reserve + effective)
        self.open_reserve += open_in
        self.usd_reserve -= usd_out
        return usd_out

    def buy_open_with_usd(self, usd_in: int) -> int:
        """Spend ``usd_in`` micro-dollars; returns the OPEN (sim units) received."""
        if usd_in < 0:
            raise MarketError(f"buy_open_with_usd: amount must be >= 0, got {usd_in}")
        if usd_in == 0:
            return 0
        effective = self._after_fee(usd_in)
        open_out = self.open_reserve * effective // (self.usd_reserve + effective)
        self.usd_reserve += usd_in
        self.open_reserve -= open_out
        return open_out

    def usd_to_buy_open(self, open_out: int) -> int:
        """Micro-dollars a buyer must pay for exactly ``open_out`` sim units (without trading)."""
        if not 0 <= open_out < self.open_reserve:
            raise MarketError(
                f"cannot buy {open_out} OPEN units from a pool holding {self.open_reserve}: a pool is never emptied"
            )
        if open_out == 0:
            return 0
        # Smallest effective input e with floor(usd * ... ) giving at least open_out: from
        # (x - out) * (y + e) >= x * y, e = ceil(y * out / (x - out)); then gross up for the fee.
        effective = -(-self.usd_reserve * open_out // (self.open_reserve - open_out))
        return -(-effective * BPS // (BPS - self.fee_bps))

    def buy_exact_open(self, open_out: int) -> int:
        """Buy exactly ``open_out`` sim units of OPEN; returns the micro-dollars paid."""
        usd_in = self.usd_to_buy_open(open_out)
        self.usd_reserve += usd_in
        self.open_reserve -= open_out
        return usd_in

    def open_to_sell_for_usd(self, usd_wanted: int) -> int:
        """Least OPEN to sell to receive at least ``usd_wanted`` micro-dollars (None-free: raises if impossible)."""
        if not 0 <= usd_wanted < self.usd_reserve:
            raise MarketError(f"the pool cannot pay {usd_wanted} micro-USD; it holds {self.usd_reserve}")
        if usd_wanted == 0:
            return 0
        effective = -(-self.open_reserve * usd_wanted // (self.usd_reserve - usd_wanted))
        open_in = -(-effective * BPS // (BPS - self.fee_bps))
        # The floor in sell_open can fall one unit short; step up until it pays enough.
        while (
            self.usd_reserve * self._after_fee(open_in) // (self.open_reserve + self._after_fee(open_in))
            < usd_wanted
        ):
            open_in += 1
        return open_in

    def reprice_usd_side(self, multiplier: float) -> None:
        """Scale the dollar reserve (an exogenous crash or rally: arbitrage against outside markets
        moves the dollars, not the OPEN, so the OPEN books are untouched)."""
        if not multiplier > 0:
            raise MarketError(f"reprice multiplier must be > 0, got {multiplier}")
        self.usd_reserve = max(1, round(self.usd_reserve * multiplier))
