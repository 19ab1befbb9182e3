"""Held-out evaluation for every kind of run folder, detected from its run.json.

    python -m rlhf evaluate --model runs/rm-1 --data export.jsonl

- reward_model / linear_head: pairwise accuracy (chosen scored above rejected) with a Wilson 95% interval,
  and the mean reward margin.
- dpo_policy: implicit-reward accuracy and margin, beta * [(log pi - log ref)(chosen) - (...)(rejected)], and
  how far training moved the chosen-vs-rejected log-likelihood gap relative to the reference.

Texts are formatted exactly as TRL formats them in training (prompt + reply + eos; DPO scores only the reply
tokens), so a score here is the score the trainer optimised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rlhf.arrays import Floats
from rlhf.data import PreferenceRow, common_prefix_length, data_sha256, preference_rows_load
from rlhf.runs import run_json_read

if TYPE_CHECKING:
    from torch.nn import Module
    from transformers import PreTrainedTokenizerBase

SPLIT_CHOICES = ("auto", "heldout", "all")


def wilson_interval(successes: int, trials: int, *, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); (0, 1) when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    proportion = successes / trials
    denominator = 1 + z * z / trials
    centre = (proportion + z * z / (2 * trials)) / denominator
    half_width = z * math.sqrt(proportion * (1 - proportion) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def pairwise_metrics(chosen_scores: Sequence[float] | Floats, rejected_scores: Sequence[float] | Floats,
                     *, prefix: str = "") -> dict[str, Any]:
    """Accuracy (ties count as wrong), its Wilson 95% interval, mean margin and counts."""
    chosen = np.asarray(chosen_scores, dtype=np.float64)
    rejected = np.asarray(rejected_scores, dtype=np.float64)
    if chosen.shape != rejected.shape:
        raise ValueError(f"score arrays differ in shape: {chosen.shape} vs {rejected.shape}")
    pairs = int(chosen.size)
    correct = int((chosen > rejected).sum())
    low, high = wilson_interval(correct, pairs)
    margins = chosen - rejected
    return {
        f"{prefix}accuracy": correct / pairs if pairs else float("nan"),
        f"{prefix}accuracy_ci95": [low, high],
        f"{prefix}margin_mean": float(margins.mean()) if pairs else float("nan"),
        f"{prefix}correct": correct,
        f"{prefix}ties": int((chosen == rejected).sum()),
        "pairs": pairs,
    }


# ---------------------------------------------------------------- scoring with transformers models


def _with_eos(text: str, eos: str | None) -> str:
    return text if not eos or text.endswith(eos) else text + eos


def reward_scores(model: Module, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], replies: Sequence[str],
                  *, max_length: int, batch_size: int = 16) -> Floats:
    """Scalar rewards of prompt+reply texts from a sequence-classification model (num_labels=1).

    Longer texts than `max_length` (which TRL drops in training) are cut from the left, keeping the reply.
    """
    import torch

    texts = [_with_eos(prompt + reply, tokenizer.eos_token) for prompt, reply in zip(prompts, replies, strict=True)]
    device = next(model.parameters()).device
    previous_side = tokenizer.truncation_side
    tokenizer.truncation_side = "left"
    scores = []
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                                  max_length=max_length, return_tensors="pt").to(device)
                scores.append(model(**batch).logits.squeeze(-1).float().cpu().numpy())
    finally:
        tokenizer.truncation_side = previous_side
    return np.concatenate(scores) if scores else np.zeros(0)


def pair_token_ids(tokenizer: PreTrainedTokenizerBase, row: PreferenceRow, *, max_length: int) -> tuple[list[int], list[int], int]:
    """(chosen ids, rejected ids, prompt length) as TRL's DPOTrainer builds them, truncated keeping the start."""
    prompt_ids = tokenizer(row.prompt)["input_ids"]
    chosen_ids = tokenizer(row.prompt + _with_eos(row.chosen, tokenizer.eos_token))["input_ids"]
    rejected_ids = tokenizer(row.prompt + _with_eos(row.rejected, tokenizer.eos_token))["input_ids"]
    # The completion starts where prompt and prompt+completion tokenizations diverge (TRL does the same).
    prompt_length = min(common_prefix_length(prompt_ids, chosen_ids),
                        common_prefix_length(prompt_ids, rejected_ids))
    return chosen_ids[:max_length], rejected_ids[:max_length], prompt_length


