"""Run settings for reward-model and DPO training: one dataclass each, same shape, every field with a help string.

    config = fields_load(RewardTrainingConfig, "runs/rm.yaml", {"learning_rate": 1e-4})   # rlhf.fields

A YAML file holds field names as keys; CLI flags (generated from the fields, `--learning-rate` for
`learning_rate`) override it. Each field declares its type and range (rlhf.fields) and each config validates
itself in `__post_init__`, so a bad value fails before any model is loaded, with the field's name in the message.

These are OUR settings (what a run is); `rlhf.reward` and `rlhf.dpo` translate them into TRL's
`RewardConfig` / `DPOConfig`, which carry many more knobs we leave at TRL's values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rlhf.fields import fields_validate, require, setting

DEVICE_CHOICES = ("auto", "cpu", "cuda")
HEAD_CHOICES = ("full", "linear")
# What a linear head reads of a (prompt, reply) pair (described in rlhf.linear_head).
FEATURE_CHOICES = ("conversation", "conversation+reply")
# L2 strengths cross-validation chooses a linear head's from, three decades in steps of about 3; where the choice
# fell on real data is in benchmarks/RESULTS.md ("Linear head: what it reads").
L2_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
L2_FOLDS = 5
# The DPO losses TRL 1.x implements for standard text pairs without extra settings.
DPO_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "robust", "bco_pair", "sppo_hard", "nca_pair", "apo_zero",
                  "apo_down", "sigmoid_norm", "exo_pair", "discopop", "aot", "aot_unpaired")
# The settings only a linear head reads (head=full leaves them unused).
LINEAR_HEAD_SETTINGS = ("head_features", "l2", "l2_grid", "embedding_cache_dir", "encoder_max_length")


@dataclass
class TrainingConfig:
    """Settings every training method shares. Subclasses add their own; field order is the --help order."""

    data_path: str | None = setting(
        None, "Preference data: a JSONL export or a `datasets` folder (see rlhf.data).", flag="--data")
    model_path: str | None = setting(
        None, "Local folder (or hub id where a network exists) of the model to start from.", flag="--model")
    output_dir: str = setting("", "Folder that receives checkpoints, the final model and run.json.", flag="--out")
    num_epochs: float = setting(3.0, "Passes over the training rows.", above=0)
    max_steps: int = setting(
        -1, "Stop after this many optimizer steps (overrides num_epochs); -1 means use num_epochs.",
        above=0, also=(-1,))
    learning_rate: float = setting(5e-5, "Peak AdamW learning rate.", above=0)
    batch_size: int = setting(8, "Preference pairs per device per step.", minimum=1)
    gradient_accumulation_steps: int = setting(
        1, "Batches summed before each optimizer step (effective batch = batch_size x this).", minimum=1)
    weight_decay: float = setting(0.0, "AdamW weight decay (decoupled L2 on the weights).", minimum=0)
    warmup_ratio: float = setting(0.0, "Share of steps with a linear learning-rate warmup.", minimum=0, below=1)
    max_length: int = setting(512, "Longest tokenized prompt+reply the trainer accepts.", minimum=8, unit="tokens")
    seed: int = setting(0, "Seed for initialisation, shuffling and the held-out split.")
    eval_fraction: float = setting(
        0.1, "Share of rows held out (by a seeded hash of row_id) for evaluation; 0 trains on everything.",
        minimum=0, below=1)
    lora: bool = setting(False, "Train a LoRA adapter instead of all weights.")
    lora_r: int = setting(8, "LoRA rank: width of the low-rank update matrices.", minimum=1)
    lora_alpha: int = setting(16, "LoRA scaling numerator (scale = alpha / r).", minimum=1)
    lora_dropout: float = setting(0.0, "Dropout on the LoRA path.", minimum=0, below=1)
    save_steps: int = setting(
        0, "Write a resumable checkpoint every N optimizer steps; 0 writes none until the end.", minimum=0)
    save_total_limit: int = setting(2, "Checkpoints kept; older ones are deleted.", minimum=1)
    logging_steps: int = setting(1, "Report loss and progress every N optimizer steps.", minimum=1)
    device: str = setting(
        "auto", "auto: CUDA (bf16 where supported) when present, else CPU; cpu forces CPU; cuda requires a GPU.",
        choices=DEVICE_CHOICES)
    gradient_checkpointing: bool = setting(
        False, "Recompute activations in the backward pass: less memory, more time (part of the forward pass runs twice).")
    eval_batch_size: int = setting(16, "Pairs per forward pass when scoring held-out rows.", minimum=1)

    def __post_init__(self) -> None:
        fields_validate(self)
        require(self.output_dir.strip() != "", "output_dir", "is required (the --out folder)")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class RewardTrainingConfig(TrainingConfig):
    """A reward-model run: a sequence-classification model fine-tuned by TRL's RewardTrainer (`head=full`), or a
    frozen encoder with a linear Bradley-Terry head (`head=linear`, see rlhf.linear_head)."""

    head: str = setting(
        "full", "full: fine-tune a sequence-classification model with TRL RewardTrainer (optionally LoRA); "
        "linear: frozen encoder embeddings + logistic Bradley-Terry head (the packaged MiniLM when no --model).",
        choices=HEAD_CHOICES)
    use_margin: bool = setting(
        True, "Use the rows' `margin` in the loss (-logsigmoid(r_chosen - r_rejected - margin)) when any row has one.")
    center_rewards_coefficient: float = setting(
        0.0, "Weight of a penalty pulling rewards towards zero mean (0 disables; 0.01 is the usual value).",
        minimum=0)
    head_features: str = setting(
        "conversation+reply",
        "Linear head only: what the head reads of a reply, one of " + ", ".join(FEATURE_CHOICES) + ". "
        "conversation+reply adds the reply's own embedding to the conversation's, which in a long dialogue says "
        "little about the last reply.",
        choices=FEATURE_CHOICES)
    l2: float | None = setting(
        None, "Linear head only: L2 strength added to the mean logistic loss; empty: chosen from l2_grid by "
        f"{L2_FOLDS}-fold cross-validated preference accuracy on the training rows (one-standard-error rule), "
        "recorded with its curve in run.json.",
        above=0, why="it keeps the head finite and its Hessian invertible")
    l2_grid: tuple[float, ...] = setting(
        L2_GRID, "Linear head only: the L2 strengths cross-validation chooses from when l2 is empty (comma-separated).")
    embedding_cache_dir: str | None = setting(
        None, "Linear head only: folder caching encoder embeddings by text hash "
        "(default: <output_dir>/../.embedding-cache).")
    encoder_max_length: int = setting(
        256, "Linear head only: tokens the encoder reads per text, keeping the end (where the reply is).",
        minimum=8, unit="tokens")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.head == "linear" or bool(self.model_path), "model_path",
                "is required for head=full (the --model folder); only head=linear has a default encoder")
        require(len(self.l2_grid) > 0 and all(value > 0 for value in self.l2_grid), "l2_grid",
                f"must hold one or more values > 0, got {list(self.l2_grid)}")
        require(not (self.head == "linear" and self.lora), "lora", "applies to head=full only")


@dataclass
class DPOTrainingConfig(TrainingConfig):
    """A DPO run: a causal LM policy trained by TRL's DPOTrainer against a frozen reference."""

    learning_rate: float = setting(
        5e-6, "Peak AdamW learning rate (DPO wants small steps on real models; a tiny test model needs ~1e-3).",
        above=0)
    beta: float = setting(0.1, "Strength of the pull towards the reference: larger beta, smaller departures.", above=0)
    loss_type: str = setting(
        "sigmoid", "TRL DPO loss: sigmoid (the DPO paper), ipo, hinge, robust, ... ", choices=DPO_LOSS_TYPES)
    ref_model_path: str | None = setting(
        None, "Reference model folder; default: the starting model itself (with LoRA: the adapter-disabled model).",
        flag="--ref-model")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(bool(self.model_path), "model_path", "is required (the --model folder of a causal LM)")
        require(not (self.lora and self.ref_model_path), "ref_model_path",
                "cannot be combined with lora: the reference is the adapter-disabled model")
