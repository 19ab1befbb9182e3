"""The assignment strategies' rule (rlhf.active): how unsure a margin is, which strategy a request is served by,
the content-fixed random order, and which open comparison a request gets."""

import math

import numpy as np
import pytest

from rlhf.active import (
    DEFAULT_RANDOM_SHARE,
    RANDOM,
    STRATEGIES,
    STRATEGY_HELP,
    UNCERTAINTY,
    next_pick,
    pair_uncertainty,
    shuffle_key,
    strategy_drawn,
)


def test_every_strategy_has_help_and_the_default_share_is_a_share():
    assert set(STRATEGIES) == {RANDOM, UNCERTAINTY} == set(STRATEGY_HELP)
    assert all(STRATEGY_HELP[name].strip() for name in STRATEGIES)
    assert 0 < DEFAULT_RANDOM_SHARE < 1


# ---------------------------------------------------------------- pair_uncertainty


def test_uncertainty_is_one_at_a_coin_flip_and_follows_the_bradley_terry_probability():
    margins = np.array([0.0, 0.5, -1.0, 2.0, -3.5])
    p = 1 / (1 + np.exp(-margins))
    np.testing.assert_allclose(pair_uncertainty(margins), 1 - np.abs(2 * p - 1), rtol=1e-12)
    assert pair_uncertainty([0.0])[0] == 1.0


def test_uncertainty_is_symmetric_in_the_sign_of_the_margin():
    margins = np.linspace(0, 30, 61)
    np.testing.assert_array_equal(pair_uncertainty(margins), pair_uncertainty(-margins))


def test_uncertainty_falls_strictly_as_the_margin_grows_even_for_very_sure_pairs():
    margins = np.concatenate([np.linspace(0, 10, 101), [20.0, 36.0, 40.0, 50.0, 100.0, 300.0, 600.0]])
    values = pair_uncertainty(margins)
    assert np.all(np.diff(values) < 0)          # the order of sure pairs is kept, not rounded to a tie at 0
    assert np.all((values > 0) & (values <= 1))


def test_huge_margins_give_zero_without_overflow_and_nan_stays_not_scored():
    with np.errstate(over="raise", invalid="raise"):  # an overflow or an inf - inf would raise here
        values = pair_uncertainty([1e6, -1e300, np.inf, -np.inf])
    np.testing.assert_array_equal(values, np.zeros(4))
    assert np.isnan(pair_uncertainty([np.nan])[0])
    assert pair_uncertainty([]).shape == (0,)


# ---------------------------------------------------------------- strategy_drawn


def test_random_is_served_at_random_whatever_the_draw():
    assert {strategy_drawn(RANDOM, random_share=share, draw=draw)
            for share in (0.0, 0.2, 1.0) for draw in (0.0, 0.19, 0.2, 0.999)} == {RANDOM}


def test_uncertainty_serves_its_random_share_below_the_share_and_itself_from_the_share_up():
    share = 0.2
    assert strategy_drawn(UNCERTAINTY, random_share=share, draw=0.0) == RANDOM
    assert strategy_drawn(UNCERTAINTY, random_share=share, draw=math.nextafter(share, 0)) == RANDOM
    assert strategy_drawn(UNCERTAINTY, random_share=share, draw=share) == UNCERTAINTY   # [0, share) is random
    assert strategy_drawn(UNCERTAINTY, random_share=share, draw=0.999) == UNCERTAINTY
    assert strategy_drawn(UNCERTAINTY, random_share=0.0, draw=0.0) == UNCERTAINTY
    assert strategy_drawn(UNCERTAINTY, random_share=1.0, draw=math.nextafter(1.0, 0)) == RANDOM


def test_the_random_share_of_uniform_draws_is_the_setting():
    draws = np.random.default_rng(3).random(20_000)
    drawn = [strategy_drawn(UNCERTAINTY, random_share=DEFAULT_RANDOM_SHARE, draw=draw) for draw in draws]
    assert drawn.count(RANDOM) / len(drawn) == pytest.approx(DEFAULT_RANDOM_SHARE, abs=0.015)


@pytest.mark.parametrize(("strategy", "share", "message"), [
    ("bandit", 0.2, "assignment_strategy: must be one of random, uncertainty .*'bandit'"),
    ("", 0.2, "assignment_strategy: must be one of"),
    (UNCERTAINTY, 1.5, "random_share: must be between 0 and 1 .*1.5"),
    (UNCERTAINTY, -0.1, "random_share: must be between 0 and 1"),
    (RANDOM, float("nan"), "random_share: must be between 0 and 1"),
])
def test_a_bad_setting_is_refused_naming_the_field(strategy, share, message):
    with pytest.raises(ValueError, match=message):
        strategy_drawn(strategy, random_share=share, draw=0.5)


# ---------------------------------------------------------------- shuffle_key


