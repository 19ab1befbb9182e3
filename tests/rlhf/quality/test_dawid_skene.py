import numpy as np
import pytest
from scipy.stats import spearmanr

from rlhf.quality.dawid_skene import DawidSkeneConfig, dawid_skene_estimate, majority_vote
from rlhf.quality.population import PopulationConfig, population_simulate
from tests.rlhf.quality.synthetic import balanced_truth, judgment

# 3,000 comparisons x k=3 over 50 annotators is 180 judgments each: enough that the estimate's noise (about
# 0.03) is well below the spread of true accuracies. At 1,000 comparisons (60 each) the rank correlation is
# about 0.89 on average and dips below 0.8 for some seeds (see benchmarks/bench_quality.py).
N_COMPARISONS = 3000


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimated_reliability_ranks_annotators_like_their_true_accuracy(seed):
    truth = balanced_truth(N_COMPARISONS, seed=seed)
    population = population_simulate(truth, PopulationConfig(
        n_annotators=50, overlap=3, seed=seed, mix="honest=0.7,random=0.1,flip=0.1,left=0.1"))
    result = dawid_skene_estimate(population.judgments)
    assert result.converged
    estimated = [result.annotators[a.annotator_id].reliability for a in population.annotators]
    true = [a.accuracy for a in population.annotators]
    assert spearmanr(true, estimated).statistic >= 0.9
    # Not just the order: the values are close to the truth too.
    assert np.abs(np.array(estimated) - np.array(true)).mean() < 0.06


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reliability_weighted_labels_beat_majority_vote_when_a_third_are_unreliable(seed):
    truth = balanced_truth(1000, seed=seed)
    population = population_simulate(truth, PopulationConfig(
        n_annotators=30, overlap=3, seed=seed, mix="honest=0.67,random=0.11,flip=0.11,left=0.11"))
    ds = dawid_skene_estimate(population.judgments)
    mv = majority_vote(population.judgments, seed=seed)
    ds_accuracy = np.mean([ds.comparisons[c].label == answer for c, answer in truth.items()])
    mv_accuracy = np.mean([mv[c].label == answer for c, answer in truth.items()])
    assert ds_accuracy > mv_accuracy + 0.03


def test_gold_is_clamped_and_identifies_an_annotator_without_overlap():
    judgments = [judgment(f"c{i}", "solo", "a" if i % 4 else "b") for i in range(40)]
    gold = {f"c{i}": "a" for i in range(20)}
    result = dawid_skene_estimate(judgments, gold)
    assert all(result.comparisons[c].posterior["a"] == 1.0 and result.comparisons[c].gold == "a" for c in gold)
    solo = result.annotators["solo"]
    assert solo.informative_judgments == 20
    assert solo.reliability == pytest.approx(0.75, abs=0.08)   # 15 of 20 gold right
    without_gold = dawid_skene_estimate(judgments)
    assert without_gold.annotators["solo"].reliability is None
    assert "cannot be estimated" in without_gold.annotators["solo"].reason


def test_flipper_is_recognised_rather_than_trusted():
    # Three honest annotators and one who always answers the opposite: EM must not average them.
    truth = balanced_truth(300, seed=7)
    rng = np.random.default_rng(0)
    judgments = []
    for c, answer in truth.items():
        other = "b" if answer == "a" else "a"
        for annotator in ("h1", "h2", "h3"):
            judgments.append(judgment(c, annotator, answer if rng.random() < 0.8 else other))
        judgments.append(judgment(c, "flipper", other))
    result = dawid_skene_estimate(judgments)
    assert result.annotators["flipper"].reliability < 0.1
    assert result.annotators["flipper"].confusion["a"]["b"] > 0.9
    assert np.mean([result.comparisons[c].label == a for c, a in truth.items()]) > 0.97


def test_deterministic_and_configurable():
    truth = balanced_truth(200, seed=3)
    judgments = population_simulate(truth, PopulationConfig(n_annotators=10, overlap=3, seed=3)).judgments
    assert dawid_skene_estimate(judgments) == dawid_skene_estimate(judgments)
    capped = dawid_skene_estimate(judgments, config=DawidSkeneConfig(max_iterations=1))
    assert capped.iterations == 1 and not capped.converged
    for bad in ({"max_iterations": 0}, {"tolerance": 0.0}, {"pseudo_count": -1.0}):
        with pytest.raises(ValueError):
            DawidSkeneConfig(**bad)
    with pytest.raises(ValueError, match="gold answer for comparison 'cmp-00000' is 'both_bad'"):
        dawid_skene_estimate(judgments, {"cmp-00000": "both_bad"})


def test_majority_vote_breaks_ties_at_random_by_seed_and_reports_them():
    judgments = [judgment(f"c{i}", u, choice) for i in range(40) for u, choice in (("x", "a"), ("y", "b"))]
    judgments += [judgment("clear", "x", "tie"), judgment("clear", "y", "tie"), judgment("clear", "z", "a")]
    first = majority_vote(judgments, seed=1)
    assert first["clear"].label == "tie" and not first["clear"].tied
    assert first["clear"].votes == {"a": 1, "b": 0, "tie": 2}
    assert all(first[f"c{i}"].tied for i in range(40))
    labels = [first[f"c{i}"].label for i in range(40)]
    assert set(labels) == {"a", "b"}
    assert labels == [majority_vote(judgments, seed=1)[f"c{i}"].label for i in range(40)]
    assert labels != [majority_vote(judgments, seed=2)[f"c{i}"].label for i in range(40)]
