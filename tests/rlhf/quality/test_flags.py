import dataclasses

import pytest

from rlhf.quality.dawid_skene import dawid_skene_fit
from rlhf.quality.flags import FLAG_CODES, FlagThresholds, annotator_flags
from rlhf.quality.judgments import judgment_table
from rlhf.quality.population import PopulationConfig, gold_sample, population_simulate
from rlhf.quality.signals import annotator_signals, wilson_interval
from tests.rlhf.quality.synthetic import balanced_truth, judgment

ABUSE_MIX = "honest=0.5,random=0.1,flip=0.1,left=0.1,constant=0.1,duplicate=0.1"


def test_each_abuse_pattern_is_flagged_with_high_precision_and_recall():
    # Per flag, over 3 populations of 50 (1,000 comparisons, k=3, 30% gold): an annotator must be flagged when
    # its kind calls for it (expected_flags), must not be when it does not; tolerated_flags count either way.
    outcome = {code: {"tp": 0, "fp": 0, "fn": 0} for code in FLAG_CODES}
    for seed in range(3):
        truth = balanced_truth(1000, seed=seed)
        population = population_simulate(truth, PopulationConfig(n_annotators=50, overlap=3, seed=seed,
                                                                  mix=ABUSE_MIX))
        gold = gold_sample(truth, fraction=0.3, seed=seed)
        signals = annotator_signals(population.judgments, gold)
        for annotator in population.annotators:
            raised = set(annotator_flags(signals[annotator.annotator_id]).codes)
            for code in FLAG_CODES:
                if code in raised and code in annotator.expected_flags:
                    outcome[code]["tp"] += 1
                elif code in raised and code not in annotator.tolerated_flags:
                    outcome[code]["fp"] += 1
                elif code not in raised and code in annotator.expected_flags:
                    outcome[code]["fn"] += 1
    for code, counts in outcome.items():
        assert counts["tp"] >= 10, (code, counts)      # enough cases for the rates to mean something
        precision = counts["tp"] / (counts["tp"] + counts["fp"])
        recall = counts["tp"] / (counts["tp"] + counts["fn"])
        assert precision >= 0.8 and recall >= 0.8, (code, counts)


def hand_made(annotator_choices, *, n=40, time_for=None, gold=None):
    """Annotators x, y, z judging the same n comparisons; order alternates a-left / b-left."""
    judgments = []
    for i in range(n):
        left = "a" if i % 2 else "b"
        for annotator, choose in annotator_choices.items():
            judgments.append(judgment(f"c{i}", annotator, choose(i, left), shown_left=left,
                                      time_spent_ms=(time_for or {}).get(annotator, 20_000)))
    table = judgment_table(judgments)
    return annotator_signals(table, gold, fit=dawid_skene_fit(table, gold))


def truth_of(i, left):
    return "a" if i % 3 else "b"


def test_reasons_carry_the_numbers():
    signals = hand_made({"x": truth_of, "y": truth_of, "left": lambda i, left: left,
                         "tie": lambda i, left: "tie"},
                        time_for={"left": 2_000, "tie": 18_000}, gold={f"c{i}": truth_of(i, "a") for i in range(40)})
    left = annotator_flags(signals["left"])
    assert set(left.codes) == {"too_fast", "position_bias"}
    reasons = {f.code: f.reason for f in left.flags}
    assert reasons["position_bias"].startswith("picked the left response in 100% of 40 judgments")
    assert "expected about" in reasons["position_bias"]
    assert reasons["too_fast"].startswith("median 2.0 s per judgment over 40 judgments, 0.11 times the Datanet's "
                                          "median of 19.0 s")
    tie = annotator_flags(signals["tie"])
    assert set(tie.codes) == {"straight_lining", "low_gold_accuracy"}
    tie_reasons = {f.code: f.reason for f in tie.flags}
    assert tie_reasons["straight_lining"].startswith("answered 'tie' in 100% of 40 judgments (others answered 'tie' "
                                                     "in about 0%")
    assert tie_reasons["low_gold_accuracy"] == ("matched 0 of 40 gold answers (0%; 99% interval 0% to 14%, flagged "
                                                "when all of it is below the required 60%)")
    assert annotator_flags(signals["x"]).flags == ()


def test_too_little_evidence_is_said_not_flagged():
    signals = hand_made({"x": truth_of, "left": lambda i, left: left}, n=12, time_for={"left": 1_000},
                        gold={"c0": "a"})
    outcome = annotator_flags(signals["left"])
    assert outcome.flags == ()
    assert {f.code: f.reason for f in outcome.not_checked} == {
        "too_fast": "only 12 judgments; speed is checked from 20",
        "position_bias": "only 12 judgments picked a side; position bias is checked from 20",
        "straight_lining": "only 12 judgments; straight-lining is checked from 20",
        "low_gold_accuracy": "only 1 gold judgments; gold accuracy is checked from 10",
    }
    lenient = FlagThresholds(min_judgments=10, min_gold_judgments=1)
    assert set(annotator_flags(signals["left"], lenient).codes) == {"too_fast", "position_bias"}


def test_position_bias_expectation_follows_content_when_order_is_not_random():
    # The better response is always shown on the left: an accurate annotator picks left a lot, and must not be
    # flagged for it; a left-picker there is indistinguishable from them and is not flagged either.
    judgments = []
    for i in range(60):
        for annotator in ("x", "y", "z"):
            right = "a" if i % 2 else "b"
            wrong = "b" if right == "a" else "a"
            choice = right if (i + ord(annotator)) % 10 else wrong
            judgments.append(judgment(f"c{i}", annotator, choice, shown_left=right))
    signals = annotator_signals(judgments)
    for annotator in ("x", "y", "z"):
        bias = signals[annotator].position
        assert bias.left_rate == pytest.approx(0.9)
        assert bias.expected_left_rate == pytest.approx(0.9, abs=0.1)     # not the 0.5 of a random order
        assert "position_bias" not in annotator_flags(signals[annotator]).codes


def test_thresholds_are_validated_and_documented():
    assert set(FlagThresholds.help()) == {f.name for f in dataclasses.fields(FlagThresholds)}
    assert all(len(text) > 20 for text in FlagThresholds.help().values())
    for bad in ({"min_judgments": 0}, {"min_judgments": True}, {"too_fast_ratio": 0}, {"too_fast_ratio": 1.5},
                {"position_bias_excess": 0.6}, {"max_p_value": 0.0}, {"min_gold_accuracy": "high"},
                {"gold_confidence": 1.0}):
        with pytest.raises(ValueError, match=f"FlagThresholds.{next(iter(bad))}"):
            FlagThresholds(**bad)


def test_wilson_interval_matches_known_values():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(1, 0)


def test_vectorised_binomial_p_values_equal_scipy_binomtest():
    from scipy.stats import binomtest

    from rlhf.quality.signals import binomial_p_values

    cases = [(0, 10, 0.5), (7, 20, 0.3), (50, 50, 0.5), (13, 40, 0.45), (3, 3, 0.999), (0, 1, 0.2)]
    successes, trials, rates = (list(column) for column in zip(*cases, strict=True))
    for alternative in ("two-sided", "greater"):
        ours = binomial_p_values(successes, trials, rates, alternative=alternative)
        theirs = [binomtest(x, n, p, alternative=alternative).pvalue for x, n, p in cases]
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-15)
