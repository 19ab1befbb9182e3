"""Active pair selection: held-out accuracy against judgments bought, `random` against `uncertainty` (CPU, minutes).

    .venv/bin/python benchmarks/bench_active_selection.py                 # ../shared/data/hh-rlhf-harmless-1k.jsonl
    .venv/bin/python benchmarks/bench_active_selection.py --seeds 0-9 --populations noisy,honest,recorded
    .venv/bin/python benchmarks/bench_active_selection.py --budget 400 --l2 0.1 --json var/active-selection.json
    .venv/bin/python benchmarks/bench_active_selection.py --truth linear --populations noisy,honest,recorded

Real HH-RLHF comparisons, each with its replies in a seeded random order as a and b; the truth is the recorded
choice ("a" where a is the reply the original annotator chose). A seeded held-out set (`--heldout` comparisons) is
never served: it scores the reward model against the recorded choice. The rest is the Datanet's queue, judged by
simulated annotators (rlhf.quality.population) one request at a time: each request comes from an annotator drawn
at random, with a side shown on the left and a strategy draw, and is served by the site's own rule
(rlhf.active.strategy_drawn, then rlhf.active.next_pick among the least-judged comparisons this annotator has not
judged, as the judging path orders its queue). Both strategies see the same stream of requests (the same
annotators, sides and draws), so their curves differ by the selection alone.

Every `--retrain-every` judgments the linear reward-model head (rlhf.linear_head: frozen packaged MiniLM
embeddings, cached on disk, with training's `head_features`; bradley_terry_fit on embedding differences, its L2
chosen by 5-fold cross-validation on the rows bought so far as training chooses it, unless `--l2` is given) is
refitted on every judgment bought so far, one row per judgment that prefers a or b (the site's "each" export; a
tie or both-bad is a judgment bought that gives no row), and scored on the held-out set. Under `uncertainty` its
margins on the queue set each comparison's `pair_uncertainty`; before the first fit nothing is scored, so the
first `--retrain-every` requests follow the random order under both strategies.

Populations (`--populations`): `noisy` is the quality module's default mix (honest 0.7 with accuracies 0.65-0.95,
random clickers, flippers and left-pickers 0.1 each); `honest` is honest annotators only (0.65-0.95); `recorded`
is honest annotators of accuracy 1, whose every judgment is the recorded choice (no annotator noise at all, only
the recorded labels' own). The `ceiling` line is the head fitted on the recorded choice of the whole queue.

Truth (`--truth`): `recorded` is the recorded choice. `linear` is a control for when the learning curve is long: the
same texts and embeddings, but each comparison's right answer (for the annotators and the held-out score alike) is
the side that the head fitted on every recorded choice of the file prefers. The head can represent that truth
exactly, so its accuracy keeps rising with the judgments bought instead of flattening near the recorded labels'
ceiling; it shows what the selection does where there is a learning curve to shorten.

Candidates (`--candidates`) are selection measures tried here before any becomes a Datanet strategy. Each is served
by the `uncertainty` strategy's rule (the same random share and draws) and differs only in what it orders the queue
by after each refit. Both use the head's Laplace posterior, whose covariance is S = (n H)^-1, with H the fitted
objective's Hessian over the n rows bought:
- `information`: the expected information gain of a judgment, log(1 + p(1-p) d'S d);
- `variance`: the posterior variance of the pair's margin, d'S d.

Noise controls (each a diagnostic, not a site rule; both keep the request stream):
- `--train-on honest` refits the head only on the judgments of the population's honest annotators, as if quality
  control removed every random clicker, flipper and left-picker without error and at no cost: the most any
  filtering by quality could give.
- `--repeat K` lets a request drawn as `uncertainty` be served any open comparison with fewer than K judgments
  (instead of the least-judged ones first), so the head's least-sure comparisons are asked again of other
  people; every judgment is still its own row. Requests drawn as random keep least-judged first.

What is reported per population: the median across seeds of each strategy's held-out accuracy at each retrain,
the judgments each strategy needs for its median curve to reach the median accuracy `random` reaches with the
whole budget, their ratio (the issue's target: uncertainty <= 0.6x random), and the same per seed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "hh-rlhf-harmless-1k.jsonl"
# name: (population mix, honest annotators' accuracy range or None for the population module's default)
CANDIDATES = ("information", "variance")
TRUTHS = ("recorded", "linear")
TRAIN_ON = ("all", "honest")
POPULATIONS: dict[str, tuple[str, tuple[float, float] | None]] = {
    "noisy": ("honest=0.7,random=0.1,flip=0.1,left=0.1", None),
    "honest": ("honest=1", None),
    "recorded": ("honest=1", (1.0, 1.0)),
}


def parse_arguments() -> argparse.Namespace:
    from rlhf.active import DEFAULT_RANDOM_SHARE

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="HH-RLHF style JSONL (default: the 1k sample).")
    parser.add_argument("--seeds", default="0-4",
                        help="Seeds, as 0-4 or 0,3,7: each changes the a/b order, the held-out split, the population "
                             "and the request stream (default 0-4).")
    parser.add_argument("--populations", default="noisy,honest",
                        help=f"Comma-separated, of {', '.join(POPULATIONS)} (default noisy,honest).")
    parser.add_argument("--heldout", type=int, default=250, help="Comparisons held out, never served (default 250).")
    parser.add_argument("--budget", type=int, default=600, help="Judgments bought per run (default 600).")
    parser.add_argument("--retrain-every", type=int, default=100, help="Judgments between refits (default 100).")
    parser.add_argument("--annotators", type=int, default=50, help="Simulated annotators (default 50).")
    parser.add_argument("--overlap", type=int, default=1,
                        help="Judgments per comparison, k (default 1; with the least-judged-first rule k only "
                             "matters once the budget exceeds the queue).")
    parser.add_argument("--random-share", type=float, default=DEFAULT_RANDOM_SHARE,
                        help=f"Random share of the uncertainty strategy (default {DEFAULT_RANDOM_SHARE}).")
    parser.add_argument("--l2", type=float, default=None,
                        help="L2 of the head (default: chosen by 5-fold cross-validation at every refit).")
    parser.add_argument("--candidates", default="",
                        help=f"Comma-separated selection measures to run beside the strategies, of "
                             f"{', '.join(CANDIDATES)} (default none; see above).")
    parser.add_argument("--truth", choices=TRUTHS, default="recorded",
                        help="What a comparison's right answer is: the recorded choice (default), or `linear`, the "
                             "side that the head fitted on every recorded choice prefers (a control; see above).")
    parser.add_argument("--train-on", choices=TRAIN_ON, default="all",
                        help="Whose judgments refit the head: every annotator's (default), or only the honest "
                             "ones' (a control: quality control at its best; see above).")
    parser.add_argument("--repeat", type=int, default=0,
                        help="Let uncertainty-drawn requests re-ask comparisons with fewer than this many judgments "
                             "(a control; default 0: least-judged first, as the site serves).")
    parser.add_argument("--embedding-cache-dir", help="Embedding cache (default: the user's cache).")
    parser.add_argument("--json", help="Also write every curve and setting to this JSON file.")
    args = parser.parse_args()
    unknown = [name for name in args.populations.split(",") if name not in POPULATIONS]
    if unknown:
        parser.error(f"--populations: unknown {unknown[0]!r}; known: {', '.join(POPULATIONS)}")
    if args.repeat and args.repeat <= args.overlap:
        parser.error(f"--repeat ({args.repeat}) must be above --overlap ({args.overlap}), or 0 for none")
    if args.budget < args.retrain_every or args.retrain_every < 1:
        parser.error(f"--budget ({args.budget}) must be at least --retrain-every ({args.retrain_every}) >= 1")
    return args


def seeds_parse(text: str) -> list[int]:
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    if not seeds:
        raise SystemExit("--seeds: no seed given")
    return seeds


@dataclass
class Split:
    """One seed's comparisons: the queue (served) and the held-out set, as embedding features."""

    ids: list[str]                 # the queue's comparison ids
    truth: dict[str, str]          # the queue's recorded choices, "a" or "b"
    features_a: np.ndarray         # phi(prompt, reply a) of the queue
    features_b: np.ndarray
    keys: np.ndarray               # shuffle_key of each queue comparison's texts
    heldout_differences: np.ndarray   # phi(chosen) - phi(rejected) of the held-out set


