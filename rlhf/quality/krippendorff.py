"""Krippendorff's alpha for nominal data, with a bootstrap interval, and pairwise agreement between annotators.

Coding (see `judgments.CODINGS`): by default a comparison's judgments are the nominal values "a", "b" and "tie";
"both_bad" is treated as a missing value because it states no preference. `coding="a_b_tie_both_bad"` keeps it
as a fourth value, `coding="a_b"` keeps strict preferences only. A comparison counts ("is pairable") when it has
at least two values after coding.

    alpha = 1 - D_o / D_e,   D_o = 1/n * sum_{c != k} o_ck,   D_e = 1/(n(n-1)) * sum_{c != k} n_c n_k

with the coincidence matrix o_ck = sum_u (number of ordered c-k pairs in unit u) / (m_u - 1) (Krippendorff 2011,
"Computing Krippendorff's Alpha-Reliability"). Everything needed is a per-comparison count of each value, so the
bootstrap (resampling comparisons with replacement) reduces to multinomial draws over the distinct count rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rlhf.arrays import Floats, Ints
from rlhf.quality.judgments import DEFAULT_CODING, Judgments, JudgmentTable, coding_categories, judgment_table


@dataclass(frozen=True)
class AlphaResult:
    """Alpha with its percentile bootstrap interval; `value` is None (and `reason` says why) when undefined."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    coding: str
    n_comparisons: int          # pairable comparisons (2+ values after coding)
    n_values: int               # values in those comparisons
    n_resamples: int            # bootstrap resamples in which alpha was defined
    confidence: float
    reason: str | None = None
    ci_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci95": None if self.ci_low is None else [self.ci_low, self.ci_high],
                "confidence": self.confidence, "coding": self.coding, "n_comparisons": self.n_comparisons,
                "n_values": self.n_values, "n_resamples": self.n_resamples, "reason": self.reason,
                "ci_reason": self.ci_reason}


@dataclass(frozen=True)
class PairAgreement:
    """How often two annotators gave the same coded value on the comparisons both judged."""

    annotator_a: str
    annotator_b: str
    shared_comparisons: int
    agreements: int

    @property
    def agreement_rate(self) -> float:
        return self.agreements / self.shared_comparisons

    def as_dict(self) -> dict[str, Any]:
        return {"annotator_a": self.annotator_a, "annotator_b": self.annotator_b,
                "shared_comparisons": self.shared_comparisons, "agreements": self.agreements,
                "agreement_rate": self.agreement_rate}


def _alpha_from_sums(n_values: npt.ArrayLike, matching_pairs: npt.ArrayLike, category_totals: npt.ArrayLike) -> Floats:
    """Vectorised alpha from (n, sum_c o_cc, n_c); NaN where there is no expected disagreement."""
    values = np.asarray(n_values, dtype=np.float64)
    totals = np.asarray(category_totals, dtype=np.float64)
    expected_matching = (totals * (totals - 1.0)).sum(axis=-1)
    denominator = values * (values - 1.0) - expected_matching
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 - (values - 1.0) * (values - np.asarray(matching_pairs, dtype=np.float64)) / denominator
    return np.where(denominator > 1e-9, alpha, np.nan)


def _pairable_sums(counts: npt.ArrayLike) -> tuple[Floats, Floats, Floats]:
    """Per pairable unit: values m_u, matching ordered pairs / (m_u - 1), and the counts themselves."""
    matrix = np.asarray(counts, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"counts must be a units x categories matrix, got shape {matrix.shape}")
    if (matrix < 0).any():
        raise ValueError("counts must be non-negative")
    values_per_unit = matrix.sum(axis=1)
    pairable = values_per_unit >= 2
    matrix, values_per_unit = matrix[pairable], values_per_unit[pairable]
    matching = (matrix * (matrix - 1.0)).sum(axis=1) / (values_per_unit - 1.0)
    return values_per_unit, matching, matrix


def alpha_nominal(counts: npt.ArrayLike) -> float | None:
    """Nominal alpha from a units x categories matrix of value counts; None when it is undefined.

    Units with fewer than two values are not pairable and are ignored. Undefined means no pairable unit, or every
    value in one category (no expected disagreement: 0/0).
    """
    values_per_unit, matching, pairable = _pairable_sums(counts)
    if values_per_unit.shape[0] == 0:
        return None
    alpha = _alpha_from_sums(values_per_unit.sum(), matching.sum(), pairable.sum(axis=0))
    return None if np.isnan(alpha) else float(alpha)


def comparison_value_counts(judgments: Judgments, *, coding: str = DEFAULT_CODING) -> Ints:
    """Comparisons x coded values matrix of how many judgments gave each value (rows follow `comparison_ids`)."""
    table = judgment_table(judgments)
    categories = coding_categories(coding)
    keep, values = table.coded(coding)
    counts = np.zeros((len(table.comparison_ids), len(categories)), dtype=np.int64)
    np.add.at(counts, (table.comparison[keep], values), 1)
    return counts


