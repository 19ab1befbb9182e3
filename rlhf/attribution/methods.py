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

from rlhf.config import DEVICE_CHOICES
from rlhf.data import PreferenceRow
from rlhf.fields import ConfigError, fields_validate, setting

CHECKPOINT_CHOICES = ("all", "final")
BUILTIN_ORDER = ("influence-exact", "tracin", "datainf", "agreement", "reliability")


@dataclass
class AttributionSettings:
    """How an attribution run computes; every field is recorded in the output so a run can be repeated."""

    seed: int = setting(0, "Seed of the random gradient projection (the only randomness in scoring).", minimum=0)
    device: str = setting(
        "auto", "auto: CUDA when present, else CPU; cpu forces CPU; cuda requires a GPU.", choices=DEVICE_CHOICES)
    batch_size: int = setting(
        8, "Rows whose per-example gradients are computed together (one vmap call).", minimum=1)
    projection_dim: int = setting(
        8192, "Per-example gradients with more entries than this are count-sketched (seeded random signs and "
        "buckets, block by block) down to about this many; 0 keeps them whole.", minimum=64, also=(0,))
    parameters: str = setting(
        "auto", "Regular expression over parameter names whose gradients count; auto: LoRA weights and the score "
        "head of an adapter, else the score head (reward) or final norm (DPO) and the last transformer layer.")
    checkpoints: str = setting(
        "all", "tracin: all = every saved checkpoint-N of the run plus the final model; final = the final model only.",
        choices=CHECKPOINT_CHOICES)
    damping: float = setting(
        0.1, "datainf: layer-wise damping as a share of the mean squared gradient entry (DataInf's 1/10); the "
        "linear head adds its own L2 strength on top.", above=0)
    share_duplicates: bool = setting(
        True, "Judgments that gave the same label on the same comparison share one credit (see rlhf.attribution."
        "aggregate); off only for analysis, payouts keep it on.")
    check_training_rows: bool = setting(
        True, "Linear head: refuse training rows the head was not fitted on (its loss gradient would not vanish).")
    max_length: int | None = setting(
        None, "Tokens per text for transformer models (default: the run's max_length).", minimum=8, unit="tokens")
    cache_dir: str | None = setting(
        None, "Folder caching per-example gradients by (model hash, checkpoint, row hash) "
        "(default: $XDG_CACHE_HOME/ledgerloop/gradients).")

    def __post_init__(self) -> None:
        fields_validate(self)
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
