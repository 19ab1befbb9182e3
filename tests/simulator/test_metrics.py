"""Per-epoch concentration metrics against their definitions."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulator.metrics import nakamoto


def fewest_holders_past_half(holdings: list[int]) -> int:
    """The definition, plainly: take the largest holdings until they add up to more than half."""
    total = sum(h for h in holdings if h > 0)
    taken = 0
    for count, holding in enumerate(sorted(holdings, reverse=True), start=1):
        if holding <= 0:
            break
        taken += holding
        if taken > total // 2:
            return count
    return 0


@given(st.lists(st.integers(-5, 10**12) | st.integers(0, 3), max_size=400))
def test_nakamoto_is_the_fewest_holders_past_half(holdings):
    assert nakamoto(np.array(holdings, dtype=np.int64)) == fewest_holders_past_half(holdings)


def test_nakamoto_widens_its_look_when_many_equal_holders_are_needed():
    rng = np.random.default_rng(3)
    # Thousands of equal bonds beside a few large stakes: well past the first 256 holders looked at.
    holdings = np.concatenate([np.full(20_000, 50), rng.integers(1, 1000, 40)])
    rng.shuffle(holdings)
    assert nakamoto(holdings) == fewest_holders_past_half(holdings.tolist()) > 256
