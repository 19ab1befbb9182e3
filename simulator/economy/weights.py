"""Quality and attribution figures -> integer weights on a fixed grid.

Splits are exact integer arithmetic, so real-valued figures are first put on a grid:
- agreement rates in [0, 1]: ``floor(rate * 2**20)`` (a step of ~1e-6);
- attribution: ``floor(score / best * 2**40)`` for positive scores, where ``best`` is the largest
  score among those being paid; a contributor below ~1e-12 of the best gets nothing.

Float division and multiplication by a power of two are exactly specified by IEEE 754, so numpy
and plain Python compute the same integers: the simulator and settlement agree to the unit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from simulator.economy.fields import all_exactly

QUALITY_SCALE = 2**20
ATTRIBUTION_SCALE = 2**40


def quality_units(rates: Sequence[float | Fraction]) -> np.ndarray:
    """Agreement rates in [0, 1] -> int64 ``floor(rate * 2**20)``, exact for floats and Fractions."""
    if all_exactly(rates, float):
        scaled = np.fromiter(rates, dtype=np.float64, count=len(rates)) * QUALITY_SCALE
        return np.floor(scaled).astype(np.int64)
    return np.array([math.floor(rate * QUALITY_SCALE) for rate in rates], dtype=np.int64)


def attribution_weights(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Attribution scores -> integer weights ``floor(score / best * 2**40)``; 0 where score <= 0."""
    values = np.fromiter(scores, dtype=np.float64, count=len(scores))
    positive = values > 0.0
    if not positive.any():
        return np.zeros(len(values), dtype=np.int64)
    best = values[positive].max()
    ratios = np.where(positive, values, 0.0) / best
    weights: np.ndarray = np.floor(ratios * ATTRIBUTION_SCALE).astype(np.int64)
    return weights
