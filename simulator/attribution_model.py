"""How a contributor's epoch attribution score arises from their work, drawn from measured figures.

The figures are the attribution profile, ``simulator/data/attribution_profile.json``: what the
attribution validation harness measured on real HH-RLHF comparisons judged by simulated annotators
(honest ones of accuracies 0.65-0.95, random clickers, label flippers, duplicates), per attribution
method and overlap k: the paid score of one judgment (the site's credit rules applied, so agreeing
judgments on a comparison share one share) by annotator kind and by whether it was right, and the
credit m copies of one judgment earn together. Scores are normalised so that an honest annotator's
correct judgment earns 1 on average (only ratios matter to emission policies). The schema is
documented in rlhf/attribution/profile.py, which writes the file; the simulator never imports rlhf,
the file is the contract. Regenerate it (a few minutes on CPU; MiniLM embeddings are cached) with

    .venv/bin/python benchmarks/bench_attribution.py --comparisons 1000 --loo-contributors 10 \\
        --lds-subsets 10 --scaling '' --profile simulator/data/attribution_profile.json

The model, per contributor and epoch, with the figures of the profile's method and overlap
(:class:`AttributionModelParams`; by default the method the site pays a linear head with and the
site's default overlap, k = 3):

1. Each of the contributor's ``count`` judgments is correct (agrees with the comparison's true
   answer) with the kind's probability (:func:`correct_probability`): an honest contributor's
   quality q; 0.5 for a lazy random clicker; 1 - q for a label flipper (who knows and answers the
   other way); the operator's quality for a sybil account; the ring's quality for a colluder.
2. Each judgment's paid score has the measured mean and standard deviation of judgments of its
   correctness: by default the ``pooled`` figures (honest, random and flipping annotators
   together). The attribution method sees a label and a comparison, not who gave it, and in the
   shipped profile no kind's mean differs from the pooled one by more than sampling error
   (``kind_difference_z`` in the profile, within about 2 standard errors), so the kind enters
   through the probability of being right. With ``by_kind: true`` each kind gets the figures of
   the harness's annotators of that kind instead: honest -> honest, lazy -> random,
   flipper -> flip, sybil -> honest (the operator's own work; see 3), colluder -> honest (see 4).
   The epoch score is the sum over the judgments, drawn as one normal with the summed mean and
   variance, ``c*mean_c + w*mean_w + sqrt(c*sd_c**2 + w*sd_w**2) * Z`` for c correct and w wrong
   judgments: the harness's per-judgment scores are roughly independent given correctness, and a
   sum of a few is close to normal. ``Z`` is one standard normal per contributor and epoch
   (:func:`draw_noise`), drawn by the engine with the day's work.
3. Sybils: a cluster of m accounts submits the operator's judgments m times. The operator's sum
   (one ``Z`` per cluster) is scored as in 2, and each account earns ``share_per_copy(m)`` of it,
   the measured credit of m copies of a judgment divided by m (:func:`copy_share`; the credit
   rule splits one share among everyone who gave the label, the copies included). Between the
   measured counts it is interpolated in log m; beyond the largest, the cluster's total is held
   at the last measured value (one share split more ways cannot grow without bound).
4. ASSUMPTION (:data:`COLLUDER_ASSUMPTION`), because the harness does not simulate rings:
   a colluder's judgment scores like an honest judgment of the same correctness, and ring
   members do not share credit beyond what agreeing honest annotators at the same overlap do
   (already in the honest figures). Why: attribution scores a label by its effect on held-out
   loss, which depends on whether the label is right, not on who else gave it; a ring changes
   what quality control sees (agreement), which the engines model separately (``agreement``).
   At the sizes simulated a ring is a small share of the annotators, so two members rarely meet
   on one comparison of k; when they do, they split one share like any agreeing pair.
5. The score is rounded to a grid (:func:`score_resolution`: a power of two at most an eighth of
   the smallest per-judgment standard deviation, between 1/64 and 1 honest correct judgment), far
   below the spread of any contributor's score, so the rounding adds no visible bias, and keeps
   scores discrete: settlement groups contributors whose scores are identical
   (see :mod:`simulator.settlement`).

"True contribution" for the metrics is the expected score (``Z = 0``, no grid) with a sybil
cluster's work counted once (its accounts split it equally), clipped at zero: what a perfectly
measured attribution of that work would credit.

A profile that is missing, malformed or lacks the chosen method or overlap raises
:class:`AttributionProfileError` naming the file and the field.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from enum import IntEnum
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

PROFILE_SCHEMA = "ledgerloop-attribution-profile"
PROFILE_SCHEMA_VERSION = 1
FINEST_RESOLUTION = 1.0 / 64
COARSEST_RESOLUTION = 1.0
SITE_DEFAULT_OVERLAP = 3
COLLUDER_ASSUMPTION = (
    "colluders: a ring member's judgment scores like an honest judgment of the same correctness, with no "
    "credit shared beyond what agreeing honest annotators share (the harness simulates no rings)"
)


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
# Whose measured figures score each kind's judgments (the harness's annotator kinds).
PROFILE_KIND_OF = {
    Kind.HONEST: "honest",
    Kind.LAZY: "random",
    Kind.FLIPPER: "flip",
    Kind.SYBIL: "honest",
    Kind.COLLUDER: "honest",
}


class AttributionProfileError(ValueError):
    """The attribution profile file is missing, malformed or lacks what was asked; the message names
    the file and the field."""


def default_profile_path() -> Path:
    return Path(str(resources.files("simulator") / "data" / "attribution_profile.json"))


@dataclass(frozen=True)
class AttributionModelParams:
    """Which measured figures score the contributors' work (see the module docstring)."""

    profile: str = field(
        default="",
        metadata={"help": "Attribution profile JSON (empty: simulator/data/attribution_profile.json)."},
    )
    method: str = field(
        default="",
        metadata={"help": "Attribution method whose figures are used (empty: the profile's paid method)."},
    )
    overlap: int = field(
        default=SITE_DEFAULT_OVERLAP,
        metadata={"help": "Judgments per comparison (k) whose figures are used; the site's default is 3."},
    )
    by_kind: bool = field(
        default=False,
        metadata={"help": "Score each kind with its own annotators' figures instead of the pooled ones."},
    )

    def __post_init__(self) -> None:
        if not isinstance(self.profile, str) or not isinstance(self.method, str):
            raise ValueError("AttributionModelParams: profile and method are text")
        if isinstance(self.overlap, bool) or not isinstance(self.overlap, int) or self.overlap < 1:
            raise ValueError(f"AttributionModelParams.overlap: an integer >= 1, got {self.overlap!r}")
        if not isinstance(self.by_kind, bool):
            raise ValueError(f"AttributionModelParams.by_kind: true or false, got {self.by_kind!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttributionModelParams:
        known = {"profile", "method", "overlap", "by_kind"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)


@dataclass(frozen=True)
class AttributionFigures:
    """The figures of one method and overlap, as arrays indexed by :class:`Kind`."""

    mean_correct: np.ndarray
    sd_correct: np.ndarray
    mean_wrong: np.ndarray
    sd_wrong: np.ndarray
    copy_counts: np.ndarray  # m, starting at 1
    copy_cluster_credit: np.ndarray  # what m copies earn together over one judgment alone
    method: str
    overlap: int
    by_kind: bool
    source: str  # file name and data hash, for manifests

    @property
    def resolution(self) -> float:
        return score_resolution(self)

    def summary(self) -> dict[str, Any]:
        """Plain data for a run's manifest."""
        return {
            "method": self.method,
            "overlap": self.overlap,
            "by_kind": self.by_kind,
            "resolution": self.resolution,
            "source": self.source,
            "per_kind": {
                kind.label: {
                    "mean_correct": float(self.mean_correct[kind]),
                    "sd_correct": float(self.sd_correct[kind]),
                    "mean_wrong": float(self.mean_wrong[kind]),
                    "sd_wrong": float(self.sd_wrong[kind]),
                }
                for kind in Kind
            },
            "copies": dict(zip(self.copy_counts.tolist(), self.copy_cluster_credit.tolist(), strict=True)),
            "colluder_assumption": COLLUDER_ASSUMPTION,
        }


# --- reading the profile -----------------------------------------------------------------------


def _field(data: Any, path: list[str], where: str) -> Any:
    value = data
    for depth, name in enumerate(path):
        if not isinstance(value, dict) or name not in value:
            raise AttributionProfileError(f"{where}: field {'.'.join(path[: depth + 1])} is missing")
        value = value[name]
    return value


def _number(data: Any, path: list[str], where: str, *, minimum: float | None = None) -> float:
    value = _field(data, path, where)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AttributionProfileError(
            f"{where}: field {'.'.join(path)} must be a finite number, got {value!r}"
        )
    if minimum is not None and value < minimum:
        raise AttributionProfileError(f"{where}: field {'.'.join(path)} must be >= {minimum}, got {value!r}")
    return float(value)


def load_profile(path: str | Path | None = None) -> dict[str, Any]:
    """The profile document, with its schema and version checked."""
    path = Path(path) if path else default_profile_path()
    where = str(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AttributionProfileError(
            f"{where}: no such attribution profile (regenerate it: see simulator/attribution_model.py)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AttributionProfileError(f"{where}: not a readable JSON file ({error})") from None
    if not isinstance(document, dict):
        raise AttributionProfileError(f"{where}: expected a JSON object, got {type(document).__name__}")
    if document.get("schema") != PROFILE_SCHEMA:
        raise AttributionProfileError(
            f"{where}: field schema must be {PROFILE_SCHEMA!r}, got {document.get('schema')!r}"
        )
    if document.get("schema_version") != PROFILE_SCHEMA_VERSION:
        raise AttributionProfileError(
            f"{where}: field schema_version must be {PROFILE_SCHEMA_VERSION}, got {document.get('schema_version')!r}"
        )
    return document


def figures_from_profile(
    document: dict[str, Any],
    *,
    method: str = "",
    overlap: int = SITE_DEFAULT_OVERLAP,
    by_kind: bool = False,
    where: str = "attribution profile",
) -> AttributionFigures:
    """One method's figures at one overlap, every field checked."""
    method = method or _field(document, ["paid_method"], where)
    methods = _field(document, ["methods"], where)
    if not isinstance(methods, dict) or method not in methods:
        known = ", ".join(sorted(methods)) if isinstance(methods, dict) else "none"
        raise AttributionProfileError(
            f"{where}: field methods.{method} is missing; measured methods: {known}"
        )
    overlaps = _field(methods[method], ["overlaps"], f"{where}: methods.{method}")
    base = ["methods", method, "overlaps", str(overlap)]
    if not isinstance(overlaps, dict) or str(overlap) not in overlaps:
        known = ", ".join(sorted(overlaps)) if isinstance(overlaps, dict) else "none"
        raise AttributionProfileError(
            f"{where}: field {'.'.join(base)} is missing; measured overlaps: {known}"
        )
    figures: dict[str, np.ndarray] = {}
    for name in ("mean_correct", "sd_correct", "mean_wrong", "sd_wrong"):
        statistic, outcome = name.split("_")
        values = []
        for kind in Kind:
            group = [*base, "judgments", PROFILE_KIND_OF[kind]] if by_kind else [*base, "pooled"]
            path = [*group, outcome, statistic]
            values.append(_number(document, path, where, minimum=0.0 if statistic == "sd" else None))
        figures[name] = np.array(values)
    copies_path = [*base, "copies"]
    counts = _field(document, [*copies_path, "counts"], where)
    credit = _field(document, [*copies_path, "cluster_credit"], where)
    if not (isinstance(counts, list) and isinstance(credit, list) and len(counts) == len(credit) and counts):
        raise AttributionProfileError(
            f"{where}: fields {'.'.join(copies_path)}.counts and .cluster_credit must be lists of the same length"
        )
    count_values = np.array(
        [_list_number(counts, i, [*copies_path, "counts"], where, minimum=1.0) for i in range(len(counts))]
    )
    credit_values = np.array(
        [
            _list_number(credit, i, [*copies_path, "cluster_credit"], where, minimum=0.0)
            for i in range(len(credit))
        ]
    )
    if count_values[0] != 1 or np.any(np.diff(count_values) <= 0):
        raise AttributionProfileError(
            f"{where}: field {'.'.join(copies_path)}.counts must start at 1 and increase, got {counts}"
        )
    inputs: dict[str, Any] = document["inputs"] if isinstance(document.get("inputs"), dict) else {}
    source = f"{Path(where).name} ({inputs.get('data_file', '?')}, sha256 {str(inputs.get('data_sha256', '?'))[:12]})"
    return AttributionFigures(
        copy_counts=count_values,
        copy_cluster_credit=credit_values,
        method=method,
        overlap=overlap,
        by_kind=by_kind,
        source=source,
        **figures,
    )


def _list_number(values: list[Any], index: int, path: list[str], where: str, *, minimum: float) -> float:
    value = values[index]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < minimum
    ):
        raise AttributionProfileError(
            f"{where}: field {'.'.join(path)}[{index}] must be a finite number >= {minimum}, got {value!r}"
        )
    return float(value)


def profile_path(params: AttributionModelParams = AttributionModelParams()) -> Path:
    """The profile file a scenario's attribution settings name (the shipped one when empty)."""
    return Path(params.profile) if params.profile else default_profile_path()


@functools.lru_cache(maxsize=8)
def attribution_figures(params: AttributionModelParams = AttributionModelParams()) -> AttributionFigures:
    """The figures a scenario's contributors are scored with (read once per process)."""
    path = profile_path(params)
    return figures_from_profile(
        load_profile(path),
        method=params.method,
        overlap=params.overlap,
        by_kind=params.by_kind,
        where=str(path),
    )


def profile_provenance(params: AttributionModelParams = AttributionModelParams()) -> dict[str, Any]:
    """What identifies the figures a scenario is scored with, for a sweep's manifest: the profile
    file (name and sha256 of its bytes), when and from what it was measured (the data file and its
    sha256, the harness's seed and command, as the profile records them; None where it does not)
    and which of its figures are used (method, overlap, pooled or by kind)."""
    path = profile_path(params)
    document = load_profile(path)  # a missing or malformed file is refused here, naming it
    inputs: dict[str, Any] = document["inputs"] if isinstance(document.get("inputs"), dict) else {}
    return {
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "created_at": document.get("created_at"),
        "method": params.method or document.get("paid_method"),
        "paid_method": document.get("paid_method"),
        "overlap": params.overlap,
        "by_kind": params.by_kind,
        "data_file": inputs.get("data_file"),
        "data_sha256": inputs.get("data_sha256"),
        "seed": inputs.get("seed"),
        "command": inputs.get("command"),
    }


# --- scoring -------------------------------------------------------------------------------------


def correct_probability(kinds: ArrayLike, quality: ArrayLike) -> np.ndarray:
    """Probability that one judgment is correct, per contributor (step 1 of the model).

    ``quality`` is the contributor's own quality for honest and flipper, the operator's for a
    sybil account and the ring's for a colluder; it is ignored for lazy clickers.
    """
    kinds = np.asarray(kinds)
    quality = np.asarray(quality, dtype=np.float64)
    probability = np.where(kinds == Kind.FLIPPER, 1.0 - quality, quality)
    correct: np.ndarray = np.where(kinds == Kind.LAZY, 0.5, probability)
    return correct


def draw_noise(rng: np.random.Generator, size: int | None = None) -> Any:
    """The standard normal ``Z`` of step 2: one per contributor (or sybil cluster) and epoch."""
    return rng.standard_normal(size)


def score_resolution(figures: AttributionFigures) -> float:
    """Grid the scores are rounded to (step 5): a power of two, so grid points are exact floats."""
    smallest = float(min(figures.sd_correct.min(), figures.sd_wrong.min()))
    if smallest <= 0:
        return FINEST_RESOLUTION
    return float(np.clip(2.0 ** math.floor(math.log2(smallest / 8)), FINEST_RESOLUTION, COARSEST_RESOLUTION))


def copy_share(duplicates: np.ndarray, figures: AttributionFigures) -> np.ndarray:
    """What each of m copies of a judgment earns, as a share of the judgment alone (step 3)."""
    m = np.maximum(np.asarray(duplicates, dtype=np.float64), 1.0)
    counts, credit = figures.copy_counts, figures.copy_cluster_credit
    cluster = np.interp(np.log(m), np.log(counts), credit)  # held at the ends
    share: np.ndarray = cluster / m
    return share


def scores(
    kinds: np.ndarray,
    counts: np.ndarray,
    correct: np.ndarray,
    duplicates: np.ndarray,
    noise: np.ndarray,
    figures: AttributionFigures,
) -> np.ndarray:
    """Attribution score per contributor for the epoch (steps 2, 3 and 5 of the model)."""
    kinds = np.asarray(kinds)
    correct = np.asarray(correct, dtype=np.float64)
    wrong = np.asarray(counts, dtype=np.float64) - correct
    mean = correct * figures.mean_correct[kinds] + wrong * figures.mean_wrong[kinds]
    spread = np.sqrt(correct * figures.sd_correct[kinds] ** 2 + wrong * figures.sd_wrong[kinds] ** 2)
    raw = (mean + spread * np.asarray(noise, dtype=np.float64)) * copy_share(duplicates, figures)
    resolution = figures.resolution
    rounded: np.ndarray = np.round(raw / resolution) * resolution
    return rounded


def true_contribution(
    kinds: np.ndarray,
    counts: np.ndarray,
    p_correct: np.ndarray,
    duplicates: np.ndarray,
    figures: AttributionFigures,
) -> np.ndarray:
    """Expected score of the work, counted once per sybil cluster, clipped at zero."""
    kinds = np.asarray(kinds)
    p = np.asarray(p_correct, dtype=np.float64)
    per_judgment = p * figures.mean_correct[kinds] + (1.0 - p) * figures.mean_wrong[kinds]
    expected = np.asarray(counts, dtype=np.float64) * per_judgment / np.asarray(duplicates, dtype=np.float64)
    clipped: np.ndarray = np.maximum(expected, 0.0)
    return clipped
