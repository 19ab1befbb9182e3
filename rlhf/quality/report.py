"""The quality report of a Datanet: one JSON-ready dict the site stores and renders.

    report = quality_report(judgments, gold, seed=0)
    json.dumps(report, allow_nan=False)      # always works

What cannot be computed (no overlap between annotators, a single annotator, only ties, no gold, ...) is None with
a reason next to it, never a crash and never a NaN. Layout (`REPORT_SCHEMA_VERSION` 1):

    schema_version, seed, coding {name, categories, help}, counts {...}, notes [str],
    alpha {value, ci95, confidence, coding, n_comparisons, n_values, n_resamples, reason, ci_reason},
    observed_agreement {value, pairings, agreements, reason},
    dawid_skene {converged, iterations, class_priors, reason},
    annotators [{annotator_id, n_judgments, reliability {...}, gold_accuracy {...}, agreement {...},
                 position_bias {...}, speed {...}, straight_lining {...}, flags [{code, reason}],
                 not_checked [{code, reason}]}],           # sorted by annotator id
    flag_counts {code: annotators flagged}, pairwise_agreement [{annotator_a, annotator_b, shared_comparisons,
    agreements, agreement_rate}], thresholds {...}, comparisons [...] (only with include_comparisons=True)
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from rlhf.arrays import Ints
from rlhf.quality.dawid_skene import (
    DawidSkeneConfig,
    DawidSkeneFit,
    dawid_skene_fit,
    majority_labels,
    reliability_or_reason,
)
from rlhf.quality.flags import FLAG_CODES, FlagThresholds, annotator_flags
from rlhf.quality.judgments import (
    CHOICES,
    CODING_HELP,
    DEFAULT_CODING,
    GoldAnswers,
    Judgments,
    JudgmentTable,
    coding_categories,
    gold_choice_codes,
    judgment_table,
)
from rlhf.quality.krippendorff import (
    annotator_agreement,
    comparison_value_counts,
    krippendorff_alpha,
    pairwise_agreement,
)
from rlhf.quality.signals import GoldAccuracy, annotator_signals

REPORT_SCHEMA_VERSION = 1


def quality_report(judgments: Judgments, gold: GoldAnswers | None = None, *, seed: int, coding: str = DEFAULT_CODING,
                   thresholds: FlagThresholds | None = None, n_resamples: int = 1000,
                   dawid_skene_config: DawidSkeneConfig | None = None,
                   include_comparisons: bool = False) -> dict[str, Any]:
    """Agreement, reliability, gold accuracy, signals and flags of every annotator in `judgments`.

    `judgments`: `Judgment`s or mappings (see `judgments.py`); `gold`: comparison id -> "a" / "b" / "tie";
    `seed`: seeds the bootstrap interval of alpha and majority-vote tie breaks. `include_comparisons` adds each
    comparison's Dawid-Skene label and posterior and its majority vote.
    """
    thresholds = thresholds or FlagThresholds()
    categories = coding_categories(coding)
    table = judgment_table(judgments)
    fit = dawid_skene_fit(table, gold, coding=coding, config=dawid_skene_config)
    alpha = krippendorff_alpha(table, coding=coding, seed=seed, n_resamples=n_resamples)
    signals = annotator_signals(table, gold, coding=coding, fit=fit)
    pairings, agreements = annotator_agreement(table, coding=coding)
    gold_codes = gold_choice_codes(table, gold)
    annotators, flag_counts = [], dict.fromkeys(FLAG_CODES, 0)
    for index, annotator_id in enumerate(table.annotator_ids):
        annotator_signal = signals[annotator_id]
        outcome = annotator_flags(annotator_signal, thresholds)
        for code in outcome.codes:
            flag_counts[code] += 1
        reliability, reliability_reason = reliability_or_reason(fit, index)
        annotators.append({
            "annotator_id": annotator_id,
            "n_judgments": annotator_signal.n_judgments,
            "reliability": {"value": reliability, "informative_judgments": int(fit.informative_judgments[index]),
                            "reason": reliability_reason},
            "gold_accuracy": _gold_entry(annotator_signal.gold),
            "agreement": _agreement_entry(int(pairings[index]), int(agreements[index]), coding),
            "position_bias": asdict(annotator_signal.position),
            "speed": asdict(annotator_signal.speed),
            "straight_lining": asdict(annotator_signal.straight_lining),
            **outcome.as_dict(),
        })
    report: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "seed": seed,
        "coding": {"name": coding, "categories": list(categories), "help": CODING_HELP[coding]},
        "counts": {
            "judgments": table.size,
            "comparisons": len(table.comparison_ids),
            "annotators": len(table.annotator_ids),
            "comparisons_with_overlap": alpha.n_comparisons,
            "gold_comparisons_judged": int((gold_codes >= 0).sum()),
            "revisions_replaced": table.revisions_replaced,
        },
        "notes": _notes(table, gold, gold_codes),
        "alpha": alpha.as_dict(),
        # Raw share of agreeing judgment pairs: easier to read than alpha, but not corrected for chance.
        "observed_agreement": _agreement_entry(int(pairings.sum()) // 2, int(agreements.sum()) // 2, coding),
        "dawid_skene": {
            "converged": fit.converged, "iterations": fit.iterations,
            "class_priors": dict(zip(categories, fit.class_priors.tolist(), strict=True)),
            "reason": None if fit.informative_judgments.any() else (
                "no annotator has a judgment on a comparison that someone else also judged or that has a gold "
                "answer: reliabilities cannot be estimated"),
        },
        "annotators": annotators,
        "flag_counts": flag_counts,
        "pairwise_agreement": [pair.as_dict() for pair in pairwise_agreement(table, coding=coding)],
        "thresholds": thresholds.as_dict(),
    }
    if include_comparisons:
        report["comparisons"] = _comparison_entries(table, fit, gold_codes, coding, seed)
    ready: dict[str, Any] = _json_ready(report, report["notes"])
    return ready


def _gold_entry(gold: GoldAccuracy) -> dict[str, Any]:
    return {"value": gold.rate, "n_gold": gold.n_gold, "correct": gold.correct,
            "ci95": None if gold.ci_low is None else [gold.ci_low, gold.ci_high], "reason": gold.reason}


def _agreement_entry(pairings: int, agreements: int, coding: str) -> dict[str, Any]:
    if pairings == 0:
        return {"value": None, "pairings": 0, "agreements": 0,
                "reason": f"no comparison judged here (under coding {coding!r}) was also judged by someone else"}
    return {"value": agreements / pairings, "pairings": pairings, "agreements": agreements, "reason": None}


def _notes(table: JudgmentTable, gold: GoldAnswers | None, gold_codes: Ints) -> list[str]:
    notes = []
    if table.size == 0:
        notes.append("there are no judgments: nothing to measure")
    elif len(table.annotator_ids) == 1:
        notes.append("only one annotator: agreement and reliability need two or more people on the same "
                     "comparisons (or gold answers)")
    if not gold:
        notes.append("no gold answers were given: gold accuracy is not computed and low_gold_accuracy is not "
                     "checked")
    elif table.size and not (gold_codes >= 0).any():
        notes.append("gold answers were given, but none of them is for a comparison in these judgments")
    if table.revisions_replaced:
        notes.append(f"{table.revisions_replaced} earlier judgments were replaced by a later judgment of the same "
                     "annotator on the same comparison")
    return notes


def _comparison_entries(table: JudgmentTable, fit: DawidSkeneFit, gold_codes: Ints, coding: str,
                        seed: int) -> list[dict[str, Any]]:
    categories = fit.categories
    counts = comparison_value_counts(table, coding=coding)
    majority = majority_labels(counts, seed=seed)
    n_judgments = np.bincount(table.comparison, minlength=len(table.comparison_ids))
    entries = []
    for index, comparison_id in enumerate(table.comparison_ids):
        posterior = fit.posteriors[index]
        entries.append({
            "comparison_id": comparison_id,
            "n_judgments": int(n_judgments[index]),
            "label": categories[int(np.argmax(posterior))] if fit.judged[index] else None,
            "posterior": dict(zip(categories, posterior.tolist(), strict=True)),
            "majority": None if majority[index] < 0 else categories[majority[index]],
            "gold": None if gold_codes[index] < 0 else CHOICES[gold_codes[index]],
        })
    return entries


def _json_ready(value: Any, notes: list[str], path: str = "report") -> Any:
    """Plain Python types only; a non-finite number becomes None and is named in the notes."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float or isinstance(value, np.floating):
        if math.isfinite(value):
            return float(value)
        notes.append(f"{path} was not a finite number and is shown as null")
        return None
    if kind is dict:
        return {str(key): _json_ready(item, notes, f"{path}.{key}") for key, item in value.items()}
    if kind is list or kind is tuple:
        # Elements share their list's path: formatting an index per element would dominate the cost.
        item_path = f"{path}[]"
        return [_json_ready(item, notes, item_path) for item in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
