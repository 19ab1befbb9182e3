"""OPEN amounts as exact integers, and the one rounding rule every split uses.

OPEN has 18 decimals, like an ERC-20 token: 1 OPEN = 10**18 base units. Every amount in the
economy is a Python int of base units; floats never hold money (a float cannot even hold the
supply, 10**27 base units, exactly). Conversions from decimal text go through ``Decimal``
digit by digit, so "0.1" is exactly 10**17 base units.

Splitting an integer amount by weights uses the largest-remainder (Hamilton) method: everyone
gets the floor of their exact share, then the units left over go one each to the largest
fractional parts. The shares always add up to the total exactly, and nobody's share is more
than one unit away from their exact entitlement.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from itertools import compress
from typing import Any, TypeVar, cast

import numpy as np

from simulator.economy.fields import all_exactly, require_int

OPEN_DECIMALS = 18
BASE_UNITS_PER_OPEN: int = 10**OPEN_DECIMALS

# int64 holds values below 2**63; the vectorised path is taken only when every product fits.
_INT64_BITS = 63

Key = TypeVar("Key", bound=Hashable)


def open_to_base_units(amount: int | str | Decimal) -> int:
    """Whole OPEN (int) or a decimal string/Decimal of OPEN -> exact integer base units.

    >>> open_to_base_units("1.5")
    1500000000000000000
    >>> open_to_base_units(2)
    2000000000000000000

    Raises TypeError for floats (``0.1`` is not 1/10 in binary) and ValueError for text that is
    not a number or has more than 18 decimals (it would not be a whole number of base units).
    """
    if isinstance(amount, bool) or isinstance(amount, float):
        raise TypeError(
            f"OPEN amount {amount!r}: floats cannot hold money exactly; pass an int or a decimal string like '1.5'"
        )
    if isinstance(amount, int):
        return amount * BASE_UNITS_PER_OPEN
    if isinstance(amount, str):
        try:
            amount = Decimal(amount.strip())
        except ArithmeticError:
            raise ValueError(f"OPEN amount {amount!r}: not a decimal number") from None
    if not isinstance(amount, Decimal):
        raise TypeError(f"OPEN amount: expected int, str or Decimal, got {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError(f"OPEN amount {amount!r}: must be a finite number")
    # Exact digit arithmetic: Decimal multiplication would round to the context's 28 digits.
    sign, digits, exponent = amount.as_tuple()
    magnitude = int("".join(map(str, digits)) or "0")
    if not isinstance(exponent, int):  # 'n', 'N' or 'F': NaN and infinity, refused above
        raise ValueError(f"OPEN amount {amount!r}: must be a finite number")
    shift = exponent + OPEN_DECIMALS
    if shift >= 0:
        base_units: int = magnitude * 10**shift
    else:
        base_units, dropped = divmod(magnitude, 10**-shift)
        if dropped:
            raise ValueError(
                f"OPEN amount {amount}: has more than {OPEN_DECIMALS} decimals, "
                "which is not a whole number of base units"
            )
    return -base_units if sign else base_units


def base_units_to_open(base_units: int) -> str:
    """Integer base units -> exact decimal string of OPEN, without trailing zeros.

    >>> base_units_to_open(1500000000000000000)
    '1.5'
    """
    base_units = require_int(base_units, where="base_units")
    whole, fraction = divmod(abs(base_units), BASE_UNITS_PER_OPEN)
    sign = "-" if base_units < 0 else ""
    if not fraction:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{OPEN_DECIMALS}d}".rstrip("0")


def largest_remainder_split(total: int, weights: Mapping[Key, int | Fraction | Decimal]) -> dict[Key, int]:
    """Split the integer ``total`` in proportion to ``weights``; the result sums to ``total`` exactly.

    Hamilton method: floor shares, then the leftover units go one each to the largest fractional
    parts; equal fractional parts are broken by key order (smallest key first), so the result does
    not depend on the order the mapping was built in. Keys must therefore be mutually orderable
    (all str, or all int). Every key comes back, zero-weight keys with 0.

    If every weight is zero, everyone gets 0 and the caller decides what happens to ``total``
    (the policies carry it over to the next epoch).

    Raises TypeError for a non-integer total or a float weight (use Fraction(x) or a Decimal for
    exact fractional weights), ValueError for a negative total or weight.
    """
    total = require_int(total, where="total", minimum=0)
    if not isinstance(weights, Mapping):
        raise TypeError(f"weights: expected a mapping of key to weight, got {type(weights).__name__}")
    keys = list(weights)
    integer_weights = _as_integer_weights(weights)
    shares = split_by_integer_weights(total, keys, integer_weights)
    return dict(zip(keys, shares, strict=True))


def _as_integer_weights(weights: Mapping[Key, int | Fraction | Decimal]) -> list[int]:
    """Scale exact rational weights to integers with the same ratios (common denominator)."""
    values = list(weights.values())
    if all_exactly(values, int):
        integers = cast(list[int], values)  # all_exactly has checked each one
    else:
        rationals = []
        for key, value in weights.items():
            if isinstance(value, bool) or not isinstance(value, int | Fraction | Decimal):
                hint = (
                    " (floats are not exact: pass Fraction(x) or a Decimal)"
                    if isinstance(value, float)
                    else ""
                )
                raise TypeError(
                    f"weights[{key!r}]: expected int, Fraction or Decimal, got {type(value).__name__}{hint}"
                )
            if isinstance(value, Decimal) and not value.is_finite():
                raise ValueError(f"weights[{key!r}]: must be finite, got {value}")
            rationals.append(Fraction(value))
        common = math.lcm(*(r.denominator for r in rationals)) if rationals else 1
        integers = [r.numerator * (common // r.denominator) for r in rationals]
    if integers and min(integers) < 0:
        for key, value in zip(weights, integers, strict=True):
            if value < 0:
                raise ValueError(f"weights[{key!r}]: must be >= 0, got {weights[key]}")
    return integers


def split_by_integer_weights(
    total: int, keys: Sequence[Key], weights: Sequence[int] | np.ndarray
) -> list[int]:
    """The fast core of :func:`largest_remainder_split`, on parallel sequences.

    ``weights`` are non-negative ints (a list, or a numpy integer array); ``keys`` only break ties
    between equal remainders. Returns the shares as Python ints in the order of ``weights``.

    Exact for any sizes: money stays in Python ints (a day's emission, ~4e23 base units, does not
    fit int64). numpy does the per-weight arithmetic only where it is provably exact (see
    _spare_shares_vectorised) and ranks the remainders; otherwise plain Python ints do it all.
    """
    weight_list = weights.tolist() if isinstance(weights, np.ndarray) else list(weights)
    count = len(weight_list)
    if count != len(keys):
        raise ValueError(f"keys and weights differ in length: {len(keys)} != {count}")
    if count and min(weight_list) < 0:
        raise ValueError(f"weights: must be >= 0, got {min(weight_list)}")
    total_weight = sum(weight_list)
    if total_weight == 0:
        return [0] * count
    # total = whole * W + spare: the `whole` part divides evenly, only `spare` needs rounding.
    whole, spare = divmod(total, total_weight)
    if spare == 0:
        return [whole * w for w in weight_list]
    vectorised = _spare_shares_vectorised(weight_list, spare, total_weight)
    shares: list[int]
    remainders: np.ndarray | list[int]
    if vectorised is not None:
        extra_array, remainders = vectorised
        if (whole * max(weight_list) + total_weight).bit_length() <= _INT64_BITS:
            shares = (np.asarray(weight_list, dtype=np.int64) * whole + extra_array).tolist()
        else:
            shares = [whole * w + extra for w, extra in zip(weight_list, extra_array.tolist(), strict=True)]
        leftover = spare - int(extra_array.sum(dtype=np.int64))
    else:
        pairs = [divmod(spare * w, total_weight) for w in weight_list]
        shares = [whole * w + pair[0] for w, pair in zip(weight_list, pairs, strict=True)]
        leftover = spare - sum(pair[0] for pair in pairs)
        remainders = [pair[1] for pair in pairs]
    for index in _indices_of_largest(leftover, keys, remainders, total_weight):
        shares[index] += 1
    return shares


# Bounds under which _spare_shares_vectorised is exact: the total weight leaves int64 headroom for
# the remainder correction, and each quotient is below 2**50 so a float64 estimate is off by <= 1.
_VECTOR_MAX_TOTAL_WEIGHT_BITS = 62
_VECTOR_MAX_WEIGHT_BITS = 50


def _spare_shares_vectorised(
    weights: list[int], spare: int, total_weight: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """floor(spare * w / W) and its remainder for every weight, exactly, with int64 arrays.

    The products spare * w do not fit in 64 bits, so the quotient is estimated in float64 and the
    remainder is computed modulo 2**64 (uint64 arithmetic wraps): the true remainder lies within
    one W of [0, W), so the wrapped value read as int64 is exact and one correction step fixes the
    estimate. Returns None when the bounds that make this exact do not hold.
    """
    if (
        total_weight.bit_length() > _VECTOR_MAX_TOTAL_WEIGHT_BITS
        or max(weights).bit_length() > _VECTOR_MAX_WEIGHT_BITS
    ):
        return None
    weight_array = np.asarray(weights, dtype=np.int64)
    estimate = np.floor(weight_array.astype(np.float64) * float(spare) / float(total_weight)).astype(np.int64)
    wrapped = weight_array.astype(np.uint64) * np.uint64(spare) - estimate.astype(np.uint64) * np.uint64(
        total_weight
    )
    remainders = wrapped.view(np.int64)
    too_high = remainders < 0
    too_low = remainders >= total_weight
    estimate -= too_high
    remainders += too_high * total_weight
    estimate += too_low
    remainders -= too_low * total_weight
    if remainders.size and (remainders.min() < 0 or remainders.max() >= total_weight):
        return None  # cannot happen within the bounds above; the exact slow path is the safe answer
    return estimate, remainders


def nonzero_shares(keys: Sequence[Key], shares: Sequence[int]) -> dict[Key, int]:
    """``{key: share}`` for the shares that are not zero: what a ledger records."""
    # compress keeps the pairs whose share is truthy without a Python-level loop.
    return dict(compress(zip(keys, shares, strict=True), shares))


def _indices_of_largest(
    count: int, keys: Sequence[Key], remainders: np.ndarray | list[int], total_weight: int
) -> list[int]:
    """Indices of the ``count`` largest remainders; equal remainders go to the smaller key first."""
    if count == 0:
        return []
    if isinstance(remainders, np.ndarray):
        ranking = remainders
        exact_order: Callable[[int], Any] = keys.__getitem__  # equal ranks are equal remainders
    else:
        # Remainders beyond int64 are ranked by r / W as a float: correctly rounded division is
        # monotone, so it never puts a smaller remainder above a larger one; remainders that
        # round to the same float are ordered exactly below.
        ranking = np.fromiter((r / total_weight for r in remainders), dtype=np.float64, count=len(remainders))

        def exact_order(index: int) -> tuple[int, Key]:
            return -remainders[index], keys[index]

    # The count-th largest rank is the threshold: all above it win, and the rest of the winners
    # come from those equal to it. This avoids sorting every key.
    cut = len(ranking) - count
    threshold = np.partition(ranking, cut)[cut]
    winners = np.flatnonzero(ranking > threshold).tolist()
    tied = np.flatnonzero(ranking == threshold).tolist()
    still_needed = count - len(winners)
    if still_needed * 8 < len(tied):
        winners += heapq.nsmallest(still_needed, tied, key=exact_order)
    else:
        winners += sorted(tied, key=exact_order)[:still_needed]
    return winners


def largest_remainder_split_reference(
    total: int, weights: Mapping[Key, int | Fraction | Decimal]
) -> dict[Key, int]:
    """The same split written the obvious way, with Fractions and a full sort.

    Slow; kept as the oracle the tests compare :func:`largest_remainder_split` against, and as
    the per-contributor baseline of the benchmark.
    """
    exact_weights = {key: Fraction(weight) for key, weight in weights.items()}
    total_weight = sum(exact_weights.values())
    if total_weight == 0:
        return {key: 0 for key in weights}
    exact_shares = {key: total * weight / total_weight for key, weight in exact_weights.items()}
    shares = {key: math.floor(share) for key, share in exact_shares.items()}
    leftover = total - sum(shares.values())
    by_remainder = sorted(exact_shares, key=lambda key: (-(exact_shares[key] - shares[key]), key))
    for key in by_remainder[:leftover]:
        shares[key] += 1
    return shares