def split_build(rows, chosen: np.ndarray, rejected: np.ndarray, *, seed: int, heldout: int) -> Split:
    from rlhf.active import shuffle_key
    from rlhf.attribution.validation import comparisons_with_truth

    comparisons, truth = comparisons_with_truth(rows, seed=seed)
    order = np.random.default_rng([seed, 31]).permutation(len(comparisons))
    held = [comparisons[i] for i in sorted(order[:heldout])]
    queue = [comparisons[i] for i in sorted(order[heldout:])]
    row_of = [int(c.comparison_id) for c in queue]    # comparisons_with_truth ids are row indices
    a_chosen = np.array([truth[c.comparison_id] == "a" for c in queue])[:, None]
    held_rows = [int(c.comparison_id) for c in held]
    return Split(ids=[c.comparison_id for c in queue], truth={c.comparison_id: truth[c.comparison_id] for c in queue},
                 features_a=np.where(a_chosen, chosen[row_of], rejected[row_of]),
                 features_b=np.where(a_chosen, rejected[row_of], chosen[row_of]),
                 keys=np.array([shuffle_key(c.prompt, c.text_a, c.text_b) for c in queue]),
                 heldout_differences=chosen[held_rows] - rejected[held_rows])


def linear_truth(split: Split, weights: np.ndarray) -> Split:
    """`split` with every right answer replaced by the side `weights` prefers (`--truth linear`): the queue's truth,
    and the held-out differences turned to point from the preferred reply to the other."""
    prefers_a = (split.features_a - split.features_b) @ weights > 0
    held_sign = np.where(split.heldout_differences @ weights > 0, 1.0, -1.0)[:, None]
    return replace(split, truth={c: "a" if won else "b" for c, won in zip(split.ids, prefers_a, strict=True)},
                   heldout_differences=held_sign * split.heldout_differences)


