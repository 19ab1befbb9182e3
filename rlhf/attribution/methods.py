"""The attribution interface: settings, what a method returns, and the registry of methods by name.

    method = method_get("tracin")
    scores = method.score(model_dir, train_rows, eval_rows, AttributionSettings(seed=0))
    scores.row_scores["j-17"]      # > 0: the row helped (removing it would raise held-out loss)

Every method scores the same thing, in the same unit where it can: the change in the mean held-out preference
loss that removing a training row would cause (positive: the row helped; negative: it hurt). The baselines
(`agreement`, `reliability`) use no model at all and score judgments on their own scale; they are there to be
compared against, and to show where a cheap signal is as good as a gradient.

| name              | models                        | what it computes                                              |
| ----------------- | ----------------------------- | ------------------------------------------------------------- |
| influence-exact   | linear_head                   | (1/n) g_eval^T H^-1 g_i with the head's exact Hessian          |
| tracin            | linear_head, reward, dpo      | sum over checkpoints of step x g_i . g_eval                   |
| datainf           | linear_head, reward, dpo      | DataInf's closed-form inverse-Hessian product, layer by layer |
| agreement         | any                           | each judgment's agreement with its comparison's consensus     |
| reliability       | any                           | Dawid-Skene reliability of each judgment's author, 2r - 1      |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rlhf.config import DEVICE_CHOICES, ConfigError
from rlhf.data import PreferenceRow

CHECKPOINT_CHOICES = ("all", "final")
BUILTIN_ORDER = ("influence-exact", "tracin", "datainf", "agreement", "reliability")


def _help(text: str) -> dict[str, Any]:
    return {"help": text}


def _require(condition: bool, field_name: str, problem: str) -> None:
    if not condition:
        raise ConfigError(f"{field_name} {problem}")


@dataclass
class AttributionSettings:
    """How an attribution run computes; every field is recorded in the output so a run can be repeated."""

    seed: int = field(default=0, metadata=_help(
        "Seed of the random gradient projection (the only randomness in scoring)."))
    device: str = field(default="auto", metadata=_help(
        "auto: CUDA when present, else CPU; cpu forces CPU; cuda requires a GPU."))
    batch_size: int = field(default=8, metadata=_help(
        "Rows whose per-example gradients are computed together (one vmap call)."))
    projection_dim: int = field(default=8192, metadata=_help(
        "Per-example gradients with more entries than this are count-sketched (seeded random signs and buckets, "
        "block by block) down to about this many; 0 keeps them whole."))
    parameters: str = field(default="auto", metadata=_help(
        "Regular expression over parameter names whose gradients count; auto: LoRA weights and the score head "
        "of an adapter, else the score head (reward) or final norm (DPO) and the last transformer layer."))
    checkpoints: str = field(default="all", metadata=_help(
        "tracin: all = every saved checkpoint-N of the run plus the final model; final = the final model only."))
    damping: float = field(default=0.1, metadata=_help(
        "datainf: layer-wise damping as a share of the mean squared gradient entry (DataInf's 1/10); the "
        "linear head adds its own L2 strength on top."))
    share_duplicates: bool = field(default=True, metadata=_help(
        "Judgments that gave the same label on the same comparison share one credit (see rlhf.attribution."
        "aggregate); off only for analysis, payouts keep it on."))
    check_training_rows: bool = field(default=True, metadata=_help(
        "Linear head: refuse training rows the head was not fitted on (its loss gradient would not vanish)."))
    max_length: int | None = field(default=None, metadata=_help(
        "Tokens per text for transformer models (default: the run's max_length)."))
    cache_dir: str | None = field(default=None, metadata=_help(
        "Folder caching per-example gradients by (model hash, checkpoint, row hash) "
        "(default: $XDG_CACHE_HOME/ledgerloop/gradients)."))

    def __post_init__(self) -> None:
        _require(isinstance(self.seed, int) and self.seed >= 0, "seed", f"must be an integer >= 0, got {self.seed!r}")
        _require(self.device in DEVICE_CHOICES, "device", f"must be one of {DEVICE_CHOICES}, got {self.device!r}")
        _require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        _require(self.projection_dim == 0 or self.projection_dim >= 64, "projection_dim",
                 f"must be 0 (no projection) or >= 64, got {self.projection_dim}")
        _require(self.checkpoints in CHECKPOINT_CHOICES, "checkpoints",
                 f"must be one of {CHECKPOINT_CHOICES}, got {self.checkpoints!r}")
        _require(self.damping > 0, "damping", f"must be > 0, got {self.damping}")
        _require(self.max_length is None or self.max_length >= 8, "max_length",
                 f"must be >= 8 tokens, got {self.max_length}")
        if self.parameters != "auto":
            import re

            try:
                re.compile(self.parameters)
            except re.error as error:
                raise ConfigError(f"parameters is not a valid regular expression ({error})") from None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RowScores:
    """What a method returns.

    `row_scores`: row id -> score for every training row. `judgment_scores`: judgment id -> score, only from
    methods that judge people rather than rows (the baselines); None otherwise, and the judgments' scores are
    then derived from the rows' (rlhf.attribution.aggregate). `details`: what the method wants recorded
    (checkpoints used, damping, cache hits...).
    """

    row_scores: dict[str, float]
    judgment_scores: dict[int, float] | None = None
    details: dict[str, Any] = field(default_factory=dict)


class AttributionMethod(Protocol):
    name: str
    help: str
    model_kinds: tuple[str, ...]   # run.json kinds it can score
    uses_model: bool               # False for the baselines, which read the rows only

    def score(self, model_dir: str | Path, train_rows: Sequence[PreferenceRow], eval_rows: Sequence[PreferenceRow],
              settings: AttributionSettings) -> RowScores: ...


METHODS: dict[str, AttributionMethod] = {}


def method_register(method: AttributionMethod) -> AttributionMethod:
    if method.name in METHODS:
        raise ValueError(f"an attribution method named {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def method_get(name: str) -> AttributionMethod:
    _register_builtin_methods()
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"method {name!r} is unknown; use one of {', '.join(method_names())}") from None


def method_names() -> list[str]:
    """Registered method names: the built-in ones in BUILTIN_ORDER, then any others by name."""
    _register_builtin_methods()
    return sorted(METHODS, key=lambda name: (BUILTIN_ORDER.index(name) if name in BUILTIN_ORDER
                                             else len(BUILTIN_ORDER), name))


def _register_builtin_methods() -> None:
    # Importing the modules registers their methods; they import torch only when a score is asked for.
    from rlhf.attribution import baselines, gradient_methods  # noqa: F401
