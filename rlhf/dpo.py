"""DPO training with TRL's `DPOTrainer`, used as is: full fine-tune against a frozen reference, or LoRA.

    python -m rlhf tiny-model --out var/tiny
    python -m rlhf train-dpo --data export.jsonl --model var/tiny --out var/dpo --learning-rate 1e-3
    python -m rlhf train-dpo --data export.jsonl --model var/tiny --out var/dpo-lora --lora --beta 0.1

From Python:

    result = dpo_train(config, on_progress=show, should_stop=job_cancelled, resume=True)

The reference is `ref_model_path` when given, else the starting model (TRL loads a second copy from the same
folder); with LoRA it is the same network with the adapter disabled, so no second copy is held. TRL truncates
pairs longer than `max_length` (keeping the start) and drops those whose prompt alone fills it; this module
counts both and names the dropped rows in run.json.
"""

from __future__ import annotations

from rlhf.config import DPOTrainingConfig
from rlhf.data import PreferenceRow, rows_to_dataset
from rlhf.runs import (
    ProgressFn,
    RunResult,
    StopFn,
    run_prepare,
    trainer_fit,
    trainer_rows,
    trl_common_arguments,
)


def dpo_train(
    config: DPOTrainingConfig,
    *,
    rows: list[PreferenceRow] | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    resume: bool = False,
) -> RunResult:
    """Train a DPO policy as `config` says; write the policy (or adapter), tokenizer and run.json.

    Same contract as `rlhf.reward.reward_train`: `rows` replaces `config.data_path`, `resume=True` continues from
    the newest checkpoint, `should_stop`/`TrainingCancelled` stop cleanly with a checkpoint.
    """
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    from rlhf.evaluate import dpo_metrics
    from rlhf.models import tokenizer_load

    run = run_prepare(config, rows)
    config = run.config
    assert config.model_path is not None   # required by the config
    tokenizer = tokenizer_load(config.model_path)
    peft_config = None
    if config.lora:
        peft_config = LoraConfig(task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha,
                                 lora_dropout=config.lora_dropout, target_modules="all-linear")
    trainer = DPOTrainer(
        model=config.model_path,
        ref_model=AutoModelForCausalLM.from_pretrained(config.ref_model_path) if config.ref_model_path else None,
        args=DPOConfig(**trl_common_arguments(config, run.device), beta=config.beta,
                       loss_type=[config.loss_type]),   # TRL takes a list, to combine losses
        train_dataset=rows_to_dataset(run.train_rows, with_margin=False),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    prepared = trainer_rows(trainer)
    truncated_rows = sum(
        1 for prompt_ids, chosen_ids, rejected_ids
        in zip(prepared["prompt_ids"], prepared["chosen_ids"], prepared["rejected_ids"], strict=True)
        if len(prompt_ids) + max(len(chosen_ids), len(rejected_ids)) > config.max_length
    )
    # With LoRA the reference is the adapter-disabled policy (None); otherwise TRL's own reference model.
    reference = None if config.lora else trainer.ref_model
    return trainer_fit(
        run, trainer, kind="dpo_policy", on_progress=on_progress, should_stop=should_stop, resume=resume,
        heldout_metrics=lambda model: dpo_metrics(model, reference, tokenizer, run.heldout_rows,
                                                  beta=config.beta, max_length=config.max_length,
                                                  batch_size=config.eval_batch_size),
        dropped_reason=f"prompt alone fills max_length={config.max_length} tokens (TRL filters them)",
        extra={"truncated_rows": truncated_rows},
    )