def head_fit(differences: np.ndarray, groups: list[str], *, l2: float | None, seed: int) -> tuple[np.ndarray, float]:
    """The head as training fits it: L2 given, or chosen by cross-validation on these rows."""
    from rlhf.config import L2_FOLDS, L2_GRID
    from rlhf.linear_head import bradley_terry_fit, l2_cross_validated

    if l2 is None:
        l2 = l2_cross_validated(differences, groups, grid=L2_GRID, folds=L2_FOLDS, seed=seed).l2
    weights, _ = bradley_terry_fit(differences, l2=l2)
    return weights, l2


def ceiling(split: Split, *, l2: float | None, seed: int) -> float:
    """Held-out accuracy of the head fitted on the recorded choice of the whole queue: what no budget can beat."""
    signs = np.array([1.0 if split.truth[c] == "a" else -1.0 for c in split.ids])[:, None]
    weights, _ = head_fit(signs * (split.features_a - split.features_b), split.ids, l2=l2, seed=seed)
    return float((split.heldout_differences @ weights > 0).mean())


def selection_scores(strategy: str, queue_differences: np.ndarray, weights: np.ndarray, bought: np.ndarray,
                     l2: float) -> np.ndarray:
    """What `strategy` orders the queue by after a refit (highest first): the site's pair_uncertainty of the margins,
    or a candidate's measure under the head's Laplace posterior (see the module docstring)."""
    from rlhf.active import UNCERTAINTY, pair_uncertainty
    from rlhf.linear_head import bradley_terry_hessian

    margins = queue_differences @ weights
    if strategy == UNCERTAINTY:
        return pair_uncertainty(margins)
    covariance = np.linalg.inv(len(bought) * bradley_terry_hessian(weights, bought, l2=l2))
    variance = np.einsum("ij,jk,ik->i", queue_differences, covariance, queue_differences)
    if strategy == "variance":
        return variance
    if strategy == "information":
        agreement = np.exp(-np.logaddexp(0.0, -margins)) * np.exp(-np.logaddexp(0.0, margins))   # p (1 - p)
        return np.log1p(agreement * variance)
    raise ValueError(f"no selection measure {strategy!r}")


