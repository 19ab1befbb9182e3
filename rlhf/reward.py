"""Reward-model training with TRL's `RewardTrainer`, used as is: full fine-tune or LoRA.

    python -m rlhf tiny-model --out var/tiny
    python -m rlhf train-reward --data export.jsonl --model var/tiny --out var/rm --num-epochs 3
    python -m rlhf train-reward --data export.jsonl --model var/tiny --out var/rm-lora --lora --lora-r 8
    python -m rlhf train-reward --data export.jsonl --head linear --out var/rm-linear   # see rlhf.linear_head

From Python (a job runner passes its own progress and cancellation hooks):

    result = reward_train(config, on_progress=show, should_stop=job_cancelled, resume=True)

The loss is TRL's Bradley-Terry loss, -logsigmoid(r_chosen - r_rejected - margin), with each row's `margin`
when the data has one and `use_margin` is on (rows without a margin get 0). TRL silently drops pairs longer than
`max_length`; this module counts them, names them in run.json and in the result.
"""

from __future__ import annotations

from rlhf.config import RewardTrainingConfig
from rlhf.data import PreferenceRow, rows_to_dataset
from rlhf.runs import ProgressFn, RunResult, StopFn, run_prepare, trainer_fit, trl_common_arguments


def reward_train(
    config: RewardTrainingConfig,
    *,
    rows: list[PreferenceRow] | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    resume: bool = False,
) -> RunResult:
    """Train a reward model as `config` says; write the model, tokenizer and run.json to `config.output_dir`.

    `rows` replaces `config.data_path` when given. `resume=True` continues from the newest checkpoint in the
    output folder (the global step carries on); with none there it starts afresh. `on_progress` and
    `should_stop` are described in `rlhf.runs`. `head=linear` runs `rlhf.linear_head.linear_head_train`.
    """
    if config.head == "linear":
        from rlhf.linear_head import linear_head_train

        return linear_head_train(config, rows=rows, on_progress=on_progress, should_stop=should_stop)

    from peft import LoraConfig
    from trl import RewardConfig, RewardTrainer

    from rlhf.evaluate import reward_model_metrics
    from rlhf.models import tokenizer_load

    run = run_prepare(config, rows, use_margin=config.use_margin)
    config = run.config
    assert config.model_path is not None   # required by the config unless the head is linear
    tokenizer = tokenizer_load(config.model_path)
    peft_config = None
    if config.lora:
        # SEQ_CLS makes PEFT train and save the new score head alongside the adapter.
        peft_config = LoraConfig(task_type="SEQ_CLS", r=config.lora_r, lora_alpha=config.lora_alpha,
                                 lora_dropout=config.lora_dropout, target_modules="all-linear")
    trainer = RewardTrainer(
        model=config.model_path,
        args=RewardConfig(**trl_common_arguments(config, run.device),
                          center_rewards_coefficient=config.center_rewards_coefficient or None),
        train_dataset=rows_to_dataset(run.train_rows, with_margin=run.margin_used),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    return trainer_fit(
        run, trainer, kind="reward_model", on_progress=on_progress, should_stop=should_stop, resume=resume,
        heldout_metrics=lambda model: reward_model_metrics(model, tokenizer, run.heldout_rows,
                                                           max_length=config.max_length,
                                                           batch_size=config.eval_batch_size),
        dropped_reason=f"prompt+reply longer than max_length={config.max_length} tokens (TRL filters them)",
    )