def test_the_shuffle_key_is_fixed_by_the_texts_and_their_roles():
    key = shuffle_key("prompt", "reply a", "reply b")
    assert key == shuffle_key("prompt", "reply a", "reply b")
    assert 0.0 <= key < 1.0
    assert shuffle_key("prompt", "reply b", "reply a") != key            # swapping the replies moves it
    assert shuffle_key("prompt", "reply a", "reply bb") != key
    assert shuffle_key("promptreply a", "", "reply b") != key             # the separator keeps fields apart
    assert 0.0 <= shuffle_key("\ud800 a lone surrogate", "é", "") < 1.0   # any str, even one utf-8 refuses


def test_shuffle_keys_are_uniform_over_many_comparisons():
    keys = np.array([shuffle_key(f"prompt {i}", f"reply {i % 7}", f"other {i // 7}") for i in range(20_000)])
    assert keys.min() >= 0.0 and keys.max() < 1.0
    assert len(set(keys.tolist())) == len(keys)
    counts, _ = np.histogram(keys, bins=20, range=(0.0, 1.0))
    expected = len(keys) / 20
    chi_square = float(((counts - expected) ** 2 / expected).sum())
    assert chi_square < 43.8   # the 0.999 quantile of chi-square with 19 degrees of freedom
    assert keys.mean() == pytest.approx(0.5, abs=0.01)


# ---------------------------------------------------------------- next_pick


KEYS = np.array([0.7, 0.1, 0.5, 0.3, 0.9])


def test_random_serves_the_lowest_key_among_the_open_and_ignores_uncertainty():
    everything = np.ones(5, dtype=bool)
    uncertainty = np.array([1.0, 0.0, 0.5, np.nan, 0.2])
    assert next_pick(RANDOM, open_mask=everything, keys=KEYS, uncertainty=uncertainty) == 1
    open_mask = np.array([True, False, True, False, True])
    assert next_pick(RANDOM, open_mask=open_mask, keys=KEYS, uncertainty=uncertainty) == 2


def test_random_serves_comparisons_in_key_order_as_they_close():
    open_mask = np.ones(5, dtype=bool)
    served = []
    while open_mask.any():
        pick = next_pick(RANDOM, open_mask=open_mask, keys=KEYS, uncertainty=np.zeros(5))
        served.append(pick)
        open_mask[pick] = False
    assert served == np.argsort(KEYS).tolist()


def test_uncertainty_serves_the_most_uncertain_open_comparison():
    uncertainty = np.array([0.2, 0.1, 0.9, 0.4, 0.95])
    assert next_pick(UNCERTAINTY, open_mask=np.ones(5, dtype=bool), keys=KEYS, uncertainty=uncertainty) == 4
    open_mask = np.array([True, True, True, True, False])
    assert next_pick(UNCERTAINTY, open_mask=open_mask, keys=KEYS, uncertainty=uncertainty) == 2


def test_not_scored_comes_first_under_uncertainty_and_ties_go_by_key():
    uncertainty = np.array([np.nan, 1.0, 0.3, np.nan, 1.0])
    everything = np.ones(5, dtype=bool)
    assert next_pick(UNCERTAINTY, open_mask=everything, keys=KEYS, uncertainty=uncertainty) == 3   # NaN, key 0.3
    scored = np.array([False, True, True, False, True])
    assert next_pick(UNCERTAINTY, open_mask=scored, keys=KEYS, uncertainty=uncertainty) == 1       # 1.0, key 0.1
    nothing_scored = np.full(5, np.nan)
    assert next_pick(UNCERTAINTY, open_mask=everything, keys=KEYS, uncertainty=nothing_scored) == next_pick(
        RANDOM, open_mask=everything, keys=KEYS, uncertainty=nothing_scored)


def test_margins_rank_the_queue_through_their_uncertainty():
    margins = np.array([3.0, -0.2, 1.0, 0.1, -5.0])
    order, open_mask = [], np.ones(5, dtype=bool)
    while open_mask.any():
        pick = next_pick(UNCERTAINTY, open_mask=open_mask, keys=KEYS, uncertainty=pair_uncertainty(margins))
        order.append(pick)
        open_mask[pick] = False
    assert order == np.argsort(np.abs(margins)).tolist()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_nothing_open_is_refused(strategy):
    with pytest.raises(ValueError, match="no comparison is open"):
        next_pick(strategy, open_mask=np.zeros(5, dtype=bool), keys=KEYS, uncertainty=np.zeros(5))
    with pytest.raises(ValueError, match="no comparison is open"):
        next_pick(strategy, open_mask=np.zeros(0, dtype=bool), keys=np.zeros(0), uncertainty=np.zeros(0))


def test_arrays_of_different_lengths_are_refused_naming_them():
    with pytest.raises(ValueError, match="open_mask, keys and uncertainty .* lengths 5, 5 and 4"):
        next_pick(UNCERTAINTY, open_mask=np.ones(5, dtype=bool), keys=KEYS, uncertainty=np.zeros(4))
