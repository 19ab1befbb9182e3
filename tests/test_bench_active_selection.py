"""The active-selection benchmark's loop (benchmarks/bench_active_selection.py) on a few synthetic comparisons:
both strategies see one stream of requests, so their runs differ by the selection alone, and after each refit
`uncertainty` serves the comparison the refitted head is least sure of."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from rlhf.active import RANDOM, UNCERTAINTY, pair_uncertainty
from rlhf.quality.population import PopulationConfig, population_simulate

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_active_selection.py"
COMPARISONS, DIMENSION, HELDOUT = 60, 5, 200


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_active_selection", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture(scope="module")
def split(bench):
    """Comparisons whose truth is a linear preference of their features, as the head can represent it."""
    rng = np.random.default_rng(7)
    true_weights = rng.normal(size=DIMENSION)
    features_a, features_b = rng.normal(size=(2, COMPARISONS, DIMENSION))
    ids = [str(i) for i in range(COMPARISONS)]
    a_wins = (features_a - features_b) @ true_weights > 0
    heldout = rng.normal(size=(HELDOUT, DIMENSION))
    return bench.Split(ids=ids, truth={c: "a" if won else "b" for c, won in zip(ids, a_wins, strict=True)},
                       features_a=features_a, features_b=features_b, keys=rng.random(COMPARISONS),
                       heldout_differences=heldout * np.sign(heldout @ true_weights)[:, None])


def settings(random_share: float, **changed) -> SimpleNamespace:
    return SimpleNamespace(**{"budget": 40, "retrain_every": 10, "overlap": 1, "random_share": random_share, "l2": 0.1,
                              "train_on": "all", "repeat": 0, **changed})


def population(split, accuracy: tuple[float, float]):
    return population_simulate(split.truth, PopulationConfig(n_annotators=8, overlap=1, mix="honest=1", seed=3,
                                                             id_prefix="ann-", honest_accuracy=accuracy))


def test_uncertainty_with_an_all_random_share_is_the_random_run(bench, split):
    people = population(split, (0.6, 0.9))
    random_run = bench.run_one(split, people, RANDOM, settings(0.2), seed=5)
    all_random = bench.run_one(split, people, UNCERTAINTY, settings(1.0), seed=5)
    assert all_random["picked"] == random_run["picked"]
    assert all_random["accuracy"] == random_run["accuracy"]
    assert all_random["label_accuracy"] == random_run["label_accuracy"]


def test_each_comparison_is_bought_once_and_uncertainty_serves_the_refitted_heads_least_sure(bench, split):
    people = population(split, (1.0, 1.0))   # every label is the truth, so the rows bought are known here
    args = settings(0.0)
    random_run = bench.run_one(split, people, RANDOM, args, seed=5)
    active = bench.run_one(split, people, UNCERTAINTY, args, seed=5)
    for run in (random_run, active):
        assert len(set(run["picked"])) == args.budget          # k = 1: nothing is bought twice
        assert len(run["accuracy"]) == args.budget // args.retrain_every
    # Before the first fit nothing is scored: both strategies serve the same content-fixed order.
    assert active["picked"][:args.retrain_every] == random_run["picked"][:args.retrain_every]
    signs = np.array([1.0 if split.truth[c] == "a" else -1.0 for c in split.ids])
    differences = signs[:, None] * (split.features_a - split.features_b)
    for bought in range(args.retrain_every, args.budget, args.retrain_every):
        rows = active["picked"][:bought]
        weights, _ = bench.head_fit(differences[rows], [split.ids[i] for i in rows], l2=args.l2, seed=5)
        uncertainty = pair_uncertainty((split.features_a - split.features_b) @ weights)
        uncertainty[rows] = -np.inf
        assert active["picked"][bought] == int(np.argmax(uncertainty))


@pytest.mark.parametrize("candidate", ["variance", "information"])
def test_a_candidate_serves_the_pair_its_posterior_measure_ranks_first(bench, split, candidate):
    from rlhf.linear_head import bradley_terry_hessian

    people = population(split, (1.0, 1.0))
    args = settings(0.0)
    run = bench.run_one(split, people, candidate, args, seed=5)
    assert run["served_as"] == {RANDOM: 0, UNCERTAINTY: args.budget} and len(set(run["picked"])) == args.budget
    signs = np.array([1.0 if split.truth[c] == "a" else -1.0 for c in split.ids])
    differences = signs[:, None] * (split.features_a - split.features_b)
    queue = split.features_a - split.features_b
    for bought in range(args.retrain_every, args.budget, args.retrain_every):
        rows = run["picked"][:bought]
        weights, _ = bench.head_fit(differences[rows], [split.ids[i] for i in rows], l2=args.l2, seed=5)
        covariance = np.linalg.inv(bought * bradley_terry_hessian(weights, differences[rows], l2=args.l2))
        variance = np.array([d @ covariance @ d for d in queue])
        p = 1.0 / (1.0 + np.exp(-(queue @ weights)))
        measure = variance if candidate == "variance" else np.log1p(p * (1.0 - p) * variance)
        measure[rows] = -np.inf
        assert run["picked"][bought] == int(np.argmax(measure))
    with pytest.raises(ValueError, match="no selection measure"):
        bench.selection_scores("entropy", queue, weights, differences[rows], args.l2)


def test_linear_truth_is_the_side_the_weights_prefer_on_the_queue_and_the_held_out_set(bench, split):
    rng = np.random.default_rng(11)
    weights = rng.normal(size=DIMENSION)
    relabelled = bench.linear_truth(split, weights)
    margins = (split.features_a - split.features_b) @ weights
    assert relabelled.truth == {c: "a" if m > 0 else "b" for c, m in zip(split.ids, margins, strict=True)}
    assert relabelled.truth != split.truth   # another direction than the fixture's truth: some answers change
    assert (relabelled.heldout_differences @ weights > 0).all()
    # Each held-out row is the same pair, turned or not: the same differences up to sign.
    np.testing.assert_allclose(np.abs(relabelled.heldout_differences), np.abs(split.heldout_differences))
    # The head fitted on the relabelled truth scores that truth, not the old one.
    assert bench.ceiling(relabelled, l2=0.1, seed=0) > 0.9


def test_train_on_honest_refits_only_on_the_honest_annotators_judgments(bench, split):
    people = population_simulate(split.truth, PopulationConfig(n_annotators=8, overlap=1, mix="honest=0.5,flip=0.5",
                                                               seed=3, id_prefix="ann-"))
    everyone = bench.run_one(split, people, RANDOM, settings(0.2), seed=5)
    honest_only = bench.run_one(split, people, RANDOM, settings(0.2, train_on="honest"), seed=5)
    assert honest_only["picked"] == everyone["picked"]            # the same judgments are bought
    kinds = {a.annotator_id: a.kind for a in people.annotators}
    assert {"honest", "flip"} <= set(kinds.values())
    # A flipper always answers against the truth and an honest one never says tie here, so every row left is
    # an honest judgment, and the head fitted on them scores far above the one the flippers pull the other way.
    assert 0 < honest_only["rows"] < everyone["rows"] == len(everyone["picked"])
    assert honest_only["accuracy"][-1] > everyone["accuracy"][-1]


def test_repeat_asks_the_least_sure_comparisons_again_of_other_people(bench, split):
    people = population(split, (0.6, 0.9))
    args = settings(0.0, repeat=3)
    once = bench.run_one(split, people, UNCERTAINTY, settings(0.0), seed=5)
    repeated = bench.run_one(split, people, UNCERTAINTY, args, seed=5)
    # Before the first fit nothing is scored, so the first requests are served least-judged first either way.
    assert repeated["picked"][:args.retrain_every] == once["picked"][:args.retrain_every]
    counts = np.bincount(repeated["picked"], minlength=COMPARISONS)
    assert counts.max() <= args.repeat and (counts > 1).any()        # re-asked, never beyond --repeat
    assert len(set(once["picked"])) == args.budget                    # without it, each is bought once
