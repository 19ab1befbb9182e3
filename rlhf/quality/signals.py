"""Per-annotator quality signals: gold accuracy, position bias, speed, straight-lining.

Each signal carries the counts it rests on; a value that cannot be computed is None with a reason, never NaN.
Flags (`flags.py`) turn these numbers into verdicts.

- Gold accuracy: share of the annotator's judgments on gold comparisons that equal the gold answer exactly
  (a "both_bad" on a gold "a" is wrong), with a Wilson score 95% interval.
- Position bias: among judgments that picked a side (a or b), how often the response shown on the left won,
  against the rate expected without any bias. The expectation comes from the content: with q the estimated
  probability (Dawid-Skene posterior) that the left-shown response is the better one, and r the annotator's
  estimated probability of picking the better response, an unbiased annotator picks left with r*q + (1-r)*(1-q).
  Under a randomised order this is about 50%. Two-sided binomial test.
- Speed: median time per judgment against the median of all the Datanet's judgments (the table given).
- Straight-lining: share of the annotator's most frequent answer (a, b, tie, both_bad), against the share of that
  answer among the other annotators' judgments of the same comparisons (the Datanet-wide share where nobody
  else judged a comparison). One-sided binomial test.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from rlhf.arrays import Floats
from rlhf.quality.dawid_skene import DawidSkeneFit, dawid_skene_fit
from rlhf.quality.judgments import (
    CHOICES,
    DEFAULT_CODING,
    GoldAnswers,
    Judgments,
    JudgmentTable,
    gold_choice_codes,
    judgment_table,
)


@dataclass(frozen=True)
class GoldAccuracy:
    n_gold: int
    correct: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    reason: str | None = None


@dataclass(frozen=True)
class PositionBias:
    n_side_judgments: int          # judgments that chose a or b
    left_wins: int
    left_rate: float | None
    expected_left_rate: float | None
    p_value: float | None
    reason: str | None = None


@dataclass(frozen=True)
class Speed:
    median_ms: float | None
    datanet_median_ms: float | None
    ratio: float | None            # annotator median / Datanet median
    reason: str | None = None


@dataclass(frozen=True)
class StraightLining:
    top_choice: str | None
    top_share: float | None
    expected_share: float | None
    p_value: float | None
    reason: str | None = None


@dataclass(frozen=True)
class AnnotatorSignals:
    annotator_id: str
    n_judgments: int
    gold: GoldAccuracy
    position: PositionBias
    speed: Speed
    straight_lining: StraightLining

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson_interval(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (good coverage for small n and rates near 0 or 1)."""
    if trials <= 0:
        raise ValueError("the Wilson interval needs at least one trial")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be between 0 and trials ({trials}), got {successes}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    rate = successes / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half_width = z * np.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, float(centre - half_width)), min(1.0, float(centre + half_width))


def binomial_p_values(successes: npt.ArrayLike, trials: npt.ArrayLike, rates: npt.ArrayLike, *,
                      alternative: str) -> Floats:
    """Exact binomial test p-values, vectorised over annotators (the same values as scipy's `binomtest`).

    "two-sided": the probability of an outcome no more likely than the one observed; "greater": of at least as
    many successes.
    """
    from scipy.stats import binom

    successes, trials = np.asarray(successes, dtype=np.int64), np.asarray(trials, dtype=np.int64)
    rates = np.asarray(rates, dtype=np.float64)
    if alternative == "greater":
        upper_tail: Floats = np.minimum(1.0, binom.sf(successes - 1, trials, rates))
        return upper_tail
    if alternative != "two-sided":
        raise ValueError(f"alternative must be 'two-sided' or 'greater', got {alternative!r}")
    p_values = np.empty(successes.shape[0])
    for index, (x, n, rate) in enumerate(zip(successes.tolist(), trials.tolist(), rates.tolist(), strict=True)):
        pmf = binom.pmf(np.arange(n + 1), n, rate)
        # The relative tolerance keeps outcomes exactly as likely as x (by symmetry) despite rounding.
        p_values[index] = min(1.0, float(pmf[pmf <= pmf[x] * (1 + 1e-7)].sum()))
    return p_values


def annotator_signals(judgments: Judgments, gold: GoldAnswers | None = None, *, coding: str = DEFAULT_CODING,
                      fit: DawidSkeneFit | None = None) -> dict[str, AnnotatorSignals]:
    """Signals of every annotator in the judgments, keyed by annotator id (in id order).

    `fit`: a Dawid-Skene fit of the same table and coding, to reuse; fitted here when not given.
    """
    table = judgment_table(judgments)
    if fit is None:
        fit = dawid_skene_fit(table, gold, coding=coding)
    n_annotators = len(table.annotator_ids)
    n_judgments = np.bincount(table.annotator, minlength=n_annotators)
    gold_signals = _gold_accuracy(table, gold)
    position = _position_bias(table, fit)
    speed = _speed(table)
    straight = _straight_lining(table)
    return {annotator_id: AnnotatorSignals(annotator_id, int(n_judgments[index]), gold_signals[index],
                                           position[index], speed[index], straight[index])
            for index, annotator_id in enumerate(table.annotator_ids)}


