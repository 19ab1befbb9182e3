"""How much a contributor judges on a day, and what quality control sees of it.

Shared by both engines, on arrays (vectorized: one entry per contributor) or on scalars (the
reference engine: one contributor at a time), so that both draw from the same distributions.

- On a day they judge (probability ``participation``), a contributor makes ``1 + Poisson(rate - 1)``
  judgments: at least one, ``rate`` on average (the calibrated judgments per active day).
- Each is correct with the kind's probability (:func:`simulator.attribution_model.correct_probability`).
- Agreement with the comparison's majority, which is all the site can see of correctness: the
  majority is right with probability ``majority_accuracy`` (M), so a correct judgment agrees with
  probability M and a wrong one with 1 - M. A sybil cluster or a collusion ring forms its own
  majority on the comparisons it shares, so its accounts agree at their own ``agreement`` rate
  whatever their correctness (given as a number; NaN means "an independent judge").
"""

from __future__ import annotations

from typing import Any

import numpy as np


def judgments_on_active_day(rng: np.random.Generator, rate: Any) -> Any:
    """At least one judgment, ``rate`` on average."""
    return 1 + rng.poisson(np.maximum(np.asarray(rate, dtype=np.float64) - 1.0, 0.0))


def agreed_count(
    rng: np.random.Generator, count: Any, correct: Any, agreement: Any, majority_accuracy: float
) -> Any:
    """Judgments that agree with the majority (independent judges, or rings at their own rate)."""
    count = np.asarray(count)
    correct = np.asarray(correct)
    agreement = np.asarray(agreement, dtype=np.float64)
    coordinated = ~np.isnan(agreement)
    if count.ndim == 0:
        if coordinated:
            return rng.binomial(count, agreement)
        return rng.binomial(correct, majority_accuracy) + rng.binomial(
            count - correct, 1.0 - majority_accuracy
        )
    agreed = np.empty(count.shape, dtype=np.int64)
    independent = ~coordinated
    c, k = count[independent], correct[independent]
    agreed[independent] = rng.binomial(k, majority_accuracy) + rng.binomial(c - k, 1.0 - majority_accuracy)
    if coordinated.any():
        agreed[coordinated] = rng.binomial(count[coordinated], agreement[coordinated])
    return agreed
