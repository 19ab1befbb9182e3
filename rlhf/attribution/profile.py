"""Attribution profile: how a judgment's paid score depends on who gave it and whether it was right.

    .venv/bin/python benchmarks/bench_attribution.py --comparisons 1000 --loo-contributors 10 --lds-subsets 10 \\
        --scaling '' --profile simulator/data/attribution_profile.json

The validation harness (rlhf.attribution.validation) knows, for every judgment it exports, the simulated
annotator's kind and accuracy and whether the judgment agrees with the true answer; the attribution run gives the
judgment's paid score (credit rules applied: agreeing judgments on a comparison share one share). This module
turns those into a small, versioned JSON document: the measured figures an economy simulation draws each
contributor's per-epoch attribution from, without importing anything of rlhf. The simulator reads it
(simulator.attribution_model); the contract is this document, described here.

Schema (``schema_version`` 1):

    {"schema": "ledgerloop-attribution-profile", "schema_version": 1, "created_at": ISO time,
     "paid_method": the method the site pays with by default for the model the harness trains (a linear head),
     "normalisation": text, "inputs": {"data_file", "data_sha256", "seed", "config", "versions", "command"},
     "heads": {"K": {"rows", "contributors", "kinds", "heldout_accuracy", "heldout_loss",  # the model scored
                     "features", "l2_choice"}},   # what the head read, its L2 and the cross-validation curve
     "methods": {METHOD: {"overlaps": {"K": {                      # K: judgments per comparison
         "unit": the raw mean paid score of an honest correct judgment (all figures below are divided by it),
         "judgments": {KIND: {"correct": FIG, "wrong": FIG, "no_preference": n}},   # KIND: honest, random, flip,
                                                                   #   duplicate (copies another annotator)
         "pooled": {"correct": FIG, "wrong": FIG, "kinds": [...], "kind_difference_z": {KIND: {"correct", "wrong"}}},
         "by_accuracy": {KIND: {"intercept", "slope", "residual_sd", "contributors"}},
         "copies": {"counts": [1, 2, ...], "cluster_credit": [1.0, ...], "share_per_copy": [1.0, ...],
                    "sample": n}}}}}}
    FIG = {"mean", "sd", "n", "quantiles": [5%, 25%, 50%, 75%, 95%]}

- ``judgments``: paid score per judgment, divided by ``unit``, for judgments that agree with the true answer
  (``correct``) and for the others (``wrong``; a tie or "both bad" exports no row and scores 0, and is counted
  as wrong, ``no_preference`` of them). Only ratios matter to emission policies, hence the normalisation.
- ``pooled``: the same over the judgments of honest, random and flipping annotators together (duplicates left
  out: they repeat someone's answers), and how far each kind's mean is from the pooled one in standard errors
  (``kind_difference_z``): whether a judgment's score depends on who gave it, beyond whether it was right.
- ``by_accuracy``: a least-squares line through each contributor's mean paid score per judgment (normalised)
  against their accuracy, with the spread of contributors around it: how score depends on quality.
- ``copies``: m accounts give one judgment's label to the same comparison (a sybil duplicating its own work):
  ``cluster_credit[i]`` is what the m copies earn together over what the one judgment earned alone (over
  ``sample`` honest correct judgments, the head retrained with the copies; see `copy_figures`), and
  ``share_per_copy`` that over m.

A method whose honest correct judgments do not score above zero on average cannot be normalised: its
``unit`` is recorded and its figures are null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

PROFILE_SCHEMA = "ledgerloop-attribution-profile"
PROFILE_SCHEMA_VERSION = 1
PROFILE_KINDS = ("honest", "random", "flip", "duplicate")
POOLED_KINDS = ("honest", "random", "flip")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# What the site pays a linear head's attribution with when nobody chooses (feedback_site.attribution.services).
PAID_METHOD = "influence-exact"
NORMALISATION = ("every score is divided by the mean paid score of an honest annotator's correct judgment, for "
                 "the same method and overlap: only ratios matter to emission policies")


def _figure(values: npt.ArrayLike) -> dict[str, Any]:
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return {"mean": None, "sd": None, "n": 0, "quantiles": None}
    return {"mean": float(array.mean()), "sd": float(array.std(ddof=1)) if array.size > 1 else 0.0,
            "n": int(array.size), "quantiles": [float(q) for q in np.quantile(array, QUANTILES)]}


def judgment_figures(judgment_scores: Mapping[int, float], judgments: Sequence[Any], truth: Mapping[str, str],
                     kinds: Mapping[str, str], accuracy: Mapping[str, float]) -> dict[str, Any]:
    """The ``unit``, ``judgments`` and ``by_accuracy`` parts of one method at one overlap.

    `judgment_scores`: judgment id -> paid score (an attribution report's "judgments"; judgments that exported no
    row are absent and score 0). `judgments`: the population's judgments, whose ids are their positions from 1.
    """
    samples: dict[tuple[str, bool], list[float]] = {}
    no_preference: dict[str, int] = {}
    per_contributor: dict[str, list[float]] = {}
    for judgment_id, judgment in enumerate(judgments, start=1):
        kind = kinds[judgment.annotator_id]
        correct = judgment.choice == truth[str(judgment.comparison_id)]
        score = float(judgment_scores.get(judgment_id, 0.0))
        samples.setdefault((kind, correct), []).append(score)
        per_contributor.setdefault(judgment.annotator_id, []).append(score)
        if judgment.choice not in ("a", "b"):
            no_preference[kind] = no_preference.get(kind, 0) + 1
    honest_correct = samples.get(("honest", True), [])
    unit = float(np.mean(honest_correct)) if honest_correct else math.nan
    usable = math.isfinite(unit) and unit > 0
    scale = 1.0 / unit if usable else math.nan
    figures: dict[str, Any] = {"unit": unit, "judgments": None, "pooled": None, "by_accuracy": None}
    if not usable:
        return figures
    figures["judgments"] = {
        kind: {"correct": _figure(np.asarray(samples.get((kind, True), [])) * scale),
               "wrong": _figure(np.asarray(samples.get((kind, False), [])) * scale),
               "no_preference": no_preference.get(kind, 0)}
        for kind in PROFILE_KINDS if (kind, True) in samples or (kind, False) in samples}
    pooled: dict[str, Any] = {"kinds": list(POOLED_KINDS), "kind_difference_z": {}}
    for outcome, correct in (("correct", True), ("wrong", False)):
        values = np.concatenate([np.asarray(samples.get((kind, correct), []), dtype=np.float64) * scale
                                 for kind in POOLED_KINDS])
        pooled[outcome] = _figure(values)
        for kind in POOLED_KINDS:
            own = np.asarray(samples.get((kind, correct), []), dtype=np.float64) * scale
            if own.size > 1 and values.size > 1:
                error = values.std(ddof=1) / math.sqrt(own.size)
                pooled["kind_difference_z"].setdefault(kind, {})[outcome] = (
                    float((own.mean() - values.mean()) / error) if error > 0 else 0.0)
    figures["pooled"] = pooled
    figures["by_accuracy"] = {}
    for kind in ("honest", "flip"):
        people = [who for who in per_contributor if kinds[who] == kind]
        if len(people) < 3:
            continue
        x = np.array([accuracy[who] for who in people])
        y = np.array([np.mean(per_contributor[who]) * scale for who in people])
        slope, intercept = np.polyfit(x, y, 1)
        residual = y - (intercept + slope * x)
        figures["by_accuracy"][kind] = {"intercept": float(intercept), "slope": float(slope),
                                        "residual_sd": float(residual.std(ddof=2)) if len(people) > 2 else 0.0,
                                        "contributors": len(people)}
    return figures


def copy_figures(counts: Sequence[int], cluster_totals: Sequence[Sequence[float]]) -> dict[str, Any]:
    """The ``copies`` part. `cluster_totals[i][j]`: what judgment j and its counts[i] - 1 copies earned together;
    `counts` starts with 1 (the judgments alone, head retrained the same way).

    The cluster credit at m is the least-squares slope through the origin of those totals against the credit
    alone: a judgment's score is mostly its row's own influence, large or small, positive or negative, and
    copies scale it, so a slope compares like with like where a ratio of sums could divide by nearly nothing.
    """
    alone = np.asarray(cluster_totals[0], dtype=np.float64)
    weight = float(alone @ alone)
    ratios = [float(np.asarray(totals, dtype=np.float64) @ alone / weight) if weight > 0 else math.nan
              for totals in cluster_totals]
    return {"counts": [int(m) for m in counts], "cluster_credit": ratios,
            "share_per_copy": [ratio / m for ratio, m in zip(ratios, counts, strict=True)],
            "sample": int(alone.size)}


def attribution_profile(results: Mapping[str, Any], *, data_sha256: str, versions: Mapping[str, str],
                        command: str = "") -> dict[str, Any]:
    """The profile document from a validation run's results (`validation_run` with profile figures on)."""
    methods: dict[str, Any] = {}
    for overlap, measured in results["overlaps"].items():
        for method, figures in measured["methods"].items():
            profile = figures.get("profile")
            if profile is None:
                raise ValueError(f"overlap {overlap}, method {method}: the results carry no profile figures; "
                                 "run the harness with a profile requested")
            methods.setdefault(method, {"overlaps": {}})["overlaps"][str(overlap)] = profile
    config = results["config"]
    return {
        "schema": PROFILE_SCHEMA,
        "schema_version": PROFILE_SCHEMA_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "paid_method": PAID_METHOD if PAID_METHOD in methods else next(iter(methods)),
        "normalisation": NORMALISATION,
        "inputs": {"data_file": Path(config["data_path"]).name, "data_sha256": data_sha256, "seed": config["seed"],
                   "config": {key: value for key, value in config.items() if key not in ("data_path", "work_dir",
                                                                                        "embedding_cache_dir")},
                   "versions": dict(versions), "command": command},
        "heads": {str(overlap): {**{key: measured[key] for key in ("rows", "contributors", "kinds",
                                                                     "heldout_accuracy", "heldout_loss")},
                                 "features": config.get("head_features", "conversation"),
                                 "l2_choice": measured.get("l2_choice")}
                  for overlap, measured in results["overlaps"].items()},
        "methods": methods,
    }


def attribution_profile_write(profile: Mapping[str, Any], path: str | Path) -> Path:
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(_json_ready(profile), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def _json_ready(value: Any) -> Any:
    """Plain JSON: numpy scalars as Python numbers, floats to 6 significant digits, non-finite ones as null."""
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else None
    return value
