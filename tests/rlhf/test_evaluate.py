"""Evaluation arithmetic and the choice of rows to evaluate."""

from __future__ import annotations

import math

import pytest

from rlhf.data import rows_write_jsonl
from rlhf.evaluate import evaluation_rows, pairwise_metrics, wilson_interval
from rlhf.tiny import marker_preference_rows


def test_wilson_interval_matches_the_closed_form():
    # 8 of 10: centre (0.8 + z^2/20) / (1 + z^2/10), half width z sqrt(0.016 + z^2/400) / (1 + z^2/10)
    z = 1.959964
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z * math.sqrt(0.016 + z * z / 400) / (1 + z * z / 10)
    low, high = wilson_interval(8, 10)
    assert (low, high) == pytest.approx((centre - half, centre + half))
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)


def test_wilson_interval_edges_stay_inside_zero_one():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and 0 < high < 0.2
    low, high = wilson_interval(20, 20)
    assert 0.8 < low < 1.0 and high == pytest.approx(1.0)


def test_pairwise_metrics_counts_ties_as_wrong():
    metrics = pairwise_metrics([2.0, 1.0, 0.5, 3.0], [1.0, 1.0, 0.7, -1.0])
    assert metrics["accuracy"] == 0.5 and metrics["correct"] == 2 and metrics["ties"] == 1
    assert metrics["margin_mean"] == pytest.approx((1.0 + 0.0 - 0.2 + 4.0) / 4)
    assert metrics["pairs"] == 4
    with pytest.raises(ValueError):
        pairwise_metrics([1.0], [1.0, 2.0])


def test_evaluation_rows_pick_the_heldout_split_only_on_the_training_file(tmp_path):
    from rlhf.data import data_sha256

    rows = marker_preference_rows(10, seed=0)
    trained_on = rows_write_jsonl(rows, tmp_path / "train.jsonl")
    other = rows_write_jsonl(rows[:6], tmp_path / "other.jsonl")
    record = {"data": {"sha256": data_sha256(trained_on), "heldout_row_ids": [rows[1].row_id, rows[7].row_id]}}

    heldout, split = evaluation_rows(record, trained_on)
    assert split == "heldout" and [row.row_id for row in heldout] == [rows[1].row_id, rows[7].row_id]
    assert evaluation_rows(record, trained_on, split="all")[1] == "all"
    everything, split = evaluation_rows(record, other)
    assert split == "all" and len(everything) == 6
    with pytest.raises(ValueError, match="not the file this run trained on"):
        evaluation_rows(record, other, split="heldout")
