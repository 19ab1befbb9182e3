"""Calibration recovers the parameters of a synthetic log drawn from known ones; replay runs it."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from simulator.calibration import (
    CalibrationError,
    LogTable,
    apply_calibration,
    calibrate,
    file_sha256,
    fit_activity,
    load_calibration,
    save_calibration,
)
from simulator.cli import main
from simulator.economy.policies import policy_from_dict
from simulator.feedback_log import validation_errors
from simulator.model import make_model
from simulator.replay import ReplayLog
from simulator.scenarios import load_scenario
from simulator.sweep import PolicyVariant, SweepConfig, run_sweep
from simulator.synthetic_log import SyntheticLogParams, synthetic_log_rows, write_feedback_log

from .conftest import shrink

TRUTH = SyntheticLogParams(days=35, initial_annotators=140, arrivals_per_day=4.0)


@pytest.fixture(scope="module")
def synthetic_log(tmp_path_factory):
    rows, truth = synthetic_log_rows(TRUTH, seed=7)
    path = write_feedback_log(rows, tmp_path_factory.mktemp("log") / "feedback_log.jsonl")
    return path, rows, truth


@pytest.fixture(scope="module")
def calibration(synthetic_log):
    return calibrate(synthetic_log[0])


def test_synthetic_rows_are_valid_schema_rows(synthetic_log, calibration):
    path, rows, truth = synthetic_log
    # calibrate() read the whole file through the validating reader; spot-check rows here too.
    assert calibration["log"]["rows"] == len(rows)
    assert all(not validation_errors(row) for row in rows[::50])
    assert any(row["revision_of"] is not None for row in rows)
    keys = [(row["comparison_id"], row["judgment_id"]) for row in rows]
    assert keys == sorted(keys)


def test_calibration_recovers_the_parameters_the_log_was_drawn_from(calibration, synthetic_log):
    fitted = calibration["contributors"]
    assert fitted["initial"] == pytest.approx(TRUTH.initial_annotators, rel=0.15)
    assert fitted["arrivals_per_epoch"] == pytest.approx(TRUTH.arrivals_per_day, abs=1.2)
    participation = fitted["participation"]["beta"]
    assert participation["a"] / (participation["a"] + participation["b"]) == pytest.approx(
        TRUTH.participation_a / (TRUTH.participation_a + TRUTH.participation_b), abs=0.04
    )
    fit = calibration["fits"]["judgments_per_active_day"]["alternatives"]["lognormal"]
    assert fit["mu"] == pytest.approx(TRUTH.activity_mu, abs=0.12)
    assert fit["sigma"] == pytest.approx(TRUTH.activity_sigma, abs=0.1)
    seconds = fitted["seconds_per_judgment"]["lognormal"]
    assert seconds["mu"] == pytest.approx(TRUTH.seconds_mu, abs=0.08)
    assert seconds["sigma"] == pytest.approx(TRUTH.seconds_sigma, abs=0.06)
    quality = fitted["quality"]["beta"]
    assert quality["a"] / (quality["a"] + quality["b"]) == pytest.approx(
        np.mean(synthetic_log[2]["quality"]), abs=0.03
    )
    assert fitted["flag_probability"] == pytest.approx(
        synthetic_log[2]["rushed_day_share_realised"], abs=0.01
    )


def test_every_fit_has_a_goodness_of_fit_check_and_the_right_model_passes_it(calibration):
    for name, fit in calibration["fits"].items():
        assert 0 <= fit["ks_statistic"] <= 1, name
        assert fit["p_value"] > 0.001, (name, fit)
        assert fit["method"]


def test_a_wrong_model_fails_the_check():
    """Activity split between two kinds of people (1 and 30 judgments a day) is neither lognormal
    nor Pareto: the simulated-sample KS check rejects both."""
    rng = np.random.default_rng(0)
    active_days = np.full(400, 20)
    mean_per_day = np.where(rng.random(400) < 0.5, 1.0, 30.0) + rng.random(400) * 0.1
    _, fit = fit_activity(rng, mean_per_day, active_days)
    assert all(alternative["p_value"] < 1e-6 for alternative in fit["alternatives"].values())


def test_the_file_records_the_logs_hash_and_round_trips(calibration, synthetic_log, tmp_path):
    assert calibration["log"]["sha256"] == file_sha256(synthetic_log[0])
    path = save_calibration(calibration, tmp_path / "calibration.json")
    assert load_calibration(path) == json.loads(json.dumps(calibration))
    scenario = apply_calibration(load_scenario("baseline"), load_calibration(path))
    assert scenario.contributors.initial == calibration["contributors"]["initial"]
    assert scenario.contributors.quality.to_data() == calibration["contributors"]["quality"]


def test_not_a_calibration_file_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{}")
    with pytest.raises(CalibrationError, match="not a calibration file"):
        load_calibration(path)


def test_calibrate_command_writes_the_file(tmp_path, capsys):
    rows, _ = synthetic_log_rows(SyntheticLogParams(days=12, initial_annotators=40), seed=2)
    log = write_feedback_log(rows, tmp_path / "small.jsonl")
    out = tmp_path / "params.json"
    assert main(["calibrate", str(log), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["log"]["sha256"] == file_sha256(log)
    assert "KS" in capsys.readouterr().out


def test_calibrating_a_bad_log_names_the_line(tmp_path, capsys):
    rows, _ = synthetic_log_rows(SyntheticLogParams(days=3, initial_annotators=5), seed=2)
    rows[3]["choice"] = "left"
    log = write_feedback_log(rows, tmp_path / "bad.jsonl")
    assert main(["calibrate", str(log), "--out", str(tmp_path / "p.json")]) == 1
    assert "bad.jsonl:4: choice" in capsys.readouterr().err


def test_too_fast_is_the_economys_rule_a_share_of_the_logs_median_time(synthetic_log):
    rows = synthetic_log[1]
    default = LogTable(rows)  # final judgments: a revision replaces the judgment it revises
    assert default.too_fast_bps == policy_from_dict("attribution_evidence", {}).too_fast_bps == 3500
    assert default.too_fast_ms == pytest.approx(np.median(default.time_ms) * 0.35)
    stricter = LogTable(rows, too_fast_bps=6000)
    assert stricter.too_fast.sum() > default.too_fast.sum() > 0
    assert np.array_equal(default.too_fast, default.time_ms <= np.median(default.time_ms) * 0.35)


def test_replay_drives_the_real_contributors_and_adds_the_attackers(synthetic_log):
    replay = ReplayLog(LogTable(synthetic_log[1]))  # the rows, already validated above
    scenario = shrink(load_scenario("sybil_attack"), epochs=replay.days)
    model = make_model("vectorized", scenario, policy_from_dict("volume", {}), seed=1, replay=replay)
    table = model.run()
    per_day = np.bincount(replay.table.day, minlength=replay.days)
    attack_start = scenario.attacks[0].start_epoch
    # Before the attack, every judgment is one the log holds; after it, the sybils add theirs.
    assert table["judgments"][:attack_start] == per_day[:attack_start].tolist()
    assert all(j > d for j, d in zip(table["judgments"][attack_start:], per_day[attack_start:], strict=True))
    assert table["contributors_present"][0] == int((replay.table.first_day == 0).sum())


def test_a_sweep_can_replay_a_log_and_records_it(tmp_path):
    rows, _ = synthetic_log_rows(SyntheticLogParams(days=10, initial_annotators=30), seed=4)
    log = write_feedback_log(rows, tmp_path / "log.jsonl")
    config = SweepConfig(
        name="replay",
        scenarios=("baseline",),
        policies=(PolicyVariant("volume", "volume"),),
        seeds=1,
        replay=str(log),
        output=str(tmp_path / "out"),
    )
    output = run_sweep(config)
    epochs = pq.read_table(output / "metrics.parquet").column("epoch").to_pylist()
    assert epochs == list(range(10))  # the log's days, not the scenario's 365
    assert json.loads((output / "manifest.json").read_text())["replay"]["sha256"] == file_sha256(log)
