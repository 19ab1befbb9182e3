"""TracIn and DataInf on tiny Llama runs (rlhf.tiny): a LoRA reward model, and (slow) a LoRA DPO policy, trained
on a marker preference that two of seven people flip."""

from __future__ import annotations

import pytest

from rlhf.attribution import AttributionSettings, attribution_run
from rlhf.config import DPOTrainingConfig, RewardTrainingConfig
from rlhf.dpo import dpo_train
from rlhf.reward import reward_train
from rlhf.tiny import marker_preference_rows

from .conftest import assert_flippers_negative_and_honest_positive, judged_marker_rows


@pytest.fixture(scope="module")
def lora_reward_run(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("attribution-lora")
    rows = judged_marker_rows(40, seed=41)   # 120 rows: 8 steps of 16 an epoch
    config = RewardTrainingConfig(model_path=str(tiny_model_dir), output_dir=str(folder / "run"), lora=True,
                                  learning_rate=5e-3, batch_size=16, num_epochs=3.0, eval_fraction=0.0,
                                  device="cpu", save_steps=8, save_total_limit=10)
    result = reward_train(config, rows=rows)
    assert result.status == "completed" and result.global_step == 24
    return folder, rows, marker_preference_rows(16, seed=42)


@pytest.mark.parametrize("method", ["tracin", "datainf"])
def test_gradient_methods_score_flippers_below_zero_and_honest_people_above(lora_reward_run, method):
    folder, rows, eval_rows = lora_reward_run
    report = attribution_run(folder / "run", rows, eval_rows, method=method,
                             settings=AttributionSettings(device="cpu", cache_dir=str(folder / "cache")))
    assert_flippers_negative_and_honest_positive(report["contributors"], method)
    details = report["details"]
    assert details["per_example_gradients"] in ("vmap", "all from cache") and details["loss"] == "reward_model"
    if method == "tracin":
        assert [c["step"] for c in details["checkpoints"]] == [8, 16, 24]
        assert details["checkpoints"][-1]["folder"] == "run"


def test_cached_gradients_are_reused_and_the_projection_follows_its_seed(lora_reward_run):
    folder, rows, eval_rows = lora_reward_run
    settings = AttributionSettings(device="cpu", cache_dir=str(folder / "cache-2"), checkpoints="final",
                                   projection_dim=512)
    first = attribution_run(folder / "run", rows, eval_rows, method="tracin", settings=settings)
    again = attribution_run(folder / "run", rows, eval_rows, method="tracin", settings=settings)
    assert first["details"]["gradient_rows_computed"] > 0
    assert again["details"]["gradient_rows_computed"] == 0 and again["details"]["gradient_rows_from_cache"] > 0
    assert again["contributors"] == first["contributors"]
    assert first["details"]["gradient_dimension"] < first["details"]["parameters"]   # sketched
    reseeded = attribution_run(folder / "run", rows, eval_rows, method="tracin",
                               settings=AttributionSettings(device="cpu", cache_dir=str(folder / "cache-2"),
                                                            checkpoints="final", projection_dim=512, seed=1))
    assert reseeded["details"]["gradient_rows_computed"] == first["details"]["gradient_rows_computed"]
    assert_flippers_negative_and_honest_positive(reseeded["contributors"], "tracin, another projection")


def test_exact_influence_is_only_for_the_linear_head(lora_reward_run):
    folder, rows, eval_rows = lora_reward_run
    with pytest.raises(ValueError, match="influence-exact needs the linear head"):
        attribution_run(folder / "run", rows, eval_rows, method="influence-exact")


@pytest.mark.slow
def test_tracin_on_a_lora_dpo_policy_scores_flippers_below_zero(tiny_model_dir, tmp_path):
    rows = judged_marker_rows(40, seed=43)
    config = DPOTrainingConfig(model_path=str(tiny_model_dir), output_dir=str(tmp_path / "dpo"), lora=True,
                               learning_rate=1e-2, batch_size=16, num_epochs=2.0, eval_fraction=0.0, device="cpu",
                               save_steps=4, save_total_limit=10)
    assert dpo_train(config, rows=rows).status == "completed"
    report = attribution_run(tmp_path / "dpo", rows, marker_preference_rows(16, seed=44), method="tracin",
                             settings=AttributionSettings(device="cpu", cache_dir=str(tmp_path / "cache")))
    assert report["details"]["loss"] == "dpo_policy" and len(report["details"]["checkpoints"]) == 4
    assert_flippers_negative_and_honest_positive(report["contributors"], "tracin on DPO")
