"""How well contributor scores detect harmful annotators, over many simulated populations and overlaps.

One population gives one ROC AUC from a few dozen contributors (about 24 honest against 12 harmful), which
moves from one seed to the next (benchmarks/RESULTS.md, "Attribution: detection over many populations"). This study repeats the detection over `seeds` populations and
several overlaps k (judgments per comparison, so about k x comparisons / annotators judgments per contributor)
on the same real comparisons, held-out set and head settings as the validation harness, and reports the spread.
Per population it fits the head (numpy, cached features; L2 chosen by cross-validation when not given), scores
rows by exact influence, turns them into paid contributor scores with the project's credit rules, and refits
the head without each contributor (the "retraining" ceiling: what any attribution faithful to this model
could detect).

    study = detection_study(pool_features, eval_differences, pool, truth, settings)
    study["3"]["influence_auc"]["mean"]

The control separates the method from the model. On the real labels a head on frozen MiniLM embeddings predicts
the recorded choice little better than chance (benchmarks/RESULTS.md), so a contributor's labels say little the
head can check. Under
`representable_truth` the same comparisons get a truth such a head can learn (the side a head fitted to every
true label prefers), with a share `noise` of labels flipped so that the best accuracy is about 1 - noise: with
noise 0.25-0.30 it stands for a reward model as good as published ones on HH-RLHF (0.69-0.75 accuracy in the
literature), with the same
populations, credit rules and method.

    control_truth, control_eval = representable_truth(pool_features, eval_differences, truth, noise=0.3, seed=0)
    detection_study(pool_features, control_eval, pool, control_truth, settings)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlhf.attribution.influence import roc_auc
from rlhf.config import L2_GRID

HARMFUL_KINDS = ("random", "flip")


@dataclass(frozen=True)
class StudySettings:
    """The population and head settings of the harness, and what the study varies."""

    seeds: tuple[int, ...]
    overlaps: tuple[int, ...]
    annotators: int
    mix: str
    honest_accuracy: tuple[float, float]
    flip_accuracy: tuple[float, float]
    l2: float | None                  # None: cross-validated per population, as the harness does
    l2_grid: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.seeds or not self.overlaps:
            raise ValueError("the detection study needs at least one seed and one overlap")


def detection_study(pool_features: Mapping[str, tuple[np.ndarray, np.ndarray]], eval_differences: np.ndarray,
                    pool: Sequence[Any], truth: Mapping[str, str], settings: StudySettings) -> dict[str, Any]:
    """Detection AUC spread per overlap. `pool_features`: comparison id -> (phi of response a, phi of b);
    `eval_differences`: the held-out set's chosen - rejected features; `pool`: the training comparisons
    (objects with comparison_id, prompt, text_a, text_b, as the harness's `Comparison`)."""
    results: dict[str, Any] = {}
    for overlap in settings.overlaps:
        runs = [_one_population(pool_features, eval_differences, pool, truth, settings, overlap, seed)
                for seed in settings.seeds]
        results[str(overlap)] = {
            "seeds": list(settings.seeds),
            "judgments_per_contributor": float(np.mean([run["judgments_per_contributor"] for run in runs])),
            **{name: _spread([run[name] for run in runs])
               for name in ("influence_auc", "retraining_auc", "heldout_accuracy", "l2")},
        }
    return results


def representable_truth(pool_features: Mapping[str, tuple[np.ndarray, np.ndarray]], eval_differences: np.ndarray,
                        truth: Mapping[str, str], *, noise: float, seed: int,
                        l2_grid: Sequence[float] = L2_GRID) -> tuple[dict[str, str], np.ndarray]:
    """A truth the head can represent, on the same comparisons: (pool comparison id -> "a" or "b", the held-out
    differences re-oriented chosen - rejected). A head is fitted to the true labels of the pool and the held-out
    set together (L2 by cross-validation); its preferred side is the new truth, then each label (pool and held
    out) is flipped with probability `noise`, seeded."""
    from rlhf.linear_head import bradley_terry_fit, l2_cross_validated

    if not 0.0 <= noise < 0.5:
        raise ValueError(f"noise must be in [0, 0.5), got {noise}: at 0.5 the truth is a coin")
    ids = sorted(pool_features)
    missing = [cid for cid in ids if cid not in truth]
    if missing:
        raise ValueError(f"truth lacks {len(missing)} pool comparisons, e.g. {missing[0]!r}")
    a_minus_b = np.array([pool_features[cid][0] - pool_features[cid][1] for cid in ids])
    oriented = np.vstack([np.where(np.array([truth[cid] == "a" for cid in ids])[:, None], a_minus_b, -a_minus_b),
                          eval_differences])
    groups = ids + [f"held-out-{index}" for index in range(len(eval_differences))]
    weights, _ = bradley_terry_fit(oriented, l2=l2_cross_validated(oriented, groups, grid=l2_grid, seed=seed).l2)
    flipped = np.random.default_rng([seed, 13]).random(len(ids) + len(eval_differences)) < noise
    a_wins = (a_minus_b @ weights > 0) != flipped[:len(ids)]
    keep = (eval_differences @ weights > 0) != flipped[len(ids):]
    return ({cid: "a" if wins else "b" for cid, wins in zip(ids, a_wins, strict=True)},
            np.where(keep[:, None], eval_differences, -eval_differences))


def _spread(values: Sequence[float]) -> dict[str, Any]:
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "sd": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
            "min": float(array.min()), "max": float(array.max()), "values": array.tolist()}


