"""PLACEHOLDER attribution model: how a contributor's epoch attribution score arises from their work.

*** This is a placeholder, to be replaced by measured figures from the attribution work
*** (influence of each judgment on held-out preference loss, summed per contributor per epoch,
*** computed by the rlhf attribution job). Every number below is an assumption, kept as data in
*** :data:`PLACEHOLDER` so that measured figures can replace it without touching the engines.

The model, per contributor and epoch:

1. Each judgment is correct (agrees with the comparison's true preference) with a probability
   set by the contributor's kind (:func:`correct_probability`):
     honest     their quality q (drawn per contributor from the calibrated quality distribution);
     lazy       0.5: a random clicker is right by chance only;
     flipper    1 - q: a label flipper knows the answer and gives the other one;
     sybil      the operator's quality, the same for every account of the cluster;
     colluder   the ring's quality (low effort: the ring agrees on answers, it does not check them).
2. A correct judgment improves the model by ``credit_per_correct``, a wrong one harms it by
   ``harm_per_wrong`` (units of "improvement"; only ratios matter to the policies). The kind's
   ``information_value`` scales both: a colluder's label copied from the ring leader carries less
   information than an independent one.
3. Duplicates share one judgment's credit: a sybil cluster of m accounts submits the same work m
   times, and the model learns from it once, so each account's score is the copy's score / m.

    score = information_value[kind] * (credit * correct - harm * (count - correct)) / duplicates

The number of correct judgments is drawn (binomial), so the scores are noisy in the way a small
sample of judgments is; they are also discrete, which lets settlement group contributors whose
inputs are identical (see :mod:`simulator.settlement`).

"True contribution" for the metrics is the same formula with ``correct`` replaced by its
expectation, ``count * p``, clipped at zero: what a perfectly measured attribution would credit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np


class Kind(IntEnum):
    """Contributor kinds. Every kind but HONEST counts as an attacker in the metrics."""

    HONEST = 0
    LAZY = 1
    FLIPPER = 2
    SYBIL = 3
    COLLUDER = 4

    @classmethod
    def parse(cls, name: str, *, where: str) -> Kind:
        try:
            return cls[name.upper()]
        except KeyError:
            known = ", ".join(kind.name.lower() for kind in cls)
            raise ValueError(f"{where}: unknown contributor kind {name!r}; known: {known}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


KIND_COUNT = len(Kind)
ATTACKER_KINDS = tuple(kind for kind in Kind if kind is not Kind.HONEST)


@dataclass(frozen=True)
class AttributionModelParams:
    """PLACEHOLDER figures; see the module docstring. Replace with measured ones."""

    credit_per_correct: float = field(
        default=1.0, metadata={"help": "Improvement from one correct judgment (arbitrary units)."}
    )
    harm_per_wrong: float = field(
        default=1.0,
        metadata={"help": "Harm from one wrong judgment, same units (a flipped label undoes a right one)."},
    )
    information_value: tuple[float, ...] = field(
        default=(1.0, 1.0, 1.0, 1.0, 0.5),
        metadata={
            "help": "Per kind (honest, lazy, flipper, sybil, colluder): value of a judgment's information."
        },
    )

    def __post_init__(self) -> None:
        if not (self.credit_per_correct >= 0 and self.harm_per_wrong >= 0):
            raise ValueError("AttributionModelParams: credit_per_correct and harm_per_wrong must be >= 0")
        if len(self.information_value) != KIND_COUNT or min(self.information_value) < 0:
            raise ValueError(
                f"AttributionModelParams.information_value: one value >= 0 per kind ({KIND_COUNT}), got {self.information_value}"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttributionModelParams:
        data = dict(data)
        if "information_value" in data:
            by_kind = data["information_value"]
            if isinstance(by_kind, dict):
                values = list(cls().information_value)
                for name, value in by_kind.items():
                    values[Kind.parse(name, where="attribution_model.information_value")] = float(value)
                data["information_value"] = tuple(values)
            else:
                data["information_value"] = tuple(float(v) for v in by_kind)
        return cls(**data)


PLACEHOLDER = AttributionModelParams()


def correct_probability(kinds: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Probability that one judgment is correct, per contributor (step 1 of the model).

    ``quality`` is the contributor's own quality for honest and flipper, the operator's for a
    sybil account and the ring's for a colluder; it is ignored for lazy clickers.
    """
    kinds = np.asarray(kinds)
    quality = np.asarray(quality, dtype=np.float64)
    probability = np.where(kinds == Kind.FLIPPER, 1.0 - quality, quality)
    return np.where(kinds == Kind.LAZY, 0.5, probability)


def scores(
    kinds: np.ndarray,
    counts: np.ndarray,
    correct: np.ndarray,
    duplicates: np.ndarray,
    params: AttributionModelParams = PLACEHOLDER,
) -> np.ndarray:
    """Attribution score per contributor for the epoch (steps 2 and 3 of the model)."""
    value = np.asarray(params.information_value)[np.asarray(kinds)]
    correct = np.asarray(correct, dtype=np.float64)
    wrong = np.asarray(counts, dtype=np.float64) - correct
    raw = params.credit_per_correct * correct - params.harm_per_wrong * wrong
    return value * raw / np.asarray(duplicates, dtype=np.float64)


def true_contribution(
    kinds: np.ndarray,
    counts: np.ndarray,
    p_correct: np.ndarray,
    duplicates: np.ndarray,
    params: AttributionModelParams = PLACEHOLDER,
) -> np.ndarray:
    """Expected (noise-free) score clipped at zero: what perfect attribution would credit."""
    expected_correct = np.asarray(counts, dtype=np.float64) * np.asarray(p_correct, dtype=np.float64)
    return np.maximum(scores(kinds, counts, expected_correct, duplicates, params), 0.0)
