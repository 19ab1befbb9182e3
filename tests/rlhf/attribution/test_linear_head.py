"""Attribution on the linear head over MiniLM, trained on a marker preference that two of seven people flip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlhf.attribution import AttributionSettings, attribution_run
from rlhf.attribution.influence import spearman
from rlhf.cli import main
from rlhf.config import RewardTrainingConfig
from rlhf.data import rows_write_jsonl
from rlhf.linear_head import LinearHeadModel, bradley_terry_fit, bradley_terry_losses
from rlhf.reward import reward_train
from rlhf.tiny import marker_preference_rows

from .conftest import FLIPPERS, HONEST, assert_flippers_negative_and_honest_positive, judged_marker_rows

L2 = 1e-2


@pytest.fixture(scope="module")
def head_run(tmp_path_factory, embedding_cache_dir):
    folder = tmp_path_factory.mktemp("attribution-linear")
    rows = judged_marker_rows(48, seed=31)
    eval_rows = marker_preference_rows(24, seed=32)
    config = RewardTrainingConfig(head="linear", output_dir=str(folder / "head"), eval_fraction=0.0, device="cpu",
                                  embedding_cache_dir=str(embedding_cache_dir), l2=L2)
    result = reward_train(config, rows=rows)
    assert result.status == "completed"
    return folder, rows, eval_rows


@pytest.mark.parametrize("method", ["influence-exact", "tracin", "datainf", "agreement", "reliability"])
def test_every_method_scores_flippers_below_zero_and_honest_people_above(head_run, method):
    folder, rows, eval_rows = head_run
    report = attribution_run(folder / "head", rows, eval_rows, method=method,
                             settings=AttributionSettings(device="cpu"))
    assert_flippers_negative_and_honest_positive(report["contributors"], method)
    assert report["data"]["train_rows"] == len(rows) == len(report["rows"])
    assert len(report["judgments"]) == len(rows)


def test_exact_influence_matches_refitting_without_each_contributor(head_run):
    folder, rows, eval_rows = head_run
    report = attribution_run(folder / "head", rows, eval_rows, method="influence-exact",
                             settings=AttributionSettings(device="cpu", share_duplicates=False))
    model = LinearHeadModel.load(folder / "head", device="cpu")
    differences, eval_differences = model.pair_differences(rows), model.pair_differences(eval_rows)
    full_loss = bradley_terry_losses(model.weights, eval_differences).mean()
    owners = np.array([row.contributor_ids[0] for row in rows])
    people = HONEST + FLIPPERS
    changes = []
    for person in people:
        weights, _ = bradley_terry_fit(differences[owners != person], l2=L2)
        changes.append(bradley_terry_losses(weights, eval_differences).mean() - full_loss)
    predicted = [report["contributors"][person] for person in people]
    assert spearman(predicted, changes) > 0.9
    assert np.sign(predicted).tolist() == np.sign(changes).tolist()


def test_rows_the_head_was_not_fitted_on_are_refused(head_run):
    folder, rows, eval_rows = head_run
    with pytest.raises(ValueError, match="not the rows this head was fitted on"):
        attribution_run(folder / "head", rows[:-5], eval_rows, method="influence-exact",
                        settings=AttributionSettings(device="cpu"))
    with pytest.raises(ValueError, match="not the rows"):
        attribution_run(folder / "head", rows[:-5], eval_rows, method="tracin",
                        settings=AttributionSettings(device="cpu", check_training_rows=False))


def test_cli_writes_the_report_and_prints_contributor_scores_last(head_run, capsys):
    folder, rows, eval_rows = head_run
    data, evaluation = rows_write_jsonl(rows, folder / "export.jsonl"), rows_write_jsonl(eval_rows,
                                                                                          folder / "eval.jsonl")
    out = folder / "attribution.json"
    status = main(["attribute", "--model", str(folder / "head"), "--data", str(data), "--eval", str(evaluation),
                   "--method", "influence-exact", "--out", str(out), "--device", "cpu", "--seed", "3"])
    assert status == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    report = json.loads(out.read_text())
    assert printed == pytest.approx(report["contributors"])
    assert_flippers_negative_and_honest_positive(printed, "cli")
    assert report["method"] == "influence-exact" and report["seed"] == 3 and report["settings"]["seed"] == 3
    assert report["model"]["kind"] == "linear_head" and len(report["model"]["run_json_sha256"]) == 64
    # the run hashed the rows it was given as their export lines, so the written export is the same data
    assert report["data"]["hash_kind"] == "sha256" and report["data"]["matches_run"] is True
    assert report["eval"]["rows"] == len(eval_rows) and report["eval"]["comparisons_also_in_training"] == 0
    assert {"numpy", "scipy", "torch"} <= set(report["versions"])
    assert report["cost"]["wall_seconds"] > 0 and report["cost"]["peak_rss_bytes"] > 0
    first = report["rows"][0]
    assert first["row_id"] == rows[0].row_id and first["judgment_ids"] == list(rows[0].judgment_ids)
    assert report["judgments"][str(rows[0].judgment_ids[0])]["contributor"] == rows[0].contributor_ids[0]


def test_cli_names_what_is_wrong(head_run, capsys):
    folder, rows, eval_rows = head_run
    data = rows_write_jsonl(rows, folder / "export-2.jsonl")
    status = main(["attribute", "--model", str(folder / "head"), "--data", str(data), "--eval", str(data),
                   "--method", "influence-exact", "--out", str(folder / "x.json"), "--damping", "-1"])
    assert status == 2 and "damping must be > 0" in capsys.readouterr().err


def test_a_head_trained_with_the_cli_defaults_is_attributed(tmp_path, embedding_cache_dir, capsys):
    """`train-reward --head linear` with nothing else reads the reply beside the conversation and cross-validates
    its L2; attribution reads both back from the run folder."""
    rows, eval_rows = judged_marker_rows(40, seed=33), marker_preference_rows(20, seed=34)
    data, evaluation = rows_write_jsonl(rows, tmp_path / "export.jsonl"), rows_write_jsonl(eval_rows,
                                                                                            tmp_path / "eval.jsonl")
    assert main(["train-reward", "--head", "linear", "--data", str(data), "--out", str(tmp_path / "head"),
                 "--eval-fraction", "0", "--device", "cpu", "--embedding-cache-dir", str(embedding_cache_dir)]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    record = json.loads((tmp_path / "head" / "run.json").read_text())
    assert record["encoder"]["features"] == "conversation+reply" and record["l2_choice"] == trained["l2_choice"]
    assert trained["l2_choice"]["l2"] in trained["l2_choice"]["grid"]
    assert main(["attribute", "--model", str(tmp_path / "head"), "--data", str(data), "--eval", str(evaluation),
                 "--method", "influence-exact", "--out", str(tmp_path / "attribution.json"), "--device", "cpu"]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert_flippers_negative_and_honest_positive(scores, "cli defaults")
    model = LinearHeadModel.load(tmp_path / "head", device="cpu")
    assert model.features == "conversation+reply" and model.l2 == trained["l2_choice"]["l2"]
