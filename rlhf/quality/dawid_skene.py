"""Dawid-Skene: per-annotator confusion matrices and true-label posteriors, estimated jointly by EM.

Model: each comparison has a hidden true value k (one of the coding's categories, default a / b / tie) with prior
pi_k; annotator j reports value l with probability C_j[k, l] independently of the others. EM alternates

    E: P(true = k | judgments) ∝ pi_k * prod_{judgments (j, l) of the comparison} C_j[k, l]
    M: C_j[k, l] ∝ pseudo_count + sum_{judgments (j, l)} P(true = k),   pi_k ∝ 1 + sum_comparisons P(true = k)

starting from the majority vote (deterministic), with gold comparisons clamped to their known answer throughout.
An annotator's `reliability` is the probability they report the true value, sum_k pi_k C_j[k, k].

Reference: A. P. Dawid and A. M. Skene (1979), "Maximum likelihood estimation of observer error-rates using the
EM algorithm", Applied Statistics 28(1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from rlhf.arrays import Bools, Floats, Ints
from rlhf.quality.judgments import (
    CHOICES,
    DEFAULT_CODING,
    GoldAnswers,
    Judgments,
    JudgmentTable,
    coding_categories,
    gold_choice_codes,
    judgment_table,
)
from rlhf.quality.krippendorff import comparison_value_counts


@dataclass(frozen=True)
class DawidSkeneConfig:
    """How the EM runs."""

    max_iterations: int = field(default=500, metadata={"help": "EM iterations at most before giving up."})
    tolerance: float = field(default=1e-5, metadata={
        "help": "Stop when no comparison's posterior probability moves by more than this in one iteration."})
    pseudo_count: float = field(default=0.5, metadata={
        "help": "Dirichlet smoothing added to every confusion-matrix cell, so that an annotator with few "
                "judgments is not estimated as perfect (or perfectly wrong) and no probability is exactly 0."})

    def __post_init__(self) -> None:
        if isinstance(self.max_iterations, bool) or not isinstance(self.max_iterations, int) \
                or self.max_iterations < 1:
            raise ValueError(f"max_iterations must be a positive integer, got {self.max_iterations!r}")
        if not 0.0 < self.tolerance < 1.0:
            raise ValueError(f"tolerance must be between 0 and 1, got {self.tolerance!r}")
        if not 0.0 < self.pseudo_count <= 100.0:
            raise ValueError(f"pseudo_count must be in (0, 100], got {self.pseudo_count!r}")


@dataclass(frozen=True)
class DawidSkeneFit:
    """The fitted model as arrays indexed like the `JudgmentTable` it came from (used by the other estimators)."""

    categories: tuple[str, ...]
    posteriors: Floats                # comparisons x categories
    confusion: Floats                 # annotators x true x reported
    class_priors: Floats              # categories
    informative_judgments: Ints       # per annotator: coded judgments on comparisons with other evidence
    judged: Bools                     # per comparison: has at least one coded judgment or gold
    iterations: int
    converged: bool

    @property
    def reliability(self) -> Floats:
        diagonal = np.diagonal(self.confusion, axis1=1, axis2=2)
        reliability: Floats = diagonal @ self.class_priors
        return reliability


@dataclass(frozen=True)
class ComparisonLabel:
    comparison_id: str
    label: str | None                 # most probable true value; None when nothing was judged
    posterior: dict[str, float]
    gold: str | None = None


@dataclass(frozen=True)
class AnnotatorReliability:
    annotator_id: str
    reliability: float | None         # probability of reporting the true value; None when not identifiable
    informative_judgments: int
    confusion: dict[str, dict[str, float]]   # true value -> reported value -> probability
    reason: str | None = None


@dataclass(frozen=True)
class DawidSkeneResult:
    categories: tuple[str, ...]
    class_priors: dict[str, float]
    comparisons: dict[str, ComparisonLabel]
    annotators: dict[str, AnnotatorReliability]
    iterations: int
    converged: bool


def gold_values(table: JudgmentTable, gold: GoldAnswers | None, coding: str) -> Ints:
    """Per comparison, the index of its gold answer among the coding's categories, or -1.

    Gold answers the coding leaves out (a "tie" under coding "a_b") are not clamped.
    """
    categories = coding_categories(coding)
    to_value = np.array([categories.index(c) if c in categories else -1 for c in CHOICES] + [-1])
    return to_value[gold_choice_codes(table, gold)]   # -1 (no gold) picks the trailing -1


def dawid_skene_fit(table: JudgmentTable, gold: GoldAnswers | None = None, *, coding: str = DEFAULT_CODING,
                    config: DawidSkeneConfig | None = None) -> DawidSkeneFit:
    """Fit Dawid-Skene on a validated table (arrays out); `dawid_skene_estimate` wraps this for plain-data callers."""
    config = config or DawidSkeneConfig()
    categories = coding_categories(coding)
    n_categories, n_items, n_annotators = len(categories), len(table.comparison_ids), len(table.annotator_ids)
    keep, values = table.coded(coding)
    items, annotators = table.comparison[keep], table.annotator[keep]
    clamped = gold_values(table, gold, coding)
    is_gold = clamped >= 0
    gold_onehot = np.eye(n_categories)[clamped[is_gold]]
    votes = comparison_value_counts(table, coding=coding).astype(np.float64)
    judged = (votes.sum(axis=1) > 0) | is_gold
    # Majority-vote start: vote shares (uniform where there are none), gold clamped.
    posteriors = (votes + 1e-3) / (votes + 1e-3).sum(axis=1, keepdims=True)
    posteriors[is_gold] = gold_onehot
    # One sparse matrix carries every judgment: comparisons x (annotator, reported value) cells, holding how many
    # judgments fall in each. Both EM steps are then a single sparse product.
    from scipy.sparse import csr_matrix

    n_cells = n_annotators * n_categories
    judgments_in = csr_matrix((np.ones(items.shape[0]), (items, annotators * n_categories + values)),
                              shape=(n_items, n_cells))
    cells_of = judgments_in.T.tocsr()
    judged_weight = judged.astype(np.float64)
    converged, iterations = False, 0
    while iterations < config.max_iterations and not converged:
        iterations += 1
        # M-step: expected (reported, true) counts per annotator, smoothed.
        counts = cells_of @ posteriors                                       # cells x true
        confusion = _confusion_from_counts(counts, n_annotators, n_categories, config.pseudo_count)
        priors = judged_weight @ posteriors + 1.0
        priors /= priors.sum()
        # E-step: log-posterior of each true value, summed over a comparison's judgments. Worked on as
        # true x comparisons, because numpy reduces over a few long rows much faster than over many short ones.
        log_confusion_by_cell = np.log(confusion).transpose(0, 2, 1).reshape(n_cells, n_categories)
        log_posterior = np.ascontiguousarray((judgments_in @ log_confusion_by_cell).T) + np.log(priors)[:, None]
        log_posterior -= log_posterior.max(axis=0, initial=-np.inf)
        updated = np.exp(log_posterior)
        updated /= updated.sum(axis=0)
        updated = np.ascontiguousarray(updated.T)
        updated[is_gold] = gold_onehot
        change = float(np.abs(updated - posteriors).max()) if n_items else 0.0
        posteriors = updated
        converged = change < config.tolerance
    informative = _informative_judgments(items, annotators, votes, is_gold, n_annotators)
    return DawidSkeneFit(categories, posteriors, confusion, priors, informative, judged, iterations, converged)


def _confusion_from_counts(counts: Floats, n_annotators: int, n_categories: int,
                           pseudo_count: float) -> Floats:
    """(annotator*reported, true) expected counts -> annotator x true x reported probabilities, rows summing to 1."""
    by_reported = counts.reshape(n_annotators, n_categories, n_categories)   # annotator, reported, true
    smoothed = by_reported.transpose(0, 2, 1) + pseudo_count
    confusion: Floats = smoothed / smoothed.sum(axis=2, keepdims=True)
    return confusion


def _informative_judgments(items: Ints, annotators: Ints, votes: Floats, is_gold: Bools,
                           n_annotators: int) -> Ints:
    """Per annotator, coded judgments on comparisons that also have gold or someone else's judgment.

    Only those say anything about the annotator's error rates; with none, the confusion matrix is the prior alone.
    """
    informative = is_gold[items] | (votes.sum(axis=1)[items] >= 2)
    return np.bincount(annotators[informative], minlength=n_annotators).astype(np.int64)


def dawid_skene_estimate(judgments: Judgments, gold: GoldAnswers | None = None, *, coding: str = DEFAULT_CODING,
                config: DawidSkeneConfig | None = None) -> DawidSkeneResult:
    """Estimate each annotator's reliability and each comparison's true value (plain data in and out).

    `judgments`: `Judgment`s or mappings (see `judgments.py`); `gold`: comparison id -> "a" / "b" / "tie".
    """
    table = judgment_table(judgments)
    fit = dawid_skene_fit(table, gold, coding=coding, config=config)
    clamped = gold_values(table, gold, coding)
    categories = fit.categories
    comparisons = {}
    for index, comparison_id in enumerate(table.comparison_ids):
        posterior = {category: float(p) for category, p in zip(categories, fit.posteriors[index], strict=True)}
        label = categories[int(np.argmax(fit.posteriors[index]))] if fit.judged[index] else None
        gold_label = categories[clamped[index]] if clamped[index] >= 0 else None
        comparisons[comparison_id] = ComparisonLabel(comparison_id, label, posterior, gold_label)
    annotators = {}
    for index, annotator_id in enumerate(table.annotator_ids):
        reliability, reason = reliability_or_reason(fit, index)
        confusion = {true: {reported: float(fit.confusion[index, t, r]) for r, reported in enumerate(categories)}
                     for t, true in enumerate(categories)}
        annotators[annotator_id] = AnnotatorReliability(annotator_id, reliability,
                                                        int(fit.informative_judgments[index]), confusion, reason)
    priors = {category: float(p) for category, p in zip(categories, fit.class_priors, strict=True)}
    return DawidSkeneResult(categories, priors, comparisons, annotators, fit.iterations, fit.converged)


def reliability_or_reason(fit: DawidSkeneFit, annotator: int) -> tuple[float | None, str | None]:
    if fit.informative_judgments[annotator] == 0:
        return None, ("none of this annotator's judgments is on a comparison that someone else also judged or "
                      "that has a gold answer, so their error rate cannot be estimated")
    return float(fit.reliability[annotator]), None


@dataclass(frozen=True)
class MajorityLabel:
    label: str | None      # None when the comparison has no coded judgment
    votes: dict[str, int]
    tied: bool             # the top count was shared and `label` was drawn among the tied values


def majority_vote(judgments: Judgments, *, coding: str = DEFAULT_CODING, seed: int = 0) -> dict[str, MajorityLabel]:
    """The most frequent coded value of each comparison; ties between top values broken at random (seeded)."""
    table = judgment_table(judgments)
    categories = coding_categories(coding)
    counts = comparison_value_counts(table, coding=coding)
    labels = majority_labels(counts, seed=seed)
    top = counts.max(axis=1, initial=0)
    tied = (counts == top[:, None]).sum(axis=1) > 1
    return {comparison_id: MajorityLabel(
        None if labels[index] < 0 else categories[labels[index]],
        {category: int(n) for category, n in zip(categories, counts[index], strict=True)},
        bool(tied[index] and top[index] > 0))
        for index, comparison_id in enumerate(table.comparison_ids)}


def majority_labels(counts: npt.ArrayLike, *, seed: int) -> Ints:
    """Index of the top value per row of a counts matrix (-1 for an empty row), random among tied tops."""
    rng = np.random.default_rng(seed)
    matrix = np.asarray(counts, dtype=np.float64)
    is_top = matrix == matrix.max(axis=1, keepdims=True, initial=0)
    labels = np.argmax(np.where(is_top, rng.random(matrix.shape), -1.0), axis=1)
    return np.where(matrix.sum(axis=1) > 0, labels, -1)
