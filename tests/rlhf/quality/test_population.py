from collections import Counter

import numpy as np
import pytest

from rlhf.quality.judgments import judgment_table
from rlhf.quality.population import (
    KINDS,
    PopulationConfig,
    assignment_plan,
    gold_sample,
    kind_counts,
    parse_mix,
    population_simulate,
)
from tests.rlhf.quality.synthetic import balanced_truth


def test_plan_gives_each_comparison_exactly_k_distinct_annotators_with_even_loads():
    comparisons = [f"c{i}" for i in range(301)]
    annotators = [f"u{i}" for i in range(20)]
    plan = assignment_plan(comparisons, annotators, overlap=3, seed=5)
    assert [c for c, _ in plan] == comparisons
    assert all(len(group) == 3 and len(set(group)) == 3 for _, group in plan)
    loads = Counter(a for _, group in plan for a in group)
    assert set(loads) == set(annotators)
    assert max(loads.values()) - min(loads.values()) <= 1
    # Who meets whom varies: far more distinct pairs than a fixed rotation (20) would give.
    pairs = {frozenset(p) for _, group in plan for p in [(group[0], group[1]), (group[0], group[2])]}
    assert len(pairs) > 100


def test_plan_and_population_are_deterministic_by_seed():
    truth = balanced_truth(200, seed=1)
    config = PopulationConfig(n_annotators=15, overlap=3, seed=11,
                              mix="honest=0.4,random=0.2,flip=0.1,left=0.1,constant=0.1,duplicate=0.1")
    first, again = population_simulate(truth, config), population_simulate(truth, config)
    assert first == again
    other = population_simulate(truth, PopulationConfig(n_annotators=15, overlap=3, seed=12, mix=config.mix))
    assert first.plan != other.plan and first.judgments != other.judgments
    assert [(j.comparison_id, j.annotator_id) for j in first.judgments] == \
        [(c, a) for c, group in first.plan for a in group]


def test_plan_rejects_impossible_overlap():
    with pytest.raises(ValueError, match="overlap must be between 1 and the number of annotators"):
        assignment_plan(["c1"], ["u1", "u2"], overlap=3, seed=0)
    with pytest.raises(ValueError, match="overlap must be between 1 and n_annotators"):
        PopulationConfig(n_annotators=2, overlap=3)


