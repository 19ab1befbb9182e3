"""The attribution profile: per-judgment figures by kind and correctness, copies' credit, and the harness
writing the document the simulator reads."""

from __future__ import annotations

import json
import math

import pytest

from rlhf.attribution.profile import (
    PROFILE_SCHEMA,
    attribution_profile,
    attribution_profile_write,
    copy_figures,
    judgment_figures,
)
from rlhf.quality.judgments import Judgment
from rlhf.tiny import marker_preference_rows


def _judgments(spec):
    """(annotator, choice) pairs, one comparison each; the truth is always "a"."""
    return [Judgment(str(index), who, choice, 2, "a", 1000) for index, (who, choice) in enumerate(spec)]


def test_judgment_figures_normalise_by_honest_correct_and_pool_the_kinds():
    judgments = _judgments([("h1", "a"), ("h1", "a"), ("h2", "b"), ("h2", "tie"), ("f1", "b"), ("f1", "a")])
    truth = {str(index): "a" for index in range(len(judgments))}
    kinds = {"h1": "honest", "h2": "honest", "f1": "flip"}
    # Judgment ids are positions from 1; the tie exported no row, so it has no score (0).
    scores = {1: 2.0, 2: 4.0, 3: -3.0, 5: -6.0, 6: 3.0}
    figures = judgment_figures(scores, judgments, truth, kinds, {"h1": 0.9, "h2": 0.6, "f1": 0.2})
    assert figures["unit"] == 3.0
    honest = figures["judgments"]["honest"]
    assert honest["correct"]["mean"] == 1.0 and honest["correct"]["n"] == 2
    assert honest["wrong"]["mean"] == pytest.approx(-0.5) and honest["no_preference"] == 1
    assert figures["judgments"]["flip"]["wrong"]["mean"] == -2.0
    assert figures["pooled"]["correct"]["mean"] == 1.0 and figures["pooled"]["wrong"]["n"] == 3
    assert "by_accuracy" in figures


def test_a_method_whose_honest_correct_judgments_score_nothing_is_not_normalised():
    judgments = _judgments([("h1", "a"), ("h1", "b")])
    figures = judgment_figures({1: 0.0, 2: 0.0}, judgments, {"0": "a", "1": "a"}, {"h1": "honest"}, {"h1": 0.5})
    assert figures["unit"] == 0.0 and figures["judgments"] is None and figures["pooled"] is None


def test_copy_figures_compare_each_cluster_with_its_judgment_alone():
    alone = [2.0, -1.0, 0.5]
    figures = copy_figures([1, 2, 4], [alone, [2 * x for x in alone], [x for x in alone]])
    assert figures["cluster_credit"] == pytest.approx([1.0, 2.0, 1.0])
    assert figures["share_per_copy"] == pytest.approx([1.0, 1.0, 0.25]) and figures["sample"] == 3


@pytest.mark.slow
def test_the_harness_writes_a_profile_where_flipped_judgments_score_below_honest_ones(tmp_path,
                                                                                     embedding_cache_dir):
    from rlhf.attribution.validation import ValidationConfig, validation_run

    data = tmp_path / "marker.jsonl"   # the marker is the only signal, so the head learns it from few rows
    data.write_text("".join(json.dumps({"prompt": row.prompt, "chosen": row.chosen, "rejected": row.rejected}) + "\n"
                            for row in marker_preference_rows(70, seed=5)))
    config = ValidationConfig(data_path=str(data), comparisons=70, eval_comparisons=20, annotators=8, overlaps=(3,),
                              mix="honest=0.5,random=0.125,flip=0.25,duplicate=0.125", methods=("influence-exact",),
                              loo_contributors=3, lds_subsets=0, scaling_fractions=(), l2=1e-2,
                              encoder_max_length=64, embedding_cache_dir=str(embedding_cache_dir),
                              work_dir=str(tmp_path / "work"), profile_copies=(2,), profile_copy_sample=5)
    results = validation_run(config)
    path = attribution_profile_write(attribution_profile(results, data_sha256="0" * 64, versions={"numpy": "x"}),
                                     tmp_path / "profile.json")
    profile = json.loads(path.read_text())
    assert profile["schema"] == PROFILE_SCHEMA and profile["schema_version"] == 1
    assert profile["paid_method"] == "influence-exact" and profile["inputs"]["seed"] == 0
    assert profile["inputs"]["config"]["head_features"] == "conversation+reply"
    assert profile["heads"]["3"]["features"] == "conversation+reply"
    assert profile["heads"]["3"]["l2_choice"] == {"l2": 0.01, "rule": "given"}
    figures = profile["methods"]["influence-exact"]["overlaps"]["3"]
    assert figures["unit"] > 0 and figures["judgments"]["honest"]["correct"]["mean"] == 1.0

    def per_judgment(kind: str) -> float:
        both = figures["judgments"][kind]
        n = both["correct"]["n"] + both["wrong"]["n"]
        return sum(both[o]["mean"] * both[o]["n"] for o in ("correct", "wrong") if both[o]["n"]) / n

    assert per_judgment("flip") < per_judgment("honest")
    assert figures["copies"]["counts"] == [1, 2] and math.isfinite(figures["copies"]["cluster_credit"][1])
