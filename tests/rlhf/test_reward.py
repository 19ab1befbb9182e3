"""Reward-model training through TRL's RewardTrainer on a tiny local model, on CPU."""

from __future__ import annotations

import json

import pytest

from rlhf.config import RewardTrainingConfig
from rlhf.data import PreferenceRow, data_sha256, rows_write_jsonl
from rlhf.evaluate import evaluate_data, evaluate_model
from rlhf.reward import reward_train
from rlhf.runs import TrainingCancelled, last_checkpoint, run_json_read
from rlhf.tiny import marker_preference_rows


def reward_config(tiny_model_dir, output_dir, **changes) -> RewardTrainingConfig:
    values = {"model_path": str(tiny_model_dir), "output_dir": str(output_dir), "learning_rate": 1e-3,
              "batch_size": 16, "num_epochs": 3.0, "eval_fraction": 0.25, "device": "cpu", "seed": 0}
    values.update(changes)
    return RewardTrainingConfig(**values)


@pytest.fixture(scope="module")
def trained_reward_run(tiny_model_dir, tmp_path_factory):
    """One full fine-tune shared by the tests that only read its results."""
    folder = tmp_path_factory.mktemp("rm")
    data_path = rows_write_jsonl(marker_preference_rows(160, seed=1, with_margin=True), folder / "marker.jsonl")
    progress = []
    result = reward_train(reward_config(tiny_model_dir, folder / "run", data_path=str(data_path)),
                          on_progress=lambda *event: progress.append(event))
    return result, data_path, progress


def test_full_fine_tune_learns_the_marker_preference(trained_reward_run):
    result, _, _ = trained_reward_run
    assert result.status == "completed"
    heldout = result.metrics["heldout"]
    assert heldout["pairs"] == 40
    assert heldout["accuracy"] > 0.9  # an untrained score head sits near 0.5
    low, high = heldout["accuracy_ci95"]
    assert low < heldout["accuracy"] <= high
    assert heldout["margin_mean"] > 0


def test_run_json_records_what_made_the_model(trained_reward_run):
    result, data_path, _ = trained_reward_run
    record = run_json_read(result.output_dir)
    assert record == json.loads(json.dumps(result.record, default=str))
    assert record["kind"] == "reward_model" and record["status"] == "completed"
    assert record["data"]["sha256"] == data_sha256(data_path)
    assert record["data"]["margin_used"] is True
    assert record["data"]["train_rows"] + record["data"]["heldout_rows"] == 160
    assert record["config"]["learning_rate"] == 1e-3 and record["seed"] == 0
    assert {"torch", "transformers", "trl", "peft"} <= set(record["versions"])
    assert record["global_step"] == 24  # 120 train rows / 16 per step -> 8 steps x 3 epochs
    assert record["dropped_rows"]["count"] == 0
    assert record["timings"]["train_seconds"] > 0 and record["timings"]["pairs_per_second"] > 0
    assert (result.output_dir / "model.safetensors").is_file()


def test_progress_reports_every_step_with_a_falling_loss(trained_reward_run):
    _, _, progress = trained_reward_run
    assert [event[0] for event in progress] == list(range(1, 25))
    assert {event[1] for event in progress} == {24}
    first_losses = sum(event[2] for event in progress[:4])
    last_losses = sum(event[2] for event in progress[-4:])
    assert last_losses < first_losses / 2
    assert progress[-1][3] == 0.0


def test_evaluate_reads_the_folder_and_reproduces_the_heldout_metrics(trained_reward_run):
    result, data_path, _ = trained_reward_run
    metrics = evaluate_data(result.output_dir, data_path, device="cpu")
    assert metrics["split"] == "heldout" and metrics["kind"] == "reward_model"
    assert metrics["accuracy"] == result.metrics["heldout"]["accuracy"]
    assert metrics["margin_mean"] == pytest.approx(result.metrics["heldout"]["margin_mean"], rel=1e-5)


def test_lora_reward_model_learns_the_marker_preference(tiny_model_dir, tmp_path):
    rows = marker_preference_rows(160, seed=2)
    result = reward_train(reward_config(tiny_model_dir, tmp_path / "lora", lora=True, learning_rate=5e-3),
                          rows=rows)
    assert result.metrics["heldout"]["accuracy"] > 0.9
    assert (tmp_path / "lora" / "adapter_config.json").is_file()
    assert not (tmp_path / "lora" / "model.safetensors").exists()  # only the adapter and score head
    again = evaluate_model(tmp_path / "lora", [r for r in rows if r.row_id in
                                                set(result.record["data"]["heldout_row_ids"])], device="cpu")
    assert again["accuracy"] == result.metrics["heldout"]["accuracy"]


