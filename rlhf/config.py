"""Run settings for reward-model and DPO training: one dataclass each, same shape, every field with a help string.

    config = config_load(RewardTrainingConfig, "runs/rm.yaml", {"learning_rate": 1e-4})

A YAML file holds field names as keys; CLI flags (generated from the fields, `--learning-rate` for
`learning_rate`) override it. Each config validates itself in `__post_init__`, so a bad value fails before
any model is loaded, with the field's name in the message.

These are OUR settings (what a run is); `rlhf.reward` and `rlhf.dpo` translate them into TRL's
`RewardConfig` / `DPOConfig`, which carry many more knobs we leave at TRL's values.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEVICE_CHOICES = ("auto", "cpu", "cuda")
HEAD_CHOICES = ("full", "linear")
# What a linear head reads of a (prompt, reply) pair (described in rlhf.linear_head).
FEATURE_CHOICES = ("conversation", "conversation+reply")
# L2 strengths cross-validation chooses a linear head's from; on MiniLM embeddings of HH-RLHF harmless it picks
# 0.03-0.3 (rlhf.attribution.validation), inside the range with room on both sides.
L2_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
L2_FOLDS = 5
# The DPO losses TRL 1.x implements for standard text pairs without extra settings.
DPO_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "robust", "bco_pair", "sppo_hard", "nca_pair", "apo_zero",
                  "apo_down", "sigmoid_norm", "exo_pair", "discopop", "aot", "aot_unpaired")


class ConfigError(ValueError):
    """A run setting is wrong: the message names the field (and the YAML file when it came from one)."""


def _help(text: str, *, flag: str | None = None) -> dict[str, Any]:
    return {"help": text, "flag": flag}


@dataclass
class TrainingConfig:
    """Settings every training method shares. Subclasses add their own; field order is the --help order."""

    data_path: str | None = field(default=None, metadata=_help(
        "Preference data: a JSONL export or a `datasets` folder (see rlhf.data).", flag="--data"))
    model_path: str | None = field(default=None, metadata=_help(
        "Local folder (or hub id where a network exists) of the model to start from.", flag="--model"))
    output_dir: str = field(default="", metadata=_help(
        "Folder that receives checkpoints, the final model and run.json.", flag="--out"))
    num_epochs: float = field(default=3.0, metadata=_help("Passes over the training rows."))
    max_steps: int = field(default=-1, metadata=_help(
        "Stop after this many optimizer steps (overrides num_epochs); -1 means use num_epochs."))
    learning_rate: float = field(default=5e-5, metadata=_help("Peak AdamW learning rate."))
    batch_size: int = field(default=8, metadata=_help("Preference pairs per device per step."))
    gradient_accumulation_steps: int = field(default=1, metadata=_help(
        "Batches summed before each optimizer step (effective batch = batch_size x this)."))
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay (decoupled L2 on the weights)."))
    warmup_ratio: float = field(default=0.0, metadata=_help("Share of steps with a linear learning-rate warmup."))
    max_length: int = field(default=512, metadata=_help("Longest tokenized prompt+reply the trainer accepts."))
    seed: int = field(default=0, metadata=_help("Seed for initialisation, shuffling and the held-out split."))
    eval_fraction: float = field(default=0.1, metadata=_help(
        "Share of rows held out (by a seeded hash of row_id) for evaluation; 0 trains on everything."))
    lora: bool = field(default=False, metadata=_help("Train a LoRA adapter instead of all weights."))
    lora_r: int = field(default=8, metadata=_help("LoRA rank: width of the low-rank update matrices."))
    lora_alpha: int = field(default=16, metadata=_help("LoRA scaling numerator (scale = alpha / r)."))
    lora_dropout: float = field(default=0.0, metadata=_help("Dropout on the LoRA path."))
    save_steps: int = field(default=0, metadata=_help(
        "Write a resumable checkpoint every N optimizer steps; 0 writes none until the end."))
    save_total_limit: int = field(default=2, metadata=_help("Checkpoints kept; older ones are deleted."))
    logging_steps: int = field(default=1, metadata=_help("Report loss and progress every N optimizer steps."))
    device: str = field(default="auto", metadata=_help(
        "auto: CUDA (bf16 where supported) when present, else CPU; cpu forces CPU; cuda requires a GPU."))
    gradient_checkpointing: bool = field(default=False, metadata=_help(
        "Recompute activations in the backward pass: less memory, about 20% slower."))
    eval_batch_size: int = field(default=16, metadata=_help("Pairs per forward pass when scoring held-out rows."))

    def __post_init__(self) -> None:
        _require(self.output_dir.strip() != "", "output_dir", "is required (the --out folder)")
        _require(self.num_epochs > 0, "num_epochs", f"must be > 0, got {self.num_epochs}")
        _require(self.max_steps == -1 or self.max_steps > 0, "max_steps", f"must be -1 or > 0, got {self.max_steps}")
        _require(self.learning_rate > 0, "learning_rate", f"must be > 0, got {self.learning_rate}")
        _require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        _require(self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps",
                 f"must be >= 1, got {self.gradient_accumulation_steps}")
        _require(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")
        _require(0 <= self.warmup_ratio < 1, "warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio}")
        _require(self.max_length >= 8, "max_length", f"must be >= 8 tokens, got {self.max_length}")
        _require(0 <= self.eval_fraction < 1, "eval_fraction", f"must be in [0, 1), got {self.eval_fraction}")
        _require(self.lora_r >= 1, "lora_r", f"must be >= 1, got {self.lora_r}")
        _require(self.lora_alpha >= 1, "lora_alpha", f"must be >= 1, got {self.lora_alpha}")
        _require(0 <= self.lora_dropout < 1, "lora_dropout", f"must be in [0, 1), got {self.lora_dropout}")
        _require(self.save_steps >= 0, "save_steps", f"must be >= 0, got {self.save_steps}")
        _require(self.save_total_limit >= 1, "save_total_limit", f"must be >= 1, got {self.save_total_limit}")
        _require(self.logging_steps >= 1, "logging_steps", f"must be >= 1, got {self.logging_steps}")
        _require(self.device in DEVICE_CHOICES, "device", f"must be one of {DEVICE_CHOICES}, got {self.device!r}")
        _require(self.eval_batch_size >= 1, "eval_batch_size", f"must be >= 1, got {self.eval_batch_size}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class RewardTrainingConfig(TrainingConfig):
    """A reward-model run: a sequence-classification model fine-tuned by TRL's RewardTrainer (`head=full`), or a
    frozen encoder with a linear Bradley-Terry head (`head=linear`, see rlhf.linear_head)."""

    head: str = field(default="full", metadata=_help(
        "full: fine-tune a sequence-classification model with TRL RewardTrainer (optionally LoRA); "
        "linear: frozen encoder embeddings + logistic Bradley-Terry head (the packaged MiniLM when no --model)."))
    use_margin: bool = field(default=True, metadata=_help(
        "Use the rows' `margin` in the loss (-logsigmoid(r_chosen - r_rejected - margin)) when any row has one."))
    center_rewards_coefficient: float = field(default=0.0, metadata=_help(
        "Weight of a penalty pulling rewards towards zero mean (0 disables; 0.01 is the usual value)."))
    head_features: str = field(default="conversation+reply", metadata=_help(
        "Linear head only: what the head reads of a reply, one of " + ", ".join(FEATURE_CHOICES) + ". "
        "conversation+reply adds the reply's own embedding to the conversation's (5-fold cross-validated accuracy "
        "on 1000 HH-RLHF harmless labels 0.63, against 0.60 for the conversation alone)."))
    l2: float | None = field(default=None, metadata=_help(
        "Linear head only: L2 strength added to the mean logistic loss; empty: chosen from l2_grid by "
        f"{L2_FOLDS}-fold cross-validated preference accuracy on the training rows (one-standard-error rule), "
        "recorded with its curve in run.json."))
    l2_grid: tuple[float, ...] = field(default=L2_GRID, metadata=_help(
        "Linear head only: the L2 strengths cross-validation chooses from when l2 is empty (comma-separated)."))
    embedding_cache_dir: str | None = field(default=None, metadata=_help(
        "Linear head only: folder caching encoder embeddings by text hash (default: <output_dir>/../.embedding-cache)."))
    encoder_max_length: int = field(default=256, metadata=_help(
        "Linear head only: tokens the encoder reads per text, keeping the end (where the reply is)."))

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.head in HEAD_CHOICES, "head", f"must be one of {HEAD_CHOICES}, got {self.head!r}")
        _require(self.head == "linear" or bool(self.model_path), "model_path",
                 "is required for head=full (the --model folder); only head=linear has a default encoder")
        _require(self.center_rewards_coefficient >= 0, "center_rewards_coefficient",
                 f"must be >= 0, got {self.center_rewards_coefficient}")
        _require(self.head_features in FEATURE_CHOICES, "head_features",
                 f"must be one of {FEATURE_CHOICES}, got {self.head_features!r}")
        _require(self.l2 is None or self.l2 > 0, "l2",
                 f"must be > 0 (it keeps the head finite and its Hessian invertible) or empty, got {self.l2}")
        self.l2_grid = tuple(self.l2_grid)
        _require(len(self.l2_grid) > 0 and all(value > 0 for value in self.l2_grid), "l2_grid",
                 f"must hold one or more values > 0, got {list(self.l2_grid)}")
        _require(not (self.head == "linear" and self.lora), "lora", "applies to head=full only")
        _require(self.encoder_max_length >= 8, "encoder_max_length", f"must be >= 8, got {self.encoder_max_length}")


@dataclass
class DPOTrainingConfig(TrainingConfig):
    """A DPO run: a causal LM policy trained by TRL's DPOTrainer against a frozen reference."""

    learning_rate: float = field(default=5e-6, metadata=_help(
        "Peak AdamW learning rate (DPO wants small steps on real models; a tiny test model needs ~1e-3)."))
    beta: float = field(default=0.1, metadata=_help(
        "Strength of the pull towards the reference: larger beta, smaller departures."))
    loss_type: str = field(default="sigmoid", metadata=_help(
        "TRL DPO loss: sigmoid (the DPO paper), ipo, hinge, robust, ... "))
    ref_model_path: str | None = field(default=None, metadata=_help(
        "Reference model folder; default: the starting model itself (with LoRA: the adapter-disabled model).",
        flag="--ref-model"))

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(bool(self.model_path), "model_path", "is required (the --model folder of a causal LM)")
        _require(self.beta > 0, "beta", f"must be > 0, got {self.beta}")
        _require(self.loss_type in DPO_LOSS_TYPES, "loss_type",
                 f"must be one of {', '.join(DPO_LOSS_TYPES)}; got {self.loss_type!r}")
        _require(not (self.lora and self.ref_model_path), "ref_model_path",
                 "cannot be combined with lora: the reference is the adapter-disabled model")


