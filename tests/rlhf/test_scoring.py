"""A reward model version's margins on comparisons, which the uncertainty strategy orders the queue by."""

import json

import numpy as np
import pytest

from rlhf.scoring import pair_margins, scoring_kind


def test_a_policy_cannot_score_comparisons_and_says_so(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"kind": "dpo_policy"}))
    with pytest.raises(ValueError, match="model_version: .* is a dpo_policy run; scoring comparisons needs a reward"):
        scoring_kind(tmp_path)


@pytest.mark.slow
def test_margins_of_a_reward_model_are_antisymmetric_and_order_by_the_scores(tmp_path, tiny_model_dir):
    from rlhf.config import RewardTrainingConfig
    from rlhf.reward import reward_train
    from rlhf.tiny import marker_preference_rows

    out = tmp_path / "rm"
    reward_train(RewardTrainingConfig(model_path=str(tiny_model_dir), output_dir=str(out), max_steps=2, device="cpu",
                                      eval_fraction=0.0), rows=marker_preference_rows(16, seed=1))
    assert scoring_kind(out) == "reward_model"
    prompts, a, b = ["Q: fruit?", "Q: sky?"], ["apples are good", "blue"], ["no", "it is the sky above us"]
    forward = pair_margins(out, prompts, a, b, device="cpu")
    assert forward.shape == (2,) and np.all(np.isfinite(forward))
    np.testing.assert_allclose(pair_margins(out, prompts, b, a, device="cpu"), -forward, atol=1e-5)
    with pytest.raises(ValueError, match="as long as one another"):
        pair_margins(out, prompts, a, b[:1])