def _one_population(pool_features: Mapping[str, tuple[np.ndarray, np.ndarray]], eval_differences: np.ndarray,
                    pool: Sequence[Any], truth: Mapping[str, str], settings: StudySettings, overlap: int,
                    seed: int) -> dict[str, float]:
    from rlhf.attribution.aggregate import attribution_aggregate
    from rlhf.attribution.methods import RowScores
    from rlhf.attribution.validation import each_export_rows
    from rlhf.linear_head import (
        bradley_terry_fit,
        bradley_terry_gradients,
        bradley_terry_hessian,
        bradley_terry_losses,
        l2_cross_validated,
    )
    from rlhf.quality.population import PopulationConfig, population_simulate

    population = population_simulate({c.comparison_id: truth[c.comparison_id] for c in pool}, PopulationConfig(
        n_annotators=settings.annotators, overlap=overlap, mix=settings.mix, seed=seed,
        honest_accuracy=settings.honest_accuracy, flip_accuracy=settings.flip_accuracy, id_prefix="ann-"))
    rows = each_export_rows(pool, population.judgments)
    kinds = {annotator.annotator_id: annotator.kind for annotator in population.annotators}
    judgments = [population.judgments[row.judgment_ids[0] - 1] for row in rows]
    comparison_of = [str(judgment.comparison_id) for judgment in judgments]
    # a row's chosen side is the response its judgment picked
    sign = np.array([1.0 if judgment.choice == "a" else -1.0 for judgment in judgments])
    differences = sign[:, None] * np.array([pool_features[cid][0] - pool_features[cid][1] for cid in comparison_of])
    l2 = settings.l2 if settings.l2 is not None else l2_cross_validated(
        differences, comparison_of, grid=settings.l2_grid, seed=seed).l2
    weights, _ = bradley_terry_fit(differences, l2=l2)
    full_loss = float(bradley_terry_losses(weights, eval_differences).mean())
    direction = np.linalg.solve(bradley_terry_hessian(weights, differences, l2=l2),
                                bradley_terry_gradients(weights, eval_differences).mean(axis=0))
    row_scores = bradley_terry_gradients(weights, differences) @ direction / len(differences)
    paid = attribution_aggregate(rows, RowScores({row.row_id: float(score)
                                                  for row, score in zip(rows, row_scores, strict=True)})).contributors
    owner = np.array([row.contributor_ids[0] for row in rows])
    retrained = {who: float(bradley_terry_losses(bradley_terry_fit(differences[owner != who], l2=l2)[0],
                                                 eval_differences).mean()) - full_loss for who in paid}

    def auc(scores: Mapping[str, float]) -> float:
        return roc_auc([s for who, s in scores.items() if kinds[who] == "honest"],
                       [s for who, s in scores.items() if kinds[who] in HARMFUL_KINDS])

    return {"influence_auc": auc(paid), "retraining_auc": auc(retrained), "l2": l2,
            "heldout_accuracy": float((eval_differences @ weights > 0).mean()),
            "judgments_per_contributor": len(rows) / len(paid)}