def _gold_accuracy(table: JudgmentTable, gold: GoldAnswers | None) -> list[GoldAccuracy]:
    n_annotators = len(table.annotator_ids)
    if not gold:
        return [GoldAccuracy(0, 0, None, None, None, "no gold answers were given")] * n_annotators
    answers = gold_choice_codes(table, gold)[table.comparison]
    on_gold = answers >= 0
    n_gold = np.bincount(table.annotator[on_gold], minlength=n_annotators)
    correct = np.bincount(table.annotator[on_gold & (table.choice == answers)], minlength=n_annotators)
    signals = []
    for n, right in zip(n_gold.tolist(), correct.tolist(), strict=True):
        if n == 0:
            signals.append(GoldAccuracy(0, 0, None, None, None, "judged no gold comparison"))
        else:
            signals.append(GoldAccuracy(n, right, right / n, *wilson_interval(right, n)))
    return signals


def _position_bias(table: JudgmentTable, fit: DawidSkeneFit) -> list[PositionBias]:
    n_annotators = len(table.annotator_ids)
    a, b = fit.categories.index("a"), fit.categories.index("b")
    sided = table.choice <= 1                       # CHOICES[0] == "a", CHOICES[1] == "b"
    left_won = (table.choice == table.left_is_b.astype(np.int64)) & sided
    # q: posterior probability that the left-shown response is the better of the two.
    posterior_a, posterior_b = fit.posteriors[table.comparison, a], fit.posteriors[table.comparison, b]
    side_mass = posterior_a + posterior_b
    left_better = np.where(table.left_is_b, posterior_b, posterior_a)
    q = np.divide(left_better, side_mass, out=np.full(side_mass.shape, 0.5), where=side_mass > 1e-12)
    # r: the annotator's probability of picking the better response when they pick a side.
    confusion, priors = fit.confusion, fit.class_priors
    picks_true_a = confusion[:, a, a] / (confusion[:, a, a] + confusion[:, a, b])
    picks_true_b = confusion[:, b, b] / (confusion[:, b, a] + confusion[:, b, b])
    r = (priors[a] * picks_true_a + priors[b] * picks_true_b) / (priors[a] + priors[b])
    expected_left = r[table.annotator] * q + (1 - r[table.annotator]) * (1 - q)
    n_sided = np.bincount(table.annotator[sided], minlength=n_annotators)
    wins = np.bincount(table.annotator[left_won], minlength=n_annotators)
    expected_sum = np.bincount(table.annotator[sided], weights=expected_left[sided], minlength=n_annotators)
    expected = np.clip(expected_sum / np.maximum(n_sided, 1), 1e-6, 1 - 1e-6)
    p_values = binomial_p_values(wins, n_sided, expected, alternative="two-sided")
    signals = []
    for index in range(n_annotators):
        n, x = int(n_sided[index]), int(wins[index])
        if n == 0:
            signals.append(PositionBias(0, 0, None, None, None,
                                        "no judgment picked a side (all tie or both_bad), so there is no position "
                                        "to be biased towards"))
        else:
            signals.append(PositionBias(n, x, x / n, float(expected[index]), float(p_values[index])))
    return signals


def _speed(table: JudgmentTable) -> list[Speed]:
    n_annotators = len(table.annotator_ids)
    if table.size == 0:
        return []
    datanet_median = float(np.median(table.time_spent_ms))
    order = np.argsort(table.annotator, kind="stable")
    boundaries = np.searchsorted(table.annotator[order], np.arange(n_annotators + 1))
    times = table.time_spent_ms[order]
    signals = []
    for index in range(n_annotators):
        median = float(np.median(times[boundaries[index]:boundaries[index + 1]]))
        if datanet_median <= 0:
            signals.append(Speed(median, datanet_median, None,
                                 "the Datanet's median time per judgment is 0 ms, so there is nothing to compare "
                                 "with (were times recorded?)"))
        else:
            signals.append(Speed(median, datanet_median, median / datanet_median))
    return signals


def _straight_lining(table: JudgmentTable) -> list[StraightLining]:
    n_annotators, n_choices = len(table.annotator_ids), len(CHOICES)
    if table.size == 0:
        return []
    per_comparison = np.zeros((len(table.comparison_ids), n_choices))
    np.add.at(per_comparison, (table.comparison, table.choice), 1.0)
    datanet_share = per_comparison.sum(axis=0) / table.size
    others = per_comparison[table.comparison] - np.eye(n_choices)[table.choice]
    n_others = others.sum(axis=1, keepdims=True)
    expected_rows = np.where(n_others > 0, others / np.maximum(n_others, 1), datanet_share)
    own = np.zeros((n_annotators, n_choices))
    np.add.at(own, (table.annotator, table.choice), 1.0)
    expected = np.stack([np.bincount(table.annotator, weights=expected_rows[:, c], minlength=n_annotators)
                         for c in range(n_choices)], axis=1)
    n = own.sum(axis=1)
    top = np.argmax(own, axis=1)
    top_count = own[np.arange(n_annotators), top]
    expected_share = expected[np.arange(n_annotators), top] / n
    p_values = binomial_p_values(top_count, n, np.clip(expected_share, 1e-6, 1 - 1e-6), alternative="greater")
    return [StraightLining(CHOICES[top[index]], float(top_count[index] / n[index]), float(expected_share[index]),
                           float(p_values[index]))
            for index in range(n_annotators)]
