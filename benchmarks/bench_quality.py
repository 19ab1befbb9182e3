"""Feedback-quality estimators at full size: validation against known truth, and speed.

    python benchmarks/bench_quality.py                  # about a minute on a laptop
    python benchmarks/bench_quality.py --seeds 3 --skip-naive

1. Validation on simulated populations (50 annotators, k = 3, 1,000 comparisons, several seeds):
   - Spearman correlation of Dawid-Skene reliability with each annotator's true accuracy
     (mix honest 0.7 / random 0.1 / flip 0.1 / left 0.1), also at 3,000 comparisons for reference;
   - accuracy of the Dawid-Skene label vs majority vote against the truth, a third of annotators unreliable;
   - precision and recall of each flag (mix with every abuse kind, 30% gold); an annotator counts as a positive
     when its kind calls for the flag, a flag on a "tolerated" annotator counts neither way (see population.py).
2. Speed of `quality_report` on 100,000 judgments (500 annotators, k = 3, 10% gold), against baselines: the
   Dawid-Skene fit of crowd-kit (when it is importable) and a naive pure-Python loop implementation of the same
   EM and of alpha.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter, defaultdict

import numpy as np


def balanced_truth(n_comparisons: int, seed: int) -> dict[str, str]:
    draws = np.random.default_rng([seed, 99]).random(n_comparisons)
    return {f"cmp-{i:06d}": ("a" if d < 0.5 else "b") for i, d in enumerate(draws)}


def validate(seeds: int) -> None:
    from scipy.stats import spearmanr

    from rlhf.quality import (
        FLAG_CODES,
        PopulationConfig,
        annotator_flags,
        annotator_signals,
        dawid_skene_estimate,
        gold_sample,
        majority_vote,
        population_simulate,
    )

    print(f"== Validation: 50 annotators, k = 3, seeds 0..{seeds - 1}")
    for n_comparisons in (1000, 3000):
        correlations = []
        for seed in range(seeds):
            population = population_simulate(balanced_truth(n_comparisons, seed), PopulationConfig(
                n_annotators=50, overlap=3, seed=seed, mix="honest=0.7,random=0.1,flip=0.1,left=0.1"))
            result = dawid_skene_estimate(population.judgments)
            correlations.append(spearmanr([a.accuracy for a in population.annotators],
                                          [result.annotators[a.annotator_id].reliability
                                           for a in population.annotators]).statistic)
        print(f"Spearman(reliability, true accuracy), {n_comparisons} comparisons: mean {np.mean(correlations):.3f}"
              f", min {min(correlations):.3f}, max {max(correlations):.3f}")

    ds_accuracy, mv_accuracy = [], []
    for seed in range(seeds):
        truth = balanced_truth(1000, seed)
        population = population_simulate(truth, PopulationConfig(
            n_annotators=50, overlap=3, seed=seed, mix="honest=0.66,random=0.12,flip=0.1,left=0.12"))
        ds, mv = dawid_skene_estimate(population.judgments), majority_vote(population.judgments, seed=seed)
        ds_accuracy.append(np.mean([ds.comparisons[c].label == t for c, t in truth.items()]))
        mv_accuracy.append(np.mean([mv[c].label == t for c, t in truth.items()]))
    print(f"Label accuracy, 1000 comparisons, 34% unreliable: Dawid-Skene {np.mean(ds_accuracy):.3f} "
          f"(min {min(ds_accuracy):.3f}) vs majority vote {np.mean(mv_accuracy):.3f} (max {max(mv_accuracy):.3f})")

    counts = {code: Counter() for code in FLAG_CODES}
    for seed in range(seeds):
        truth = balanced_truth(1000, seed)
        population = population_simulate(truth, PopulationConfig(
            n_annotators=50, overlap=3, seed=seed,
            mix="honest=0.5,random=0.1,flip=0.1,left=0.1,constant=0.1,duplicate=0.1"))
        signals = annotator_signals(population.judgments, gold_sample(truth, fraction=0.3, seed=seed))
        for annotator in population.annotators:
            raised = set(annotator_flags(signals[annotator.annotator_id]).codes)
            for code in FLAG_CODES:
                expected, tolerated = code in annotator.expected_flags, code in annotator.tolerated_flags
                if code in raised:
                    counts[code]["tp" if expected else ("tolerated" if tolerated else "fp")] += 1
                elif expected:
                    counts[code]["fn"] += 1
    print("Flags, 1000 comparisons, 30% gold, mix honest 0.5 + 0.1 each of random/flip/left/constant/duplicate:")
    for code, c in counts.items():
        precision = c["tp"] / max(1, c["tp"] + c["fp"])
        recall = c["tp"] / max(1, c["tp"] + c["fn"])
        print(f"  {code:<18} precision {precision:.3f}  recall {recall:.3f}  "
              f"(tp {c['tp']}, fp {c['fp']}, fn {c['fn']}, tolerated {c['tolerated']})")


def naive_dawid_skene(records: list[dict], iterations: int) -> dict[str, str]:
    """The same EM (a / b / tie, both_bad left out, pseudo-count 0.5) with dicts and loops, for a baseline."""
    categories = ("a", "b", "tie")
    by_comparison = defaultdict(list)
    for r in records:
        if r["choice"] in categories:
            by_comparison[r["comparison_id"]].append((r["annotator_id"], r["choice"]))
    posterior = {}
    for comparison, votes in by_comparison.items():
        tally = Counter(choice for _, choice in votes)
        total = sum(tally[c] + 1e-3 for c in categories)
        posterior[comparison] = {c: (tally[c] + 1e-3) / total for c in categories}
    for _ in range(iterations):
        counts = defaultdict(lambda: {t: dict.fromkeys(categories, 0.5) for t in categories})
        priors = dict.fromkeys(categories, 1.0)
        for comparison, votes in by_comparison.items():
            for true in categories:
                priors[true] += posterior[comparison][true]
                for annotator, choice in votes:
                    counts[annotator][true][choice] += posterior[comparison][true]
        total = sum(priors.values())
        priors = {c: p / total for c, p in priors.items()}
        confusion = {a: {t: {c: row[c] / sum(row.values()) for c in categories} for t, row in m.items()}
                     for a, m in counts.items()}
        for comparison, votes in by_comparison.items():
            scores = {}
            for true in categories:
                score = priors[true]
                for annotator, choice in votes:
                    score *= confusion[annotator][true][choice]
                scores[true] = score
            norm = sum(scores.values())
            posterior[comparison] = {c: s / norm for c, s in scores.items()}
    return {c: max(p, key=p.get) for c, p in posterior.items()}


def naive_alpha(records: list[dict]) -> float:
    categories = ("a", "b", "tie")
    units = defaultdict(list)
    for r in records:
        if r["choice"] in categories:
            units[r["comparison_id"]].append(r["choice"])
    coincidence = Counter()
    for values in units.values():
        if len(values) < 2:
            continue
        for i, first in enumerate(values):
            for j, second in enumerate(values):
                if i != j:
                    coincidence[(first, second)] += 1 / (len(values) - 1)
    n = sum(coincidence.values())
    totals = Counter()
    for (first, _), weight in coincidence.items():
        totals[first] += weight
    observed = sum(w for (f, s), w in coincidence.items() if f != s) / n
    expected = sum(totals[f] * totals[s] for f in categories for s in categories if f != s) / (n * (n - 1))
    return 1 - observed / expected


def timed(function, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def speed(repeats: int, skip_naive: bool) -> None:
    from rlhf.quality import PopulationConfig, gold_sample, population_simulate, quality_report
    from rlhf.quality.dawid_skene import dawid_skene_fit
    from rlhf.quality.judgments import judgment_table

    truth = balanced_truth(33_334, seed=1)
    population = population_simulate(truth, PopulationConfig(n_annotators=500, overlap=3, seed=1))
    gold = gold_sample(truth, fraction=0.1, seed=1)
    records = [j.as_record() for j in population.judgments]
    print(f"== Speed: {len(records):,} judgments, {len(truth):,} comparisons, 500 annotators, median of {repeats}")
    quality_report(records[:300], gold, seed=0)          # imports scipy once, outside the timings
    report_s, report = timed(lambda: quality_report(records, gold, seed=0), repeats)
    print(f"quality_report (validation, alpha + 1000-resample bootstrap, Dawid-Skene, signals, flags): "
          f"{report_s:.2f} s; {report['flag_counts']}")
    table = judgment_table(records)
    # Without gold, as the baselines have no gold clamping: the same model, so the labels should agree.
    fit_s, fit = timed(lambda: dawid_skene_fit(table), repeats)
    print(f"our Dawid-Skene fit alone (no gold): {fit_s:.3f} s ({fit.iterations} EM iterations)")
    ours = {c: fit.categories[int(np.argmax(p))] for c, p in zip(table.comparison_ids, fit.posteriors, strict=True)}
    try:
        import pandas as pd
        from crowdkit.aggregation import DawidSkene
    except ImportError:
        print("crowd-kit is not installed: skipped (pip install crowd-kit to compare)")
    else:
        frame = pd.DataFrame([{"worker": r["annotator_id"], "task": r["comparison_id"], "label": r["choice"]}
                              for r in records if r["choice"] != "both_bad"])
        crowdkit_s, labels = timed(lambda: DawidSkene(n_iter=500, tol=1e-5).fit_predict(frame), repeats)
        same = np.mean([labels[c] == ours[c] for c in labels.index])
        print(f"crowd-kit DawidSkene.fit_predict: {crowdkit_s:.2f} s; "
              f"ratio to our fit {crowdkit_s / fit_s:.1f}x, to our whole report {crowdkit_s / report_s:.2f}x; "
              f"labels agree with ours on {100 * same:.1f}%")
    if skip_naive:
        return
    naive_ds_s, naive_labels = timed(lambda: naive_dawid_skene(records, fit.iterations), 1)
    same = np.mean([naive_labels[c] == ours[c] for c in naive_labels])
    naive_alpha_s, value = timed(lambda: naive_alpha(records), 1)
    print(f"naive loop Dawid-Skene ({fit.iterations} iterations): {naive_ds_s:.2f} s, ratio to our fit "
          f"{naive_ds_s / fit_s:.0f}x (labels agree {100 * same:.1f}%); naive alpha point estimate "
          f"{naive_alpha_s:.2f} s (alpha {value:.4f} vs ours {report['alpha']['value']:.4f}, which also ran "
          f"1000 bootstrap resamples)")
    print(f"naive baseline (Dawid-Skene + one alpha) / our whole report: "
          f"{(naive_ds_s + naive_alpha_s) / report_s:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="populations per validation figure")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (the median is shown)")
    parser.add_argument("--skip-naive", action="store_true", help="skip the slow pure-Python baseline")
    args = parser.parse_args()
    validate(args.seeds)
    speed(args.repeats, args.skip_naive)


if __name__ == "__main__":
    main()
