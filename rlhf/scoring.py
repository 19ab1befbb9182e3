"""A reward model version's margins on comparisons: what the uncertainty strategy orders the judging queue by
(`rlhf.active.pair_uncertainty` of these margins).

`pair_margins(model_dir, prompts, replies_a, replies_b)` scores both replies of each comparison with the run in
`model_dir`, a `linear_head` or a `reward_model` (full or LoRA), and returns r(a) - r(b). Any other run is refused,
naming it: a DPO policy has no reward to be unsure about.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rlhf.runs import run_json_read

SCORING_KINDS = ("linear_head", "reward_model")


def scoring_kind(model_dir: str | Path) -> str:
    """The run's kind, or ValueError where it cannot score comparisons."""
    kind = str(run_json_read(model_dir).get("kind", ""))
    if kind not in SCORING_KINDS:
        raise ValueError(f"model_version: {Path(model_dir).name} is a {kind or 'unknown'} run; scoring comparisons "
                         f"needs a reward model ({' or '.join(SCORING_KINDS)})")
    return kind


def pair_margins(model_dir: str | Path, prompts: Sequence[str], replies_a: Sequence[str], replies_b: Sequence[str],
                 *, device: str = "auto", batch_size: int = 16) -> np.ndarray:
    """r(prompt, a) - r(prompt, b) for each comparison, in float64."""
    if not len(prompts) == len(replies_a) == len(replies_b):
        raise ValueError("prompts, replies_a and replies_b must be as long as one another")
    kind = scoring_kind(model_dir)
    if not prompts:
        return np.zeros(0)
    if kind == "linear_head":
        from rlhf.linear_head import LinearHeadModel

        head = LinearHeadModel.load(model_dir, device=device)
        scores_a, scores_b = head.scores(prompts, replies_a), head.scores(prompts, replies_b)
    else:
        from rlhf.evaluate import reward_scores
        from rlhf.models import reward_model_load

        model, tokenizer, record = reward_model_load(model_dir, device=device)
        length = int(record["config"]["max_length"])
        scores_a = reward_scores(model, tokenizer, prompts, replies_a, max_length=length, batch_size=batch_size)
        scores_b = reward_scores(model, tokenizer, prompts, replies_b, max_length=length, batch_size=batch_size)
    return np.asarray(scores_a, dtype=np.float64) - np.asarray(scores_b, dtype=np.float64)