def run_one(split: Split, population, strategy: str, args, *, seed: int) -> dict[str, Any]:
    """Buy `args.budget` judgments one request at a time under `strategy` (a site strategy or a candidate, served by
    the uncertainty rule); refit and score every retrain_every."""
    from rlhf.active import RANDOM, UNCERTAINTY, next_pick, strategy_drawn
    from rlhf.quality.population import population_answers

    count = len(split.ids)
    annotator_ids = [a.annotator_id for a in population.annotators]
    kinds = [a.kind for a in population.annotators]
    judged_by = np.zeros((len(annotator_ids), count), dtype=bool)
    judgment_count = np.zeros(count, dtype=np.int64)
    uncertainty = np.full(count, np.nan)
    requests = np.random.default_rng([seed, 41])   # the same stream of requests under every strategy
    differences: list[np.ndarray] = []
    groups: list[str] = []
    curve, l2_chosen, served_as, label_correct = [], [], {"random": 0, "uncertainty": 0}, 0
    picked: list[int] = []
    for bought in range(1, args.budget + 1):
        annotator = int(requests.integers(len(annotator_ids)))
        shown_left = "a" if requests.random() < 0.5 else "b"
        drawn = strategy_drawn(RANDOM if strategy == RANDOM else UNCERTAINTY, random_share=args.random_share,
                               draw=float(requests.random()))
        open_here = (judgment_count < max(args.overlap, args.repeat)) & ~judged_by[annotator]
        if not open_here.any():
            raise SystemExit(f"the queue ran out after {bought - 1} judgments: lower --budget or raise --overlap")
        if args.repeat and drawn == UNCERTAINTY and not np.isnan(uncertainty).all():
            servable = open_here     # --repeat: the head's least-sure comparisons may be asked again
        else:
            servable = open_here & (judgment_count == judgment_count[open_here].min())
        pick = next_pick(drawn, open_mask=servable, keys=split.keys, uncertainty=uncertainty)
        served_as[drawn] += 1
        picked.append(pick)
        judged_by[annotator, pick] = True
        judgment_count[pick] += 1
        comparison_id = split.ids[pick]
        (judgment,) = population_answers(population, split.truth,
                                         [(comparison_id, annotator_ids[annotator], shown_left)])
        label_correct += judgment.choice == split.truth[comparison_id]
        if judgment.choice in ("a", "b") and (args.train_on == "all" or kinds[annotator] == "honest"):
            sign = 1.0 if judgment.choice == "a" else -1.0
            differences.append(sign * (split.features_a[pick] - split.features_b[pick]))
            groups.append(comparison_id)
        if bought % args.retrain_every == 0:
            weights, l2 = head_fit(np.array(differences), groups, l2=args.l2, seed=seed)
            curve.append(float((split.heldout_differences @ weights > 0).mean()))
            l2_chosen.append(l2)
            if strategy != RANDOM:
                uncertainty = selection_scores(strategy, split.features_a - split.features_b, weights,
                                               np.array(differences), l2)
    return {"accuracy": curve, "l2": l2_chosen, "served_as": served_as, "rows": len(differences),
            "label_accuracy": label_correct / args.budget, "picked": picked}


def needed(curve: list[float], target: float, steps: list[int]) -> int | None:
    """Judgments at the first retrain whose accuracy reaches `target` (None: never within the budget)."""
    return next((step for step, value in zip(steps, curve, strict=True) if value >= target - 1e-12), None)


def ratio_text(numerator: int | None, denominator: int | None) -> str:
    if numerator is None:
        return "not reached"
    return f"{numerator / denominator:.2f}x" if denominator else "n/a"