def _require(condition: bool, field_name: str, problem: str) -> None:
    if not condition:
        raise ConfigError(f"{field_name} {problem}")


# ---------------------------------------------------------------- YAML and CLI


def config_load(config_class: type[TrainingConfig], yaml_path: str | Path | None = None,
                overrides: dict[str, Any] | None = None) -> TrainingConfig:
    """Build a config from a YAML file (optional) and then `overrides` (e.g. parsed CLI flags), validated."""
    values: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(config_class)}
    if yaml_path is not None:
        import yaml

        try:
            loaded = yaml.safe_load(Path(yaml_path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{yaml_path}: not valid YAML ({error})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{yaml_path}: expected a mapping of setting names to values")
        unknown = sorted(set(loaded) - known)
        if unknown:
            raise ConfigError(f"{yaml_path}: unknown setting(s) {unknown}; known: {sorted(known)}")
        values.update({key: _coerce(config_class, key, value, source=str(yaml_path))
                       for key, value in loaded.items()})
    for key, value in (overrides or {}).items():
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}; known: {sorted(known)}")
        values[key] = _coerce(config_class, key, value, source="overrides")
    try:
        return config_class(**values)
    except ConfigError as error:
        where = f"{yaml_path}: " if yaml_path is not None else ""
        raise ConfigError(f"{where}{error}") from None


def _field_type(config_class: type, name: str) -> tuple[type, bool]:
    """(base type, accepts None) of a field, from its annotation."""
    hint = typing.get_type_hints(config_class)[name]
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        base = next(arg for arg in args if arg is not type(None))
        return base, type(None) in args
    return hint, False


def _coerce(config_class: type, name: str, value: Any, *, source: str) -> Any:
    base, optional = _field_type(config_class, name)
    if isinstance(value, str) and optional and value.lower() in ("none", "null"):
        value = None
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{source}: {name} cannot be empty")
    if typing.get_origin(base) is tuple:
        return _tuple_value(base, value, name, source=source)
    if base is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and base is not str:
        return _parse_flag_value(base, value, name)
    if base is bool and not isinstance(value, bool):
        raise ConfigError(f"{source}: {name} must be true or false, got {value!r}")
    if base is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{source}: {name} must be an integer, got {value!r}")
    return value


def _tuple_value(base: Any, value: Any, name: str, *, source: str) -> tuple:
    """A `tuple[T, ...]` field from a YAML list or a comma-separated flag value."""
    (item_type, *_) = typing.get_args(base)
    items = [item for item in value.split(",") if item.strip()] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError(f"{source}: {name} must be a list of {item_type.__name__} values, got {value!r}")
    return tuple(_coerce_item(item_type, item, name, source=source) for item in items)


def _coerce_item(item_type: type, item: Any, name: str, *, source: str) -> Any:
    if isinstance(item, str):
        return _parse_flag_value(item_type, item.strip(), name)
    if item_type is float and isinstance(item, int | float) and not isinstance(item, bool):
        return float(item)
    if not isinstance(item, item_type) or isinstance(item, bool) != (item_type is bool):
        raise ConfigError(f"{source}: {name} must hold {item_type.__name__} values, got {item!r}")
    return item


def _parse_flag_value(base: type, text: str, name: str) -> Any:
    try:
        if base is bool:
            if text.lower() in ("true", "yes", "1"):
                return True
            if text.lower() in ("false", "no", "0"):
                return False
            raise ValueError(text)
        return base(text)
    except ValueError:
        raise ConfigError(f"{name} must be a {base.__name__}, got {text!r}") from None


def config_add_arguments(parser: argparse.ArgumentParser, config_class: type[TrainingConfig],
                         *, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per config field (help from the field's metadata); unset flags stay out of the namespace."""
    group = parser.add_argument_group(f"{config_class.__name__} settings (override --config)")
    for config_field in dataclasses.fields(config_class):
        if config_field.name in skip:
            continue
        base, _ = _field_type(config_class, config_field.name)
        flags = ["--" + config_field.name.replace("_", "-")]
        alias = config_field.metadata.get("flag")
        if alias and alias not in flags:
            flags.insert(0, alias)
        default = config_field.default if config_field.default is not dataclasses.MISSING else None
        help_text = f"{config_field.metadata.get('help', '')} (default: {default})"
        common = {"dest": config_field.name, "default": argparse.SUPPRESS, "help": help_text}
        if base is bool:
            group.add_argument(*flags, action=argparse.BooleanOptionalAction, **common)
        else:
            group.add_argument(*flags, metavar=config_field.name.upper(), **common)


def config_from_namespace(config_class: type[TrainingConfig], namespace: argparse.Namespace,
                          *, yaml_path: str | None = None, extra: dict[str, Any] | None = None) -> TrainingConfig:
    """Config from a YAML file plus the flags that were actually given on the command line."""
    known = {f.name for f in dataclasses.fields(config_class)}
    overrides = {key: value for key, value in vars(namespace).items() if key in known}
    overrides.update(extra or {})
    return config_load(config_class, yaml_path, overrides)

