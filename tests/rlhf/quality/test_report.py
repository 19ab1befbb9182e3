import json
import math

import pytest

from rlhf.quality.judgments import Judgment, JudgmentError, judgment_table
from rlhf.quality.population import PopulationConfig, gold_sample, population_simulate
from rlhf.quality.report import quality_report
from tests.rlhf.quality.synthetic import balanced_truth, judgment


def strict_json(report: dict) -> dict:
    """The report as the site would store it: no NaN or Infinity allowed anywhere."""
    return json.loads(json.dumps(report, allow_nan=False))


def walk_numbers(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from walk_numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_numbers(item)
    elif isinstance(value, float):
        yield value


EDGE_CASES = {
    "no judgments": ([], None),
    "one annotator": ([judgment(f"c{i}", "solo", "a" if i % 3 else "b") for i in range(30)], None),
    "no overlap": ([judgment(f"c{i}", f"u{i % 3}", "a" if i % 2 else "b") for i in range(30)], None),
    "all ties": ([judgment(f"c{i}", f"u{k}", "tie") for i in range(25) for k in range(3)], None),
    "all both_bad": ([judgment(f"c{i}", f"u{k}", "both_bad") for i in range(25) for k in range(3)], None),
    "no recorded times": ([judgment(f"c{i}", f"u{k}", "a" if (i + k) % 3 else "b", time_spent_ms=0)
                           for i in range(25) for k in range(3)], None),
    "gold for other comparisons": ([judgment(f"c{i}", f"u{k}", "a") for i in range(5) for k in range(2)],
                                   {"elsewhere": "a"}),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_degenerate_inputs_give_reasons_not_crashes_or_nan(case):
    judgments, gold = EDGE_CASES[case]
    report = strict_json(quality_report(judgments, gold, seed=0, include_comparisons=True))
    assert all(math.isfinite(x) for x in walk_numbers(report))
    assert not any("not a finite number" in note for note in report["notes"])
    alpha = report["alpha"]
    assert (alpha["value"] is None) == isinstance(alpha["reason"], str)
    assert (alpha["ci95"] is None) == isinstance(alpha["ci_reason"], str)
    if case != "no recorded times":
        assert alpha["value"] is None
    for annotator in report["annotators"]:
        for entry in ("reliability", "gold_accuracy", "agreement"):
            assert (annotator[entry]["value"] is None) == isinstance(annotator[entry]["reason"], str)
        assert any(c["code"] == "low_gold_accuracy" for c in annotator["not_checked"])


def test_each_degenerate_case_says_what_is_wrong():
    def reasons(case):
        judgments, gold = EDGE_CASES[case]
        report = quality_report(judgments, gold, seed=0)
        return report["alpha"]["reason"], report["notes"], report["annotators"]

    alpha_reason, notes, annotators = reasons("no judgments")
    assert alpha_reason == "there are no judgments" and annotators == []
    alpha_reason, notes, annotators = reasons("one annotator")
    assert "only one annotator ('solo')" in alpha_reason and any("only one annotator" in n for n in notes)
    assert "cannot be estimated" in annotators[0]["reliability"]["reason"]
    alpha_reason, notes, annotators = reasons("no overlap")
    assert "no overlap between annotators" in alpha_reason
    assert all(a["agreement"]["value"] is None for a in annotators)
    assert "also judged by someone else" in quality_report(EDGE_CASES["no overlap"][0], seed=0)[
        "observed_agreement"]["reason"]
    alpha_reason, notes, annotators = reasons("all ties")
    assert "every judgment counted is 'tie'" in alpha_reason
    assert all("all tie or both_bad" in a["position_bias"]["reason"] for a in annotators)
    assert all(a["agreement"]["value"] == 1.0 for a in annotators)
    alpha_reason, _, _ = reasons("all both_bad")
    assert "all were left out" in alpha_reason
    _, _, annotators = reasons("no recorded times")
    assert all(a["speed"]["ratio"] is None and "0 ms" in a["speed"]["reason"] for a in annotators)
    assert all(any(c["code"] == "too_fast" for c in a["not_checked"]) for a in annotators)
    _, notes, _ = reasons("gold for other comparisons")
    assert any("none of them is for a comparison in these judgments" in n for n in notes)


def test_report_of_a_simulated_datanet_finds_the_abusers():
    truth = balanced_truth(600, seed=4)
    population = population_simulate(truth, PopulationConfig(
        n_annotators=30, overlap=3, seed=4, mix="honest=0.7,random=0.1,flip=0.1,left=0.1"))
    gold = gold_sample(truth, fraction=0.4, seed=4)
    records = [j.as_record() for j in population.judgments]
    report = strict_json(quality_report(records, gold, seed=1, n_resamples=200, include_comparisons=True))
    assert report == strict_json(quality_report(records, gold, seed=1, n_resamples=200, include_comparisons=True))
    assert report["counts"] == {"judgments": 1800, "comparisons": 600, "annotators": 30,
                                "comparisons_with_overlap": 600, "gold_comparisons_judged": 240,
                                "revisions_replaced": 0}
    low, high = report["alpha"]["ci95"]
    assert low < report["alpha"]["value"] < high
    by_id = {a["annotator_id"]: a for a in report["annotators"]}
    for annotator in population.annotators:
        entry = by_id[annotator.annotator_id]
        raised = {f["code"] for f in entry["flags"]}
        assert set(annotator.expected_flags) <= raised <= set(annotator.expected_flags) | set(
            annotator.tolerated_flags), (annotator, entry["flags"])
        if annotator.kind == "honest":
            assert entry["reliability"]["value"] > 0.6
    assert report["flag_counts"]["position_bias"] == 3
    pairs = report["pairwise_agreement"]
    # 3 pairs per comparison, less those with a both_bad judgment (left out under the default coding).
    assert 1700 < report["observed_agreement"]["pairings"] == sum(p["shared_comparisons"] for p in pairs) < 1800
    assert report["observed_agreement"]["agreements"] == sum(p["agreements"] for p in pairs)
    assert len(report["comparisons"]) == 600
    ds_right = sum(c["label"] == truth[c["comparison_id"]] for c in report["comparisons"])
    majority_right = sum(c["majority"] == truth[c["comparison_id"]] for c in report["comparisons"])
    assert ds_right > majority_right
    assert all(c["label"] == c["gold"] for c in report["comparisons"] if c["gold"])


def test_later_revision_replaces_earlier_judgment():
    judgments = [judgment("c1", "x", "a"), judgment("c1", "y", "b"), judgment("c1", "x", "b")]
    table = judgment_table(judgments)
    assert table.size == 2 and table.revisions_replaced == 1
    report = quality_report(judgments, seed=0)
    assert report["pairwise_agreement"] == [{"annotator_a": "x", "annotator_b": "y", "shared_comparisons": 1,
                                             "agreements": 1, "agreement_rate": 1.0}]
    assert report["observed_agreement"] == {"value": 1.0, "pairings": 1, "agreements": 1, "reason": None}
    assert any("1 earlier judgments were replaced" in note for note in report["notes"])


def test_bad_input_names_the_position_ids_and_field():
    good = judgment("c1", "x", "a")
    for field, value, message in [
        ("choice", "left", "field 'choice': is 'left'; expected one of 'a', 'b', 'tie', 'both_bad'"),
        ("strength", 5, "field 'strength': is 5"),
        ("shown_left", "c", "field 'shown_left'"),
        ("time_spent_ms", -3, "field 'time_spent_ms': must be a non-negative integer"),
        ("time_spent_ms", 1.5, "field 'time_spent_ms'"),
        ("annotator_id", None, "field 'annotator_id': must be a string or an integer"),
        ("comparison_id", " ", "field 'comparison_id': must not be empty"),
    ]:
        with pytest.raises(JudgmentError, match=f"judgment 1 .*{message}"):
            quality_report([good, {**good, field: value}], seed=0)
    with pytest.raises(JudgmentError, match="judgment 0 .*field 'strength': is missing"):
        judgment_table([{k: v for k, v in good.items() if k != "strength"}])
    with pytest.raises(ValueError, match="gold answer for comparison 'c1' is 'x'"):
        quality_report([good], {"c1": "x"}, seed=0)
    assert judgment_table([Judgment(**good), {**good, "comparison_id": 7}]).comparison_ids == ("7", "c1")


def test_package_exports_resolve_lazily_to_the_documented_objects():
    import inspect
    import subprocess
    import sys

    import rlhf.quality as quality

    for name in quality.__all__:
        assert not inspect.ismodule(getattr(quality, name)), name
    # Importing the package loads neither numpy nor scipy: the site imports it on every request path.
    loaded = subprocess.run([sys.executable, "-c", "import sys, rlhf.quality; print('numpy' in sys.modules, "
                             "'scipy' in sys.modules)"], capture_output=True, text=True, check=True).stdout
    assert loaded.split() == ["False", "False"]