def population_summary(name: str, runs: dict[int, dict[str, dict]], ceilings: dict[int, float],
                       steps: list[int], strategies: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Printed lines and the JSON summary of one population's runs (seed -> strategy -> run); every strategy after
    `random` is compared with it."""
    from rlhf.active import RANDOM, UNCERTAINTY

    seeds = sorted(runs)
    others = [s for s in strategies if s != RANDOM]
    median = {s: [statistics.median(runs[seed][s]["accuracy"][i] for seed in seeds) for i in range(len(steps))]
              for s in strategies}
    lines = [f"{'judgments':>9} | " + " | ".join(f"{s + ': median [min-max]':>30}" for s in strategies) + " | "
             + " | ".join(f"{s} - random (paired median)" for s in others)]
    for i, step in enumerate(steps):
        cells = []
        for strategy in strategies:
            values = [runs[seed][strategy]["accuracy"][i] for seed in seeds]
            cells.append(f"{median[strategy][i]:.3f} [{min(values):.3f}-{max(values):.3f}]")
        paired = [statistics.median(runs[seed][s]["accuracy"][i] - runs[seed][RANDOM]["accuracy"][i] for seed in seeds)
                  for s in others]
        lines.append(f"{step:>9} | " + " | ".join(f"{c:>30}" for c in cells) + " | "
                     + " | ".join(f"{p:+.3f}" for p in paired))
    target = median[RANDOM][-1]
    need = {s: needed(median[s], target, steps) for s in strategies}
    lines.append(f"target: random's median accuracy with all {steps[-1]} judgments, {target:.3f}; median curves reach "
                 f"it: " + ", ".join(f"{s} {'never' if need[s] is None else f'at {need[s]} judgments'}" for s in strategies)
                 + "; " + ", ".join(f"{s}/random {ratio_text(need[s], need[RANDOM])}" for s in others))
    per_seed = {}
    for seed in seeds:
        seed_target = runs[seed][RANDOM]["accuracy"][-1]
        seed_need = {s: needed(runs[seed][s]["accuracy"], seed_target, steps) for s in strategies}
        per_seed[seed] = {"target": seed_target, "needed": seed_need,
                          "ratio": {s: None if seed_need[s] is None or not seed_need[RANDOM]
                                    else seed_need[s] / seed_need[RANDOM] for s in others}}
    for s in others:
        ratios = [entry["ratio"][s] for entry in per_seed.values()]
        reached = [r for r in ratios if r is not None]
        lines.append(f"per seed, {s} (each against its own random run's final accuracy): ratios "
                     + ", ".join("not reached" if r is None else f"{r:.2f}" for r in ratios)
                     + (f"; median of those reached {statistics.median(reached):.2f}" if reached else ""))
    labels = {s: statistics.median(runs[seed][s]["label_accuracy"] for seed in seeds) for s in strategies}
    l2s = {s: sorted({value for seed in seeds for value in runs[seed][s]["l2"]}) for s in strategies}
    served = {s: sum(runs[seed][s]["served_as"][UNCERTAINTY] for seed in seeds) / (len(seeds) * steps[-1])
              for s in others}
    lines.append("bought labels equal to the truth (median): "
                 + ", ".join(f"{s} {labels[s]:.3f}" for s in strategies)
                 + "; share of requests served by the model: " + ", ".join(f"{s} {served[s]:.3f}" for s in others)
                 + "; L2 chosen: " + ", ".join(f"{s} {l2s[s]}" for s in strategies))
    lines.append(f"ceiling (head on the truth of the whole queue): median "
                 f"{statistics.median(ceilings.values()):.3f} [{min(ceilings.values()):.3f}-"
                 f"{max(ceilings.values()):.3f}]")
    summary = {"median_accuracy": median, "target": target, "needed": need, "per_seed": per_seed,
               "label_accuracy": labels, "ceiling": ceilings, "served_by_model": served}
    return lines, summary


def main() -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rlhf.active import STRATEGIES
    from rlhf.config import RewardTrainingConfig
    from rlhf.data import data_sha256, preference_rows_load
    from rlhf.linear_head import EmbeddingCache, TextEncoder, default_cache_dir, pair_features
    from rlhf.quality.population import PopulationConfig, population_simulate

    args = parse_arguments()
    seeds = seeds_parse(args.seeds)
    candidates = [c for c in args.candidates.split(",") if c]
    unknown = sorted(set(candidates) - set(CANDIDATES))
    if unknown:
        raise SystemExit(f"--candidates: {', '.join(unknown)} unknown; choose from {', '.join(CANDIDATES)}")
    strategies = [*STRATEGIES, *candidates]
    started = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f}s] {message}", file=sys.stderr, flush=True)

    rows = preference_rows_load(args.data)
    features = RewardTrainingConfig.head_features
    encoder = TextEncoder(None, max_length=RewardTrainingConfig.encoder_max_length, device="cpu")
    cache = EmbeddingCache(Path(args.embedding_cache_dir) if args.embedding_cache_dir else default_cache_dir(),
                           encoder.encoder_id)
    say(f"embedding {len(rows)} pairs ({features}; {len(cache)} texts cached before)")
    chosen, rejected = pair_features(encoder, cache, rows, features)
    steps = list(range(args.retrain_every, args.budget + 1, args.retrain_every))
    say(f"embedded; {len(seeds)} seeds {seeds}, strategies {', '.join(strategies)}, retrain at {steps}")

    results: dict[str, Any] = {"command": "python benchmarks/bench_active_selection.py " + " ".join(sys.argv[1:]),
                               "data_sha256": data_sha256(args.data), "seeds": seeds, "steps": steps,
                               "settings": {key: value for key, value in vars(args).items() if key != "json"},
                               "head_features": features, "populations": {}}
    print(f"{len(rows)} comparisons, {args.heldout} held out, queue {len(rows) - args.heldout}, budget {args.budget}, "
          f"refit every {args.retrain_every}, k={args.overlap}, {args.annotators} annotators, random share "
          f"{args.random_share}, seeds {seeds}, truth {args.truth}, head {features}, L2 {args.l2 or 'cross-validated at every refit'}, "
          f"trained on {args.train_on} annotators' judgments, repeat {args.repeat or 'none (least-judged first)'}")
    # A seed's split and ceiling do not depend on the population: built once, shared by every population.
    splits = {seed: split_build(rows, chosen, rejected, seed=seed, heldout=args.heldout) for seed in seeds}
    if args.truth == "linear":
        truth_weights, _ = head_fit(chosen - rejected, [str(i) for i in range(len(rows))], l2=args.l2, seed=0)
        splits = {seed: linear_truth(split, truth_weights) for seed, split in splits.items()}
    ceilings = {seed: ceiling(split, l2=args.l2, seed=seed) for seed, split in splits.items()}
    for name in args.populations.split(","):
        mix, honest_accuracy = POPULATIONS[name]
        runs: dict[int, dict[str, dict]] = {}
        for seed, split in splits.items():
            accuracy = {"honest_accuracy": honest_accuracy} if honest_accuracy else {}
            population = population_simulate(split.truth, PopulationConfig(
                n_annotators=args.annotators, overlap=args.overlap, mix=mix, seed=seed, id_prefix="ann-", **accuracy))
            runs[seed] = {strategy: run_one(split, population, strategy, args, seed=seed) for strategy in strategies}
            say(f"{name} seed {seed}: " + "; ".join(
                f"{s} " + " ".join(f"{v:.3f}" for v in runs[seed][s]["accuracy"]) for s in strategies))
        lines, summary = population_summary(name, runs, ceilings, steps, strategies)
        print(f"\npopulation {name} ({mix}"
              + (f", honest accuracy {honest_accuracy[0]:g}-{honest_accuracy[1]:g}" if honest_accuracy else "")
              + f"), held-out accuracy against the {'recorded choice' if args.truth == 'recorded' else 'linear truth'}, "
              f"{len(seeds)} seeds")
        print("\n".join(lines), flush=True)
        results["populations"][name] = {"mix": mix, "honest_accuracy": honest_accuracy, "runs": runs, **summary}
    say("done")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
