"""What a report records about its inputs: the data's identity, the votes file, the run's training rows."""

from __future__ import annotations

import json

import pytest

from rlhf.attribution.cli import votes_load
from rlhf.attribution.methods import AttributionSettings, method_get, method_names
from rlhf.attribution.run import data_identity, training_rows_of_run
from rlhf.data import PreferenceRow, data_sha256, rows_write_jsonl
from rlhf.fields import ConfigError


def test_data_identity_prefers_the_snapshot_hash_the_export_carries(tmp_path):
    plain = rows_write_jsonl([PreferenceRow("r1", "p", "a", "b")], tmp_path / "plain.jsonl")
    assert data_identity(plain) == {"path": str(plain), "hash": data_sha256(plain), "hash_kind": "sha256",
                                    "sha256": data_sha256(plain)}
    carried = tmp_path / "carried.jsonl"
    carried.write_text(json.dumps({"row_id": "r1", "prompt": "p", "chosen": "a", "rejected": "b",
                                   "snapshot_hash": "abc123"}) + "\n")
    assert data_identity(carried)["hash"] == "abc123" and data_identity(carried)["hash_kind"] == "snapshot"
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "ledgerloop_snapshot.json").write_text(json.dumps({"snapshot_id": 4, "content_hash": "feed"}))
    identity = data_identity(folder)
    assert identity["hash"] == "feed" and identity["hash_kind"] == "snapshot" and identity["sha256"] != "feed"


def test_training_rows_leave_out_the_runs_heldout_and_dropped_rows():
    rows = [PreferenceRow(f"r{index}", "p", f"a{index}", "b") for index in range(5)]
    record = {"data": {"heldout_row_ids": ["r1"]}, "dropped_rows": {"row_ids": ["r3"]}}
    train, excluded = training_rows_of_run(record, rows)
    assert [row.row_id for row in train] == ["r0", "r2", "r4"] and excluded == {"heldout": 1, "dropped": 1}


def test_votes_file_is_read_and_checked(tmp_path):
    path = tmp_path / "votes.json"
    path.write_text(json.dumps({"11": 1, "12": -1}))
    assert votes_load(path) == {11: 1, 12: -1}
    path.write_text(json.dumps({"eleven": 1}))
    with pytest.raises(ValueError, match="not a judgment id"):
        votes_load(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        votes_load(path)


def test_registry_and_settings_validation():
    assert method_names() == ["influence-exact", "tracin", "datainf", "agreement", "reliability"]
    assert method_get("tracin").model_kinds == ("linear_head", "reward_model", "dpo_policy")
    with pytest.raises(ConfigError, match="method 'shapley' is unknown"):
        method_get("shapley")
    for bad, message in (({"projection_dim": 10}, "projection_dim"), ({"checkpoints": "some"}, "checkpoints"),
                         ({"parameters": "("}, "regular expression"), ({"device": "tpu"}, "device")):
        with pytest.raises(ConfigError, match=message):
            AttributionSettings(**bad)
