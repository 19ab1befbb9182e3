"""The validation harness at small settings, on 80 real HH-RLHF comparisons: it runs every method, and the
figures that must hold at any size do."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rlhf.attribution.detection_study import representable_truth
from rlhf.attribution.validation import (
    ALL_METHODS,
    ValidationConfig,
    comparisons_with_truth,
    each_export_rows,
    validation_run,
    validation_table,
)
from rlhf.data import PreferenceRow
from rlhf.quality.judgments import Judgment

HH_SLICE = Path(__file__).parent / "data" / "hh_rlhf_harmless_80.jsonl"


def test_each_export_turns_a_and_b_judgments_into_rows_and_skips_the_rest():
    rows = [PreferenceRow("r0", "p", "good", "bad"), PreferenceRow("r1", "q", "same", "same")]
    comparisons, truth = comparisons_with_truth(rows, seed=0)
    assert len(comparisons) == 1   # equal replies cannot carry a preference
    comparison = comparisons[0]
    right = truth[comparison.comparison_id]
    judgments = [Judgment(comparison.comparison_id, "ann", right, 2, "a", 10),
                 Judgment(comparison.comparison_id, "bob", "tie", 1, "a", 10),
                 Judgment(comparison.comparison_id, "cat", "b" if right == "a" else "a", 3, "b", 10)]
    exported = each_export_rows(comparisons, judgments)
    assert [(row.row_id, row.chosen, row.contributor_ids) for row in exported] == [
        ("j-1", "good", ("ann",)), ("j-3", "bad", ("cat",))]


@pytest.mark.slow
def test_small_validation_run_measures_every_method(tmp_path, embedding_cache_dir):
    config = ValidationConfig(data_path=str(HH_SLICE), comparisons=80, eval_comparisons=24, annotators=10,
                              loo_contributors=8, lds_subsets=8, scaling_fractions=(0.5, 1.0), l2=1e-2,
                              embedding_cache_dir=str(embedding_cache_dir), work_dir=str(tmp_path),
                              encoder_max_length=128, study_seeds=2, study_overlaps=(1, 3),
                              study_control_noise=(0.0,))
    results = validation_run(config)
    table = validation_table(results)
    assert all(method in table for method in ALL_METHODS)
    for k in ("3", "1"):
        figures = results["overlaps"][k]["methods"]
        # Exact influence is first-order leave-one-out, so it must rank the refits' loss changes.
        assert figures["influence-exact"]["loo_spearman_raw"] > 0.8
        assert figures["influence-exact"]["lds"] > 0.5
        for method in ALL_METHODS:
            assert math.isfinite(figures[method]["seconds"]) and figures[method]["epoch_multiple"] > 0
    for method in ("agreement", "reliability"):   # without overlap the baselines know nothing
        assert results["overlaps"]["1"]["methods"][method]["detection_auc"] == 0.5
    assert set(results["overlaps"]["3"]["scaling"]["exponent"]) == set(ALL_METHODS)
    study = results["detection_study"]
    assert set(study) == {"1", "3"} and study["3"]["seeds"] == [0, 1]
    assert study["3"]["judgments_per_contributor"] > 2 * study["1"]["judgments_per_contributor"]
    assert all(0 <= value <= 1 for k in study for value in study[k]["influence_auc"]["values"])
    assert "detection study k=3" in table
    control = results["detection_study_control"]["0"]
    assert set(control) == {"1", "3"} and control["3"]["seeds"] == [0, 1]
    # under a truth the head can represent it predicts the held-out labels better than the real ones, even
    # from 56 comparisons (with 800 it reaches about 0.93)
    assert control["3"]["heldout_accuracy"]["mean"] > study["3"]["heldout_accuracy"]["mean"] + 0.1
    assert "control (a truth the head can represent, label noise 0) k=3" in table


def _noisy_learnable(pool_size=400, held_out=100, dimension=8, noise=0.3, seed=0):
    """Pool features whose real truth is a linear preference with a share `noise` of labels flipped."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dimension)
    features = {f"c{i}": (rng.normal(size=dimension), rng.normal(size=dimension)) for i in range(pool_size)}
    truth = {cid: "a" if ((a - b) @ direction > 0) != (rng.random() < noise) else "b"
             for cid, (a, b) in features.items()}
    held = rng.normal(size=(held_out, dimension))
    held = np.where(((held @ direction > 0) != (rng.random(held_out) < noise))[:, None], held, -held)
    return features, held, truth, direction


def test_representable_truth_is_what_a_head_learns_from_the_true_labels_with_the_asked_noise():
    features, held, truth, direction = _noisy_learnable()

    def agrees_with_direction(labels):
        return np.mean([(labels[cid] == "a") == ((a - b) @ direction > 0) for cid, (a, b) in features.items()])

    assert 0.6 < agrees_with_direction(truth) < 0.8
    clean, clean_eval = representable_truth(features, held, truth, noise=0.0, seed=0)
    assert agrees_with_direction(clean) > 0.9          # the head recovered the preference under the noise
    assert np.mean(clean_eval @ direction > 0) > 0.9   # held-out differences are re-oriented the same way
    noisy, noisy_eval = representable_truth(features, held, truth, noise=0.3, seed=0)
    assert 0.2 < np.mean([noisy[cid] != clean[cid] for cid in features]) < 0.4
    assert noisy == representable_truth(features, held, truth, noise=0.3, seed=0)[0]   # seeded
    assert noisy != representable_truth(features, held, truth, noise=0.3, seed=1)[0]
    assert np.array_equal(np.abs(noisy_eval), np.abs(held))   # only orientations change


def test_representable_truth_refuses_what_it_cannot_make():
    features, held, truth, _ = _noisy_learnable(pool_size=40, held_out=10)
    with pytest.raises(ValueError, match="noise must be in"):
        representable_truth(features, held, truth, noise=0.5, seed=0)
    with pytest.raises(ValueError, match="truth lacks 1 pool comparisons"):
        representable_truth(features, held, {cid: side for cid, side in truth.items() if cid != "c7"},
                            noise=0.1, seed=0)
    with pytest.raises(ValueError, match="study_control_noise must be in"):
        ValidationConfig(study_control_noise=(0.6,))
    with pytest.raises(ValueError, match="needs study_seeds > 0"):
        ValidationConfig(study_control_noise=(0.2,), study_seeds=0)
