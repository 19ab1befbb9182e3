"""DPO through TRL's DPOTrainer on a tiny local model, on CPU."""

from __future__ import annotations

import pytest

from rlhf.config import DPOTrainingConfig
from rlhf.data import PreferenceRow
from rlhf.dpo import dpo_train
from rlhf.evaluate import evaluate_model
from rlhf.runs import TrainingCancelled, last_checkpoint
from rlhf.tiny import marker_preference_rows


def dpo_config(tiny_model_dir, output_dir, **changes) -> DPOTrainingConfig:
    values = {"model_path": str(tiny_model_dir), "output_dir": str(output_dir), "learning_rate": 1e-3,
              "batch_size": 16, "num_epochs": 3.0, "eval_fraction": 0.25, "device": "cpu", "beta": 0.1}
    values.update(changes)
    return DPOTrainingConfig(**values)


def heldout_of(result, rows):
    heldout_ids = set(result.record["data"]["heldout_row_ids"])
    return [row for row in rows if row.row_id in heldout_ids]


def test_dpo_raises_chosen_likelihood_relative_to_rejected(tiny_model_dir, tmp_path):
    rows = marker_preference_rows(160, seed=11)
    result = dpo_train(dpo_config(tiny_model_dir, tmp_path / "dpo"), rows=rows)
    heldout = result.metrics["heldout"]
    assert result.status == "completed" and heldout["pairs"] == 40
    # log p(chosen) - log p(rejected) widened relative to the frozen reference, on pairs never trained on
    assert heldout["loglik_gap_change_mean"] > 0.5
    assert heldout["implicit_reward_accuracy"] > 0.8
    assert heldout["policy_prefers_chosen"] > heldout["reference_prefers_chosen"]
    assert heldout["implicit_reward_margin_mean"] == pytest.approx(0.1 * heldout["loglik_gap_change_mean"])
    assert result.record["kind"] == "dpo_policy" and result.record["lora"] is False

    # The folder alone (policy + reference from run.json) gives the same numbers.
    again = evaluate_model(result.output_dir, heldout_of(result, rows), device="cpu")
    assert again["loglik_gap_change_mean"] == pytest.approx(heldout["loglik_gap_change_mean"], rel=1e-4)


def test_lora_dpo_uses_the_adapter_disabled_model_as_reference(tiny_model_dir, tmp_path):
    rows = marker_preference_rows(96, seed=12)
    result = dpo_train(dpo_config(tiny_model_dir, tmp_path / "dpo-lora", lora=True, learning_rate=1e-2,
                                  num_epochs=2.0), rows=rows)
    assert (tmp_path / "dpo-lora" / "adapter_config.json").is_file()
    assert result.metrics["heldout"]["loglik_gap_change_mean"] > 0
    again = evaluate_model(result.output_dir, heldout_of(result, rows), device="cpu")
    assert again["loglik_gap_change_mean"] == pytest.approx(
        result.metrics["heldout"]["loglik_gap_change_mean"], rel=1e-4)


def test_rows_whose_prompt_fills_max_length_are_dropped_and_counted(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    rows = marker_preference_rows(20, seed=13)
    long_prompt = "Question: " + " ".join(["tell me about rivers and stones"] * 20) + "\nAnswer:"
    rows[4] = PreferenceRow("long-prompt", long_prompt, rows[4].chosen, rows[4].rejected)
    max_length = 16
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))

    def length(text):
        return len(tokenizer(text)["input_ids"])

    expected_dropped = [row.row_id for row in rows if length(row.prompt) >= max_length]
    expected_truncated = sum(
        1 for row in rows if row.row_id not in expected_dropped
        and max(length(row.prompt + reply + tokenizer.eos_token) for reply in (row.chosen, row.rejected)) > max_length
    )
    assert expected_dropped == ["long-prompt"] and expected_truncated > 0
    result = dpo_train(dpo_config(tiny_model_dir, tmp_path / "short", max_length=max_length, eval_fraction=0.0,
                                  max_steps=1), rows=rows)
    assert result.dropped_row_ids == expected_dropped
    assert result.record["dropped_rows"]["count"] == 1
    assert result.record["truncated_rows"] == expected_truncated  # kept, but cut to max_length tokens


def test_dpo_stops_cleanly_and_resumes(tiny_model_dir, tmp_path):
    rows = marker_preference_rows(48, seed=14)  # 36 train rows, batch 12 -> 3 steps an epoch
    config = dpo_config(tiny_model_dir, tmp_path / "resumable", batch_size=12, num_epochs=2.0)

    def cancel_at_step_two(step, total, loss, eta):
        if step == 2:
            raise TrainingCancelled

    first = dpo_train(config, rows=rows, on_progress=cancel_at_step_two)
    assert (first.status, first.global_step) == ("cancelled", 2)
    assert last_checkpoint(config.output_dir).endswith("checkpoint-2")
    second = dpo_train(config, rows=rows, resume=True)
    assert (second.status, second.global_step) == ("completed", 6)