def test_rows_longer_than_max_length_are_counted_and_named(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    rows = marker_preference_rows(24, seed=3)
    long_reply = " " + " ".join(["river stone cloud"] * 30)
    rows[2] = PreferenceRow("long-chosen", rows[2].prompt, long_reply, rows[2].rejected)
    rows[5] = PreferenceRow("long-rejected", rows[5].prompt, rows[5].chosen, long_reply)
    max_length = 40
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))

    def too_long(row):
        return any(len(tokenizer(row.prompt + reply + tokenizer.eos_token)["input_ids"]) > max_length
                   for reply in (row.chosen, row.rejected))

    expected = [row.row_id for row in rows if too_long(row)]
    assert {"long-chosen", "long-rejected"} <= set(expected)
    result = reward_train(reward_config(tiny_model_dir, tmp_path / "short", max_length=max_length,
                                        eval_fraction=0.0, max_steps=1), rows=rows)
    assert result.dropped_row_ids == expected
    assert result.record["dropped_rows"]["count"] == len(expected)
    assert result.record["timings"]["train_pairs"] == len(rows) - len(expected)


def test_cancelled_run_resumes_from_its_checkpoint_and_continues_the_step_count(tiny_model_dir, tmp_path):
    rows = marker_preference_rows(96, seed=4)  # 72 train rows, batch 12 -> 6 steps an epoch, 12 in all
    config = reward_config(tiny_model_dir, tmp_path / "resumable", batch_size=12, num_epochs=2.0,
                           save_steps=4)
    stop_checks = []

    def stop_after_six_steps() -> bool:  # asked once at the end of every optimizer step
        stop_checks.append(True)
        return len(stop_checks) >= 6

    first = reward_train(config, rows=rows, should_stop=stop_after_six_steps)
    assert first.status == "cancelled" and first.global_step == 6
    assert first.record["status"] == "cancelled"
    assert last_checkpoint(tmp_path / "resumable").endswith("checkpoint-6")
    assert not (tmp_path / "resumable" / "model.safetensors").exists()
    with pytest.raises(ValueError, match="the run is cancelled"):
        evaluate_model(tmp_path / "resumable", rows, device="cpu")

    steps_after = []
    second = reward_train(config, rows=rows, resume=True, on_progress=lambda step, *_: steps_after.append(step))
    assert second.status == "completed"
    assert second.record["resumed_from"].endswith("checkpoint-6")
    assert steps_after == [7, 8, 9, 10, 11, 12]
    assert second.global_step == 12


def test_raising_training_cancelled_from_progress_stops_cleanly(tiny_model_dir, tmp_path):
    def stop_at_third_step(step, total, loss, eta):
        if step == 3:
            raise TrainingCancelled("user pressed stop")

    result = reward_train(reward_config(tiny_model_dir, tmp_path / "stopped", eval_fraction=0.0),
                          rows=marker_preference_rows(64, seed=5), on_progress=stop_at_third_step)
    assert (result.status, result.global_step) == ("cancelled", 3)
    assert last_checkpoint(tmp_path / "stopped").endswith("checkpoint-3")


def test_missing_data_path_is_a_config_error(tiny_model_dir, tmp_path):
    from rlhf.fields import ConfigError

    with pytest.raises(ConfigError, match="data_path is required"):
        reward_train(reward_config(tiny_model_dir, tmp_path / "nothing"))


def test_resume_skips_a_checkpoint_left_half_written(tmp_path):
    from rlhf.runs import last_checkpoint

    (tmp_path / "checkpoint-3").mkdir()
    (tmp_path / "checkpoint-3" / "trainer_state.json").write_text('{"global_step": 3}')
    (tmp_path / "checkpoint-6").mkdir()  # killed mid-save: weights maybe, no trainer state
    (tmp_path / "checkpoint-6" / "model.safetensors").write_bytes(b"partial")
    (tmp_path / "checkpoint-9").mkdir()
    (tmp_path / "checkpoint-9" / "trainer_state.json").write_text('{"global_st')  # killed while writing it
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-3")
    assert last_checkpoint(tmp_path / "missing") is None
