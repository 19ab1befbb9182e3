import itertools

import numpy as np
import pytest

from rlhf.quality.krippendorff import (
    alpha_nominal,
    comparison_value_counts,
    krippendorff_alpha,
    pairwise_agreement,
)
from tests.rlhf.quality.synthetic import judgment

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units, values
# 1-5, None = missing. The paper's nominal alpha is 0.743.
TEXTBOOK = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def textbook_counts() -> np.ndarray:
    counts = np.zeros((12, 5))
    for values in TEXTBOOK.values():
        for unit, value in enumerate(values):
            if value is not None:
                counts[unit, value - 1] += 1
    return counts


def alpha_by_pairs(units: list[list[int]]) -> float:
    """Reference: alpha = 1 - D_o / D_e written directly over pairs of values (slow, obviously right)."""
    pairable = [u for u in units if len(u) >= 2]
    n = sum(len(u) for u in pairable)
    observed = sum(sum(a != b for a, b in itertools.permutations(u, 2)) / (len(u) - 1) for u in pairable) / n
    values = [v for u in pairable for v in u]
    expected = sum(a != b for a, b in itertools.permutations(values, 2)) / (n * (n - 1))
    return 1 - observed / expected


def test_textbook_nominal_example_gives_0_743():
    assert alpha_nominal(textbook_counts()) == pytest.approx(0.743, abs=5e-4)


def test_matches_the_pairwise_definition_on_random_data():
    rng = np.random.default_rng(3)
    for _ in range(5):
        units = [list(rng.integers(0, 3, size=rng.integers(1, 5))) for _ in range(40)]
        counts = np.zeros((40, 3))
        for row, unit in enumerate(units):
            for value in unit:
                counts[row, value] += 1
        assert alpha_nominal(counts) == pytest.approx(alpha_by_pairs(units), abs=1e-12)


def test_perfect_agreement_is_one_and_undefined_cases_are_none():
    assert alpha_nominal([[3, 0], [0, 2], [2, 0]]) == pytest.approx(1.0)
    assert alpha_nominal([[3, 0], [2, 0]]) is None          # one category only: 0/0
    assert alpha_nominal([[1, 0], [0, 1]]) is None          # nothing pairable
    with pytest.raises(ValueError, match="units x categories"):
        alpha_nominal([1, 2, 3])


def test_judgments_path_agrees_with_counts_and_codings_differ_as_documented():
    four = [judgment(c, o, choice) for c, o, choice in [
        ("c1", "x", "a"), ("c1", "y", "a"), ("c2", "x", "b"), ("c2", "y", "tie"), ("c3", "x", "both_bad"),
        ("c3", "y", "both_bad"), ("c4", "x", "tie"), ("c4", "y", "tie"), ("c5", "x", "a"), ("c5", "y", "both_bad")]]
    default = krippendorff_alpha(four, seed=0)
    assert default.coding == "a_b_tie"
    # both_bad is missing under the default: c3 drops out, c5 keeps one value and is not pairable.
    assert (default.n_comparisons, default.n_values) == (3, 6)
    assert default.value == pytest.approx(alpha_nominal(comparison_value_counts(four)))
    with_both_bad = krippendorff_alpha(four, coding="a_b_tie_both_bad", seed=0)
    assert (with_both_bad.n_comparisons, with_both_bad.n_values) == (5, 10)
    strict = krippendorff_alpha(four, coding="a_b", seed=0)
    assert (strict.n_comparisons, strict.value) == (1, None)   # only c1 is left, all "a": undefined
    assert "no variation" in strict.reason
    with pytest.raises(ValueError, match="coding 'nominal' is unknown"):
        krippendorff_alpha(four, coding="nominal", seed=0)


def test_bootstrap_interval_is_seeded_and_brackets_the_value():
    rng = np.random.default_rng(0)
    judgments = [judgment(f"c{c}", f"u{u}", "a" if rng.random() < (0.8 if c % 2 else 0.2) else "b")
                 for c in range(200) for u in range(3)]
    first = krippendorff_alpha(judgments, seed=1, n_resamples=400)
    again = krippendorff_alpha(judgments, seed=1, n_resamples=400)
    other = krippendorff_alpha(judgments, seed=2, n_resamples=400)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    assert first.ci_low < first.value < first.ci_high
    assert first.ci_high - first.ci_low < 0.25
    assert first.n_resamples == 400


def test_pairwise_agreement_counts_shared_comparisons_and_agreements():
    judgments = [judgment(c, o, choice) for c, o, choice in [
        ("c1", "x", "a"), ("c1", "y", "a"), ("c1", "z", "b"),
        ("c2", "x", "b"), ("c2", "y", "a"),
        ("c3", "y", "tie"), ("c3", "z", "tie"),
        ("c4", "x", "both_bad"), ("c4", "z", "a")]]     # both_bad is left out under the default coding
    pairs = {(p.annotator_a, p.annotator_b): (p.shared_comparisons, p.agreements)
             for p in pairwise_agreement(judgments)}
    assert pairs == {("x", "y"): (2, 1), ("x", "z"): (1, 0), ("y", "z"): (2, 1)}
    both_bad_counted = {(p.annotator_a, p.annotator_b): p.shared_comparisons
                        for p in pairwise_agreement(judgments, coding="a_b_tie_both_bad")}
    assert both_bad_counted[("x", "z")] == 2


def test_bootstrap_matches_resampling_comparisons_directly():
    # The implementation draws distinct count rows by multinomial; resampling row indices must agree.
    rng = np.random.default_rng(5)
    judgments = [judgment(f"c{c}", f"u{u}", ("a", "b", "tie")[min(2, int(rng.random() * (2.4 if c % 3 else 1.2)))])
                 for c in range(300) for u in range(3)]
    counts = comparison_value_counts(judgments)
    direct = [alpha_nominal(counts[rng.integers(0, len(counts), len(counts))]) for _ in range(1000)]
    ours = krippendorff_alpha(judgments, seed=0, n_resamples=2000)
    assert np.quantile(direct, 0.025) == pytest.approx(ours.ci_low, abs=0.02)
    assert np.quantile(direct, 0.975) == pytest.approx(ours.ci_high, abs=0.02)