def completion_logps(model: Module, tokenizer: PreTrainedTokenizerBase, sequences: Sequence[list[int]],
                     prompt_lengths: Sequence[int], *, batch_size: int = 8) -> Floats:
    """Sum of log p(token | prefix) over each sequence's tokens after its prompt."""
    import torch

    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    totals = []
    with torch.no_grad():
        for start in range(0, len(sequences), batch_size):
            batch = sequences[start:start + batch_size]
            width = max(len(ids) for ids in batch)
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            scored = torch.zeros((len(batch), width), dtype=torch.bool)
            for index, ids in enumerate(batch):
                input_ids[index, :len(ids)] = torch.tensor(ids)
                attention[index, :len(ids)] = 1
                scored[index, prompt_lengths[start + index]:len(ids)] = True
            input_ids, attention, scored = input_ids.to(device), attention.to(device), scored.to(device)
            logits = model(input_ids=input_ids, attention_mask=attention).logits.float()
            token_logps = torch.log_softmax(logits[:, :-1], dim=-1).gather(
                -1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            totals.append((token_logps * scored[:, 1:]).sum(-1).cpu().numpy())
    return np.concatenate(totals) if totals else np.zeros(0)


def pair_logps(model: Module, tokenizer: PreTrainedTokenizerBase, rows: Sequence[PreferenceRow], *, max_length: int,
               batch_size: int = 8) -> tuple[Floats, Floats]:
    """(chosen, rejected) reply log-likelihoods of each row under `model`."""
    built = [pair_token_ids(tokenizer, row, max_length=max_length) for row in rows]
    chosen = completion_logps(model, tokenizer, [b[0] for b in built], [b[2] for b in built], batch_size=batch_size)
    rejected = completion_logps(model, tokenizer, [b[1] for b in built], [b[2] for b in built],
                                batch_size=batch_size)
    return chosen, rejected


# ---------------------------------------------------------------- metrics per kind


def reward_model_metrics(model: Module, tokenizer: PreTrainedTokenizerBase, rows: Sequence[PreferenceRow], *,
                         max_length: int, batch_size: int = 16) -> dict[str, Any]:
    prompts = [row.prompt for row in rows]
    chosen = reward_scores(model, tokenizer, prompts, [row.chosen for row in rows], max_length=max_length,
                           batch_size=batch_size)
    rejected = reward_scores(model, tokenizer, prompts, [row.rejected for row in rows], max_length=max_length,
                             batch_size=batch_size)
    return pairwise_metrics(chosen, rejected)


def dpo_metrics(policy: Module, reference: Module | None, tokenizer: PreTrainedTokenizerBase,
                rows: Sequence[PreferenceRow], *, beta: float, max_length: int, batch_size: int = 8) -> dict[str, Any]:
    """Implicit-reward metrics of a DPO policy; `reference=None` means the policy with its LoRA adapter off."""
    policy_chosen, policy_rejected = pair_logps(policy, tokenizer, rows, max_length=max_length,
                                                batch_size=batch_size)
    if reference is None:
        from peft import PeftModel

        if not isinstance(policy, PeftModel):
            raise TypeError(f"reference=None needs a LoRA (PEFT) policy, whose adapter turned off is the reference; "
                            f"got a {type(policy).__name__}: pass the reference model")
        with policy.disable_adapter():
            ref_chosen, ref_rejected = pair_logps(policy, tokenizer, rows, max_length=max_length,
                                                  batch_size=batch_size)
    else:
        ref_chosen, ref_rejected = pair_logps(reference, tokenizer, rows, max_length=max_length,
                                              batch_size=batch_size)
    chosen_logratio = policy_chosen - ref_chosen
    rejected_logratio = policy_rejected - ref_rejected
    metrics = pairwise_metrics(beta * chosen_logratio, beta * rejected_logratio, prefix="implicit_reward_")
    policy_gap = policy_chosen - policy_rejected
    reference_gap = ref_chosen - ref_rejected
    metrics.update({
        "chosen_logratio_mean": float(chosen_logratio.mean()),
        "rejected_logratio_mean": float(rejected_logratio.mean()),
        # How much training widened log p(chosen) - log p(rejected), in nats, relative to the reference.
        "loglik_gap_change_mean": float((policy_gap - reference_gap).mean()),
        "policy_prefers_chosen": float((policy_gap > 0).mean()),
        "reference_prefers_chosen": float((reference_gap > 0).mean()),
    })
    return metrics


def evaluate_model(model_dir: str | Path, rows: Sequence[PreferenceRow], *, device: str = "auto",
                   batch_size: int | None = None) -> dict[str, Any]:
    """Metrics of any run folder on `rows`, with `kind` and `model_dir` added."""
    record = run_json_read(model_dir)
    config = record["config"]
    batch_size = batch_size or config.get("eval_batch_size", 16)
    if record["status"] != "completed":
        raise ValueError(f"{model_dir}: the run is {record['status']}, so it holds no final model; "
                         "finish it with --resume first")
    if not rows:
        raise ValueError("no rows to evaluate")
    if record["kind"] == "linear_head":
        from rlhf.linear_head import LinearHeadModel

        metrics = LinearHeadModel.load(model_dir, device=device).metrics(rows)
    elif record["kind"] == "reward_model":
        from rlhf.models import reward_model_load

        model, tokenizer, _ = reward_model_load(model_dir, device=device)
        metrics = reward_model_metrics(model, tokenizer, rows, max_length=config["max_length"],
                                       batch_size=batch_size)
    else:
        from rlhf.models import dpo_models_load

        policy, reference, tokenizer, _ = dpo_models_load(model_dir, device=device)
        metrics = dpo_metrics(policy, reference, tokenizer, rows, beta=config["beta"],
                              max_length=config["max_length"], batch_size=batch_size)
    return {"kind": record["kind"], "model_dir": str(model_dir), **metrics}


def evaluation_rows(record: dict[str, Any], data_path: str | Path, *, split: str = "auto"
                    ) -> tuple[list[PreferenceRow], str]:
    """Rows of `data_path` to evaluate and the split used.

    auto: the run's held-out rows when `data_path` is the very file it trained on (same sha256), else all rows.
    heldout: insist on the run's held-out rows. all: every row.
    """
    if split not in SPLIT_CHOICES:
        raise ValueError(f"split must be one of {SPLIT_CHOICES}, got {split!r}")
    rows = preference_rows_load(data_path)
    heldout_ids = set(record.get("data", {}).get("heldout_row_ids") or [])
    same_data = data_sha256(data_path) == record.get("data", {}).get("sha256")
    if split == "all" or (split == "auto" and not (same_data and heldout_ids)):
        return rows, "all"
    if not heldout_ids:
        raise ValueError("this run held out no rows (eval_fraction=0); evaluate with --split all")
    if not same_data:
        raise ValueError(f"{data_path} is not the file this run trained on (sha256 differs); "
                         "its held-out split is only defined on that file; use --split all")
    return [row for row in rows if row.row_id in heldout_ids], "heldout"


def evaluate_data(model_dir: str | Path, data_path: str | Path, *, split: str = "auto", device: str = "auto",
                  batch_size: int | None = None) -> dict[str, Any]:
    """`evaluate_model` on the rows `evaluation_rows` picks from a file; records the split and the data hash."""
    record = run_json_read(model_dir)
    rows, used_split = evaluation_rows(record, data_path, split=split)
    metrics = evaluate_model(model_dir, rows, device=device, batch_size=batch_size)
    return {**metrics, "split": used_split, "data_path": str(data_path), "data_sha256": data_sha256(data_path)}
