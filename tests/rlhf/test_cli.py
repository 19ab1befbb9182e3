"""`python -m rlhf` as a user runs it: subprocesses, a JSON object on the last line of stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlhf.cli import EXAMPLES, build_parser

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd):
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "rlhf", *map(str, args)], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=300)


def last_json_line(completed) -> dict:
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("command", sorted(EXAMPLES))
def test_every_command_help_shows_runnable_examples(command, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert "examples:" in shown and f"python -m rlhf {command}" in shown


def test_train_help_lists_every_setting_with_its_help(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train-reward", "--help"])
    shown = capsys.readouterr().out
    for flag in ("--data", "--model", "--out", "--head", "--lora", "--no-lora", "--config", "--resume",
                 "--learning-rate", "--max-length", "--save-steps", "--device", "--use-margin"):
        assert flag in shown


def test_bad_data_exits_2_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "P", "chosen": " a", "rejected": " b"}\n{"prompt": "P", "chosen": " a"}\n')
    completed = run_cli("train-reward", "--head", "linear", "--data", bad, "--out", tmp_path / "out",
                        cwd=tmp_path)
    assert completed.returncode == 2
    assert f"{bad}, line 2, field 'rejected': missing" in completed.stderr


def test_evaluate_prints_metrics_as_the_last_json_line(tiny_model_dir, tmp_path):
    from rlhf.config import RewardTrainingConfig
    from rlhf.data import rows_write_jsonl
    from rlhf.reward import reward_train
    from rlhf.tiny import marker_preference_rows

    data = rows_write_jsonl(marker_preference_rows(40, seed=31), tmp_path / "marker.jsonl")
    reward_train(RewardTrainingConfig(model_path=str(tiny_model_dir), output_dir=str(tmp_path / "rm"),
                                      data_path=str(data), max_steps=2, device="cpu", eval_fraction=0.25))
    metrics = last_json_line(run_cli("evaluate", "--model", "rm", "--data", "marker.jsonl", "--device", "cpu",
                                     cwd=tmp_path))
    assert metrics["kind"] == "reward_model" and metrics["split"] == "heldout" and metrics["pairs"] == 10
    assert 0.0 <= metrics["accuracy"] <= 1.0 and len(metrics["accuracy_ci95"]) == 2


@pytest.mark.slow
def test_tiny_model_then_train_reward_dpo_and_evaluate_from_the_command_line(tmp_path):
    assert last_json_line(run_cli("tiny-model", "--out", "tiny", cwd=tmp_path))["model_dir"] == "tiny"
    assert last_json_line(run_cli("synthetic-data", "--out", "marker.jsonl", "--rows", "120",
                                  cwd=tmp_path))["rows"] == 120
    config = tmp_path / "rm.yaml"
    config.write_text("learning_rate: 0.001\nbatch_size: 16\nnum_epochs: 3\neval_fraction: 0.25\n")
    trained = run_cli("train-reward", "--config", config, "--data", "marker.jsonl", "--model", "tiny",
                      "--out", "rm", "--device", "cpu", cwd=tmp_path)
    result = last_json_line(trained)
    assert result["status"] == "completed" and result["metrics"]["heldout"]["accuracy"] > 0.9
    assert "step 18/18" in trained.stderr  # progress lines go to stderr
    evaluated = last_json_line(run_cli("evaluate", "--model", "rm", "--data", "marker.jsonl", cwd=tmp_path))
    assert evaluated["accuracy"] == result["metrics"]["heldout"]["accuracy"]

    dpo = last_json_line(run_cli("train-dpo", "--data", "marker.jsonl", "--model", "tiny", "--out", "dpo",
                                 "--learning-rate", "1e-3", "--batch-size", "16", "--device", "cpu", cwd=tmp_path))
    assert dpo["kind"] == "dpo_policy" and dpo["metrics"]["heldout"]["loglik_gap_change_mean"] > 0


def test_importing_rlhf_and_its_cli_loads_no_heavy_library():
    probe = ("import sys, rlhf, rlhf.cli, rlhf.data, rlhf.config, rlhf.runs, rlhf.reward, rlhf.dpo, rlhf.tiny; "
             "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets', 'django', 'simulator') "
             "if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True,
                               timeout=60)
    assert completed.stdout.strip() == "[]", completed.stderr
