"""The constant-product pool is exact: OPEN is never created, k never falls, prices move right."""

import pytest

from simulator.accounting import MICRO_USD_PER_USD, SIM_UNITS_PER_OPEN
from simulator.market import ConstantProductPool, MarketError


def pool() -> ConstantProductPool:
    return ConstantProductPool.seeded(50_000_000 * SIM_UNITS_PER_OPEN, 0.05)


def test_seeded_price_and_reserves():
    p = pool()
    assert p.price == pytest.approx(0.05)
    assert p.usd_reserve == 2_500_000 * MICRO_USD_PER_USD


def test_trades_keep_k_and_move_the_price():
    p = pool()
    k = p.open_reserve * p.usd_reserve
    paid = p.buy_exact_open(1_000_000 * SIM_UNITS_PER_OPEN)
    assert paid > 1_000_000 * 0.05 * MICRO_USD_PER_USD  # slippage and the fee make it dearer than spot
    assert p.open_reserve * p.usd_reserve >= k and p.price > 0.05
    k = p.open_reserve * p.usd_reserve
    received = p.sell_open(2_000_000 * SIM_UNITS_PER_OPEN)
    assert 0 < received < 2_000_000 * p.price * MICRO_USD_PER_USD * 1.1
    assert p.open_reserve * p.usd_reserve >= k


def test_exact_output_buy_is_the_least_that_buys_it():
    p = pool()
    wanted = 12_345_678_901
    cost = p.usd_to_buy_open(wanted)
    trial = ConstantProductPool(p.open_reserve, p.usd_reserve, p.fee_bps)
    assert trial.buy_open_with_usd(cost) >= wanted
    trial = ConstantProductPool(p.open_reserve, p.usd_reserve, p.fee_bps)
    assert trial.buy_open_with_usd(cost - 2) < wanted


def test_selling_for_a_dollar_amount_pays_at_least_that():
    p = pool()
    needed = p.open_to_sell_for_usd(1_000 * MICRO_USD_PER_USD)
    assert ConstantProductPool(p.open_reserve, p.usd_reserve).sell_open(needed) >= 1_000 * MICRO_USD_PER_USD
    assert (
        ConstantProductPool(p.open_reserve, p.usd_reserve).sell_open(needed - 1) < 1_000 * MICRO_USD_PER_USD
    )


def test_a_crash_reprices_dollars_only():
    p = pool()
    open_before = p.open_reserve
    p.reprice_usd_side(0.2)
    assert p.open_reserve == open_before and p.price == pytest.approx(0.01)


def test_the_pool_is_never_emptied():
    p = pool()
    with pytest.raises(MarketError, match="never emptied"):
        p.buy_exact_open(p.open_reserve)
    with pytest.raises(MarketError):
        ConstantProductPool(0, 1)