def test_parse_mix_accepts_strings_and_mappings_and_explains_errors():
    assert parse_mix("honest=0.7, random=0.1,flip=0.1,left=0.1") == \
        {"honest": 0.7, "random": 0.1, "flip": 0.1, "left": 0.1}
    assert parse_mix({"honest": 1}) == {"honest": 1.0}
    for text, message in [
        ("honest=0.7,random=0.2", "add up to 1, they add up to 0.9"),
        ("honest=0.7,robot=0.3", "unknown annotator kind 'robot'"),
        ("honest=0.7,random", "entry 2 'random': expected kind=share"),
        ("honest=0.7,random=lots", "share 'lots' is not a number"),
        ("honest=0.5,honest=0.5", "kind 'honest' appears twice"),
        ("duplicate=1", "needs another kind"),
        ("honest=1.2,random=-0.2", "non-negative"),
        ("", "non-empty"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_mix(text)


def test_kind_counts_are_exact_by_largest_remainder():
    assert kind_counts({"honest": 0.7, "random": 0.1, "flip": 0.1, "left": 0.1}, 50) == \
        {"honest": 35, "random": 5, "flip": 5, "left": 5}
    counts = kind_counts({"honest": 0.5, "random": 0.25, "left": 0.25}, 7)
    assert counts == {"honest": 3, "random": 2, "left": 2}     # remainders 0.5, 0.75, 0.75


def test_each_kind_behaves_as_described():
    truth = balanced_truth(3000, seed=2)
    population = population_simulate(truth, PopulationConfig(
        n_annotators=12, overlap=2, seed=3, mix={kind: 1 / 6 for kind in KINDS}))
    by_annotator: dict[str, list] = {}
    for j in population.judgments:
        by_annotator.setdefault(j.annotator_id, []).append(j)
    assert Counter(a.kind for a in population.annotators) == dict.fromkeys(KINDS, 2)
    for annotator in population.annotators:
        judgments = by_annotator[annotator.annotator_id]
        accuracy = np.mean([j.choice == truth[j.comparison_id] for j in judgments])
        assert accuracy == pytest.approx(annotator.accuracy, abs=0.06), annotator
        median_ms = np.median([j.time_spent_ms for j in judgments])
        assert median_ms == pytest.approx(annotator.median_time_ms, rel=0.15)
        left_share = np.mean([j.choice == j.shown_left for j in judgments])
        if annotator.kind == "left":
            assert left_share == 1.0 and "position_bias" in annotator.expected_flags
        elif annotator.kind == "constant":
            assert {j.choice for j in judgments} == {annotator.constant_choice}
        else:
            assert 0.4 < np.mean([j.shown_left == "a" for j in judgments]) < 0.6
        if annotator.kind in ("random", "left", "constant"):
            assert annotator.median_time_ms < 4_000 and "too_fast" in annotator.expected_flags
        if annotator.kind == "flip":
            assert 0.1 <= annotator.accuracy <= 0.2 and "low_gold_accuracy" in annotator.expected_flags
        if annotator.kind == "honest":
            assert 0.65 <= annotator.accuracy <= 0.95 and annotator.expected_flags == ()


def test_duplicates_copy_their_source_answer_for_answer():
    truth = balanced_truth(400, seed=4)
    population = population_simulate(truth, PopulationConfig(n_annotators=4, overlap=4, seed=1,
                                                              mix="honest=0.5,duplicate=0.5"))
    answers = {(j.annotator_id, j.comparison_id): (j.choice, j.strength, j.time_spent_ms)
               for j in population.judgments}
    for copy in (a for a in population.annotators if a.kind == "duplicate"):
        source = population.annotator(copy.copies)
        assert source.kind == "honest" and copy.accuracy == source.accuracy
        assert all(answers[(copy.annotator_id, c)] == answers[(source.annotator_id, c)] for c in truth)
        own_sides = [j.shown_left for j in population.judgments if j.annotator_id == copy.annotator_id]
        source_sides = [j.shown_left for j in population.judgments if j.annotator_id == source.annotator_id]
        assert own_sides != source_sides


def test_judgments_are_valid_and_gold_sample_is_seeded():
    truth = balanced_truth(100, seed=5, tie_share=0.2)
    population = population_simulate(truth, PopulationConfig(n_annotators=10, overlap=3, seed=0))
    table = judgment_table(population.judgments)
    assert table.size == 300 and table.revisions_replaced == 0
    gold = gold_sample(truth, fraction=0.3, seed=1)
    assert len(gold) == 30 and all(truth[c] == answer for c, answer in gold.items())
    assert gold == gold_sample(truth, fraction=0.3, seed=1) != gold_sample(truth, fraction=0.3, seed=2)
    with pytest.raises(ValueError, match="truth for comparison 'x' is 'maybe'"):
        population_simulate({"x": "maybe"})


def test_answers_on_served_comparisons_match_the_simulated_ones():
    from rlhf.quality.population import PopulationConfig, population_answers, population_simulate

    truth = {f"c{i}": "ab"[i % 2] for i in range(60)}
    population = population_simulate(truth, PopulationConfig(n_annotators=8, overlap=2, seed=3,
                                                             mix="honest=0.5,left=0.25,duplicate=0.25"))
    served = [(j.comparison_id, j.annotator_id, j.shown_left) for j in population.judgments]
    assert population_answers(population, truth, served) == population.judgments
    # the other side shown: a left-picker follows the screen
    left_picker = next(a.annotator_id for a in population.annotators if a.kind == "left")
    flipped = population_answers(population, truth, [("c0", left_picker, "a"), ("c0", left_picker, "b")])
    assert [j.choice for j in flipped] == ["a", "b"]