def krippendorff_alpha(judgments: Judgments, *, coding: str = DEFAULT_CODING, seed: int = 0, n_resamples: int = 1000,
                       confidence: float = 0.95) -> AlphaResult:
    """Nominal alpha over comparisons with 2+ coded judgments, with a seeded percentile bootstrap over comparisons."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    table = judgment_table(judgments)
    values_per_unit, matching, counts = _pairable_sums(comparison_value_counts(table, coding=coding))
    n_units = int(values_per_unit.shape[0])

    def undefined(reason: str) -> AlphaResult:
        return AlphaResult(None, None, None, coding, n_units, int(values_per_unit.sum()), 0, confidence, reason,
                           "alpha itself is undefined")

    if n_units == 0:
        return undefined(_no_pairable_reason(table, coding))
    value = alpha_nominal(counts)
    if value is None:
        category = coding_categories(coding)[int(np.argmax(counts.sum(axis=0)))]
        return undefined(f"every judgment counted is {category!r}: with no variation alpha is 0/0, undefined "
                         "(the annotators agree, but agreement beyond chance cannot be measured)")
    if n_units < 2:
        return AlphaResult(value, None, None, coding, n_units, int(values_per_unit.sum()), 0, confidence, None,
                           "a bootstrap interval needs at least 2 comparisons with 2+ judgments")
    resampled = _bootstrap_alphas(values_per_unit, matching, counts, seed=seed, n_resamples=n_resamples)
    defined = resampled[~np.isnan(resampled)]
    if defined.shape[0] < 0.5 * n_resamples:
        return AlphaResult(value, None, None, coding, n_units, int(values_per_unit.sum()), int(defined.shape[0]),
                           confidence, None, f"alpha was undefined in {n_resamples - defined.shape[0]} of "
                           f"{n_resamples} bootstrap resamples (too little variation)")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(defined, [tail, 1.0 - tail])
    return AlphaResult(value, float(low), float(high), coding, n_units, int(values_per_unit.sum()),
                       int(defined.shape[0]), confidence)


def _bootstrap_alphas(values_per_unit: Floats, matching: Floats, counts: Floats, *, seed: int,
                      n_resamples: int) -> Floats:
    """Alpha in each resample of the comparisons (with replacement).

    A comparison enters alpha only through its row of value counts, and with k judgments per comparison there
    are only a handful of distinct rows. Drawing n comparisons uniformly is drawing those rows with probability
    proportional to how often they occur, so a resample is one multinomial draw over the distinct rows: exact,
    and independent of the number of comparisons.
    """
    per_unit = np.column_stack([values_per_unit, matching, counts])
    patterns, occurrences = np.unique(per_unit, axis=0, return_counts=True)
    n_units = int(values_per_unit.shape[0])
    weights = np.random.default_rng(seed).multinomial(n_units, occurrences / n_units, size=n_resamples)
    sums = weights @ patterns
    return _alpha_from_sums(sums[:, 0], sums[:, 1], sums[:, 2:])


def _no_pairable_reason(table: JudgmentTable, coding: str) -> str:
    if table.size == 0:
        return "there are no judgments"
    if len(table.annotator_ids) < 2:
        return (f"only one annotator ({table.annotator_ids[0]!r}): agreement needs two or more people judging "
                "the same comparison")
    keep, _ = table.coded(coding)
    if not keep.any():
        return f"no judgment has a value under coding {coding!r} (all were left out)"
    return (f"no comparison has two or more judgments under coding {coding!r} (no overlap between annotators), "
            "so there is nothing to agree or disagree on")


def pairwise_agreement(judgments: Judgments, *, coding: str = DEFAULT_CODING) -> list[PairAgreement]:
    """Agreement of every annotator pair that shares at least one comparison (coded values), sorted by ids."""
    table = judgment_table(judgments)
    first, second, same = _judgment_pairs(table, coding)
    if first.shape[0] == 0:
        return []
    low, high = np.minimum(first, second), np.maximum(first, second)
    n_annotators = len(table.annotator_ids)
    pair_keys, inverse = np.unique(low * n_annotators + high, return_inverse=True)
    shared = np.bincount(inverse)
    agreed = np.bincount(inverse, weights=same).round().astype(np.int64)
    names = table.annotator_ids
    return [PairAgreement(names[key // n_annotators], names[key % n_annotators], int(count), int(agree))
            for key, count, agree in zip(pair_keys.tolist(), shared.tolist(), agreed.tolist(), strict=True)]


def annotator_agreement(table: JudgmentTable, *, coding: str = DEFAULT_CODING) -> tuple[Ints, Ints]:
    """Per annotator (indexed like `annotator_ids`): pairings with others on shared comparisons, and agreements."""
    first, second, same = _judgment_pairs(table, coding)
    n_annotators = len(table.annotator_ids)
    pairings = np.bincount(first, minlength=n_annotators) + np.bincount(second, minlength=n_annotators)
    agreements = (np.bincount(first, weights=same, minlength=n_annotators)
                  + np.bincount(second, weights=same, minlength=n_annotators))
    return pairings.astype(np.int64), agreements.round().astype(np.int64)


def _judgment_pairs(table: JudgmentTable, coding: str) -> tuple[Ints, Ints, Floats]:
    """Every unordered pair of coded judgments on the same comparison: (annotator, annotator, same value)."""
    keep, values = table.coded(coding)
    comparison, annotator = table.comparison[keep], table.annotator[keep]
    order = np.argsort(comparison, kind="stable")
    comparison, annotator, values = comparison[order], annotator[order], values[order]
    if comparison.shape[0] < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    longest = int(np.bincount(comparison).max())
    firsts, seconds, sames = [], [], []
    # A comparison's judgments are contiguous after sorting, so offset d pairs each with the one d places later.
    for offset in range(1, longest):
        same_comparison = comparison[:-offset] == comparison[offset:]
        firsts.append(annotator[:-offset][same_comparison])
        seconds.append(annotator[offset:][same_comparison])
        sames.append((values[:-offset] == values[offset:])[same_comparison].astype(np.float64))
    if not firsts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    return np.concatenate(firsts), np.concatenate(seconds), np.concatenate(sames)
