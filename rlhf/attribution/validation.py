"""Validation harness: do attribution scores find bad annotators, and do they predict what retraining shows?

    python benchmarks/bench_attribution.py                       # full figures (1000 real HH-RLHF comparisons)
    python benchmarks/bench_attribution.py --comparisons 200 --loo-contributors 8

Real comparisons (HH-RLHF harmless: the recorded human choice is the truth) are judged by a simulated population
(rlhf.quality.population: honest annotators of different accuracies, random clickers, annotators who flip most
labels, duplicates of others), exported one row per judgment (the site's "each" aggregation), and a linear
Bradley-Terry head is trained on MiniLM embeddings of them. A held-out set of comparisons with their true labels
is the evaluation set. Then, for every method, at overlap k = 3 and k = 1:

- detection: ROC AUC of contributor scores, honest (positive class) against harmful (random + flip), and
  against flippers only; duplicates are left out (they are as good as whom they copy). Target >= 0.90.
- counterfactual truth: the head is refitted without each contributor's rows and the change in held-out loss
  measured; Spearman between that change and the score, over a sample of contributors (paid scores, and raw
  scores without the duplicate rule). Target >= 0.6. The changes themselves, used as scores, are the
  "retraining" row: the detection that an attribution faithful to this model could reach.
- linear datamodeling score (LDS): heads refitted on random halves of the rows; Spearman between each half's
  held-out loss and the loss the row scores predict for it (the full-data loss plus the scores of the rows left
  out).
- cost: wall time of one attribution run over the wall time of one training run on the same (already
  embedded) rows, which for this head is one full fit; target <= 3x. And how it grows with the number of rows.

The head's fits here use `bradley_terry_fit` on the same cached embeddings with the run's L2, so a refit is
the training run minus some rows, nothing else. The head reads the conversation's and the reply's embeddings
(`head_features`), and its L2 is chosen per overlap by cross-validated preference accuracy on the training
rows with the one-standard-error rule (rlhf.linear_head.l2_cross_validated); the curve is in the output.

One population is a few dozen contributors, so its AUC moves from seed to seed; the detection study
(rlhf.attribution.detection_study) repeats influence-exact and retraining over `study_seeds` populations and
overlaps `study_overlaps`, which shows the spread and how detection grows with judgments per contributor.
Retraining, the refit without each contributor, is what any attribution faithful to this head could detect:
where influence comes close to it, the limit is the model, not the method.

The control (`study_control_noise`, rlhf.attribution.detection_study.representable_truth) keeps comparisons,
populations, credit rules and method, and gives the comparisons a truth a head on these features can represent,
with a share of its labels flipped: it says how much of the labels a reward model must represent for the
method to reach the target, to set beside what the frozen MiniLM features represent of the recorded choices.
The figures of both are in benchmarks/RESULTS.md ("Attribution: detection over many populations").
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rlhf.attribution.influence import roc_auc, spearman
from rlhf.attribution.methods import BUILTIN_ORDER
from rlhf.config import L2_GRID
from rlhf.data import PreferenceRow

if TYPE_CHECKING:
    from rlhf.config import RewardTrainingConfig

DEFAULT_DATA = Path("..") / "shared" / "data" / "hh-rlhf-harmless-1k.jsonl"   # relative to the repository root
ALL_METHODS = BUILTIN_ORDER
HARMFUL_KINDS = ("random", "flip")
TIMING_REPEATS = 3


@dataclass(frozen=True)
class Comparison:
    comparison_id: str
    prompt: str
    text_a: str
    text_b: str


def comparisons_with_truth(rows: Sequence[PreferenceRow], *, seed: int) -> tuple[list[Comparison], dict[str, str]]:
    """Comparisons whose responses a and b are the rows' replies in a seeded random order, and the truth
    (comparison id -> "a" or "b": the reply the row says won). Rows whose replies are equal are skipped."""
    rng = np.random.default_rng([seed, 11])
    comparisons, truth = [], {}
    for index, row in enumerate(rows):
        if row.chosen == row.rejected:
            continue
        comparison_id = str(index)
        chosen_is_a = bool(rng.random() < 0.5)
        first, second = (row.chosen, row.rejected) if chosen_is_a else (row.rejected, row.chosen)
        comparisons.append(Comparison(comparison_id, row.prompt, first, second))
        truth[comparison_id] = "a" if chosen_is_a else "b"
    return comparisons, truth


def each_export_rows(comparisons: Iterable[Comparison], judgments: Iterable[Any], *,
                     first_judgment_id: int = 1) -> list[PreferenceRow]:
    """The site's "each" export: one row per judgment that prefers a or b (ties and both-bad give none), with
    row id `j-<judgment id>`, in judgment order. `judgments`: rlhf.quality `Judgment`s (or anything with
    comparison_id, annotator_id and choice)."""
    by_id = {comparison.comparison_id: comparison for comparison in comparisons}
    rows = []
    for judgment_id, judgment in enumerate(judgments, start=first_judgment_id):
        if judgment.choice not in ("a", "b"):
            continue
        comparison = by_id[str(judgment.comparison_id)]
        won, lost = ((comparison.text_a, comparison.text_b) if judgment.choice == "a"
                     else (comparison.text_b, comparison.text_a))
        rows.append(PreferenceRow(f"j-{judgment_id}", comparison.prompt, won, lost, judgment_ids=(judgment_id,),
                                  contributor_ids=(str(judgment.annotator_id),)))
    return rows


def truth_rows(comparisons: Iterable[Comparison], truth: Mapping[str, str]) -> list[PreferenceRow]:
    """Each comparison as one row labelled with its true answer (the evaluation set)."""
    return [PreferenceRow(f"truth-{c.comparison_id}", c.prompt,
                          c.text_a if truth[c.comparison_id] == "a" else c.text_b,
                          c.text_b if truth[c.comparison_id] == "a" else c.text_a) for c in comparisons]


@dataclass
class ValidationConfig:
    """What the harness builds and measures; the defaults are the full benchmark."""

    data_path: str = field(default=str(DEFAULT_DATA), metadata={
        "help": "HH-RLHF style JSONL of real comparisons; the recorded choice is the truth."})
    comparisons: int = field(default=1000, metadata={"help": "Comparisons read from data_path (at most)."})
    eval_comparisons: int = field(default=200, metadata={
        "help": "Comparisons kept out of training, with their true labels, as the evaluation set."})
    annotators: int = field(default=40, metadata={"help": "Simulated annotators."})
    overlaps: tuple[int, ...] = field(default=(3, 1), metadata={"help": "Values of k (judgments per comparison)."})
    mix: str = field(default="honest=0.6,random=0.15,flip=0.15,duplicate=0.1", metadata={
        "help": "Population mix (rlhf.quality.population kinds)."})
    honest_accuracy: tuple[float, float] = field(default=(0.65, 0.95), metadata={
        "help": "Range of honest annotators' accuracies."})
    flip_accuracy: tuple[float, float] = field(default=(0.1, 0.2), metadata={
        "help": "Range of flipping annotators' accuracies (they flip 80-90% of labels)."})
    methods: tuple[str, ...] = field(default=ALL_METHODS, metadata={"help": "Methods compared."})
    loo_contributors: int = field(default=20, metadata={
        "help": "Contributors whose leave-one-contributor-out retraining is the counterfactual truth."})
    lds_subsets: int = field(default=40, metadata={"help": "Random halves for the linear datamodeling score; 0: skip."})
    scaling_fractions: tuple[float, ...] = field(default=(0.25, 0.5, 1.0), metadata={
        "help": "Shares of the training rows timed to see how cost grows (at the first overlap); () skips."})
    head_features: str = field(default="conversation+reply", metadata={"help": (
        "What the head reads of a reply (rlhf.linear_head.FEATURE_CHOICES). conversation+reply: 5-fold "
        "cross-validated accuracy on the 1000 true labels about 0.63, against 0.60 for conversation alone.")})
    l2: float | None = field(default=None, metadata={"help": (
        "L2 strength of the head (its training objective); None: chosen per overlap from l2_grid by 5-fold "
        "cross-validated preference accuracy on the training rows (rlhf.linear_head.l2_cross_validated).")})
    l2_grid: tuple[float, ...] = field(default=L2_GRID, metadata={
        "help": "L2 strengths cross-validation chooses from when l2 is None."})
    encoder_max_length: int = field(default=256, metadata={"help": "Tokens the encoder reads per text."})
    embedding_cache_dir: str | None = field(default=None, metadata={
        "help": "Embedding cache (default: the user's cache, so a second run encodes nothing)."})
    work_dir: str | None = field(default=None, metadata={"help": "Where run folders go (default: a temp folder)."})
    seed: int = field(default=0, metadata={"help": "Seed of the split, the population and the subsets."})
    study_seeds: int = field(default=3, metadata={"help": (
        "Populations (seeds seed, seed+1, ...) of the detection study (rlhf.attribution.detection_study): the "
        "spread of detection AUC across populations and overlaps; 0 skips it.")})
    study_overlaps: tuple[int, ...] = field(default=(1, 3, 5), metadata={
        "help": "Overlaps k of the detection study: more judgments per contributor, more evidence about each."})
    study_control_noise: tuple[float, ...] = field(default=(), metadata={"help": (
        "Label noise of the detection study's control (rlhf.attribution.detection_study.representable_truth): "
        "the same study under a truth the head can learn up to about 1 - noise, e.g. 0.3 for a reward model as "
        "good as published ones on HH-RLHF; () skips it.")})
    profile_copies: tuple[int, ...] = field(default=(), metadata={"help": (
        "Copy counts m (> 1) for the attribution profile's duplicate experiment: m accounts give one judgment's "
        "label to the same comparison, the head is retrained with them (rlhf.attribution.profile); () skips it.")})
    profile_copy_sample: int = field(default=40, metadata={
        "help": "Honest correct judgments copied in that experiment (their credit is summed)."})

    def __post_init__(self) -> None:
        if self.eval_comparisons < 2 or self.comparisons <= self.eval_comparisons + 10:
            raise ValueError(f"comparisons ({self.comparisons}) must exceed eval_comparisons "
                             f"({self.eval_comparisons}) by more than 10, with at least 2 held out")
        if (any(k < 1 or k > self.annotators for k in (*self.overlaps, *self.study_overlaps))
                or not self.overlaps or (self.study_seeds and not self.study_overlaps)):
            raise ValueError(f"overlaps and study_overlaps must be between 1 and annotators ({self.annotators}), "
                             f"got {self.overlaps} and {self.study_overlaps}")
        unknown = sorted(set(self.methods) - set(ALL_METHODS))
        if unknown:
            raise ValueError(f"unknown methods {unknown}; known: {ALL_METHODS}")
        if (self.l2 is not None and self.l2 <= 0) or not self.l2_grid or min(self.l2_grid) <= 0:
            raise ValueError(f"l2 ({self.l2}) and every value of l2_grid ({self.l2_grid}) must be > 0")
        if any(not 0 < share <= 1 for share in self.scaling_fractions):
            raise ValueError(f"scaling_fractions must be in (0, 1], got {self.scaling_fractions}")
        if any(m < 2 for m in self.profile_copies) or self.profile_copy_sample < 1:
            raise ValueError(f"profile_copies must be counts >= 2 (got {self.profile_copies}) and "
                             f"profile_copy_sample >= 1 (got {self.profile_copy_sample})")
        if any(not 0 <= noise < 0.5 for noise in self.study_control_noise) or (
                self.study_control_noise and not self.study_seeds):
            raise ValueError(f"study_control_noise must be in [0, 0.5) (got {self.study_control_noise}) and needs "
                             f"study_seeds > 0 (got {self.study_seeds})")


@dataclass
class _Scenario:
    """One overlap's data, trained head and cached embedding differences."""

    overlap: int
    rows: list[PreferenceRow]
    eval_rows: list[PreferenceRow]
    kinds: dict[str, str]               # contributor -> simulated kind
    model_dir: Path
    epoch_seconds: float
    train_differences: np.ndarray
    eval_differences: np.ndarray
    full_weights: np.ndarray
    full_eval_loss: float
    l2_choice: dict[str, Any]           # the head's L2 and, when cross-validated, the curve it came from
    judgments: tuple[Any, ...] = ()     # the population's judgments; judgment id = position + 1
    truth: Mapping[str, str] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)   # contributor -> simulated accuracy


def validation_run(config: ValidationConfig | None = None, *,
                   progress: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Build the scenarios, run every method, measure. Returns a JSON-ready dict (see `validation_table`)."""
    from rlhf.data import preference_rows_load

    config = config or ValidationConfig()
    say = progress or (lambda message: None)
    work = Path(config.work_dir) if config.work_dir else Path(tempfile.mkdtemp(prefix="attribution-validation-"))
    all_rows = preference_rows_load(config.data_path)[:config.comparisons]
    comparisons, truth = comparisons_with_truth(all_rows, seed=config.seed)
    order = np.random.default_rng([config.seed, 12]).permutation(len(comparisons))
    held_out = [comparisons[i] for i in sorted(order[:config.eval_comparisons])]
    pool = [comparisons[i] for i in sorted(order[config.eval_comparisons:])]
    eval_rows = truth_rows(held_out, truth)
    results: dict[str, Any] = {"config": _plain(dataclasses.asdict(config)), "work_dir": str(work),
                               "comparisons": {"train_pool": len(pool), "eval": len(eval_rows)}, "overlaps": {}}
    for overlap in config.overlaps:
        say(f"k={overlap}: simulating annotators and training the head")
        scenario = _scenario(config, pool, truth, eval_rows, overlap, work)
        head_config = dataclasses.replace(config, l2=scenario.l2_choice["l2"])
        results["overlaps"][str(overlap)] = _measure(head_config, scenario, say,
                                                     with_scaling=overlap == config.overlaps[0])
        results["overlaps"][str(overlap)]["l2_choice"] = scenario.l2_choice
    if config.study_seeds:
        say(f"detection study: {config.study_seeds} populations at k = {config.study_overlaps}")
        results.update(_detection_study(config, pool, truth, eval_rows, say))
    return results


def _detection_study(config: ValidationConfig, pool: list[Comparison], truth: Mapping[str, str],
                     eval_rows: list[PreferenceRow], say: Callable[[str], Any]) -> dict[str, Any]:
    """`detection_study` on the real labels and, for each `study_control_noise`, under its control truth."""
    from rlhf.attribution.detection_study import StudySettings, detection_study, representable_truth
    from rlhf.linear_head import EmbeddingCache, TextEncoder, default_cache_dir, pair_features, text_features

    encoder = TextEncoder(None, max_length=config.encoder_max_length, device="cpu")
    cache = EmbeddingCache(Path(config.embedding_cache_dir) if config.embedding_cache_dir else default_cache_dir(),
                           encoder.encoder_id)
    prompts = [c.prompt for c in pool]
    sides = text_features(encoder, cache, prompts + prompts, [c.text_a for c in pool] + [c.text_b for c in pool],
                          config.head_features)
    chosen, rejected = pair_features(encoder, cache, eval_rows, config.head_features)
    settings = StudySettings(seeds=tuple(range(config.seed, config.seed + config.study_seeds)),
                             overlaps=config.study_overlaps, annotators=config.annotators, mix=config.mix,
                             honest_accuracy=config.honest_accuracy, flip_accuracy=config.flip_accuracy,
                             l2=config.l2, l2_grid=config.l2_grid)
    features = {c.comparison_id: (sides[i], sides[len(pool) + i]) for i, c in enumerate(pool)}
    results = {"detection_study": detection_study(features, chosen - rejected, pool, truth, settings)}
    for noise in config.study_control_noise:
        say(f"detection study control: a truth the head can represent, label noise {noise:g}")
        control_truth, control_eval = representable_truth(features, chosen - rejected, truth, noise=noise,
                                                          seed=config.seed, l2_grid=config.l2_grid)
        results.setdefault("detection_study_control", {})[f"{noise:g}"] = detection_study(
            features, control_eval, pool, control_truth, settings)
    return results


def _scenario(config: ValidationConfig, pool: list[Comparison], truth: Mapping[str, str],
              eval_rows: list[PreferenceRow], overlap: int, work: Path) -> _Scenario:
    from rlhf.attribution.aggregate import comparison_key
    from rlhf.linear_head import LinearHeadModel, bradley_terry_losses, l2_cross_validated
    from rlhf.quality.population import PopulationConfig, population_simulate

    population = population_simulate({c.comparison_id: truth[c.comparison_id] for c in pool}, PopulationConfig(
        n_annotators=config.annotators, overlap=overlap, mix=config.mix, seed=config.seed,
        honest_accuracy=config.honest_accuracy, flip_accuracy=config.flip_accuracy, id_prefix="ann-"))
    rows = each_export_rows(pool, population.judgments)
    kinds = {annotator.annotator_id: annotator.kind for annotator in population.annotators}
    model_dir = work / f"head-k{overlap}"
    chosen, rejected = _embed_all(config, rows + eval_rows)
    if config.l2 is None:
        choice = l2_cross_validated(chosen[:len(rows)] - rejected[:len(rows)],
                                    [comparison_key(row)[0] for row in rows], grid=config.l2_grid, seed=config.seed)
        l2_choice = choice.as_dict()
    else:
        l2_choice = {"l2": config.l2, "rule": "given"}
    config = dataclasses.replace(config, l2=l2_choice["l2"])
    epoch_seconds = math.inf
    for _ in range(TIMING_REPEATS):   # the best of a few: the machine may be busy with other work
        started = time.perf_counter()
        _train_head(config, rows, model_dir)
        epoch_seconds = min(epoch_seconds, time.perf_counter() - started)
    model = LinearHeadModel.load(model_dir, device="cpu")
    eval_differences = model.pair_differences(eval_rows)
    return _Scenario(overlap, rows, eval_rows, kinds, model_dir, epoch_seconds, model.pair_differences(rows),
                     eval_differences, model.weights,
                     float(bradley_terry_losses(model.weights, eval_differences).mean()),
                     l2_choice, population.judgments, truth,
                     {annotator.annotator_id: annotator.accuracy for annotator in population.annotators})


def _head_config(config: ValidationConfig, output_dir: Path) -> RewardTrainingConfig:
    from rlhf.config import RewardTrainingConfig

    return RewardTrainingConfig(head="linear", output_dir=str(output_dir), eval_fraction=0.0, device="cpu",
                                l2=config.l2, head_features=config.head_features, use_margin=False,
                                encoder_max_length=config.encoder_max_length,
                                embedding_cache_dir=config.embedding_cache_dir, seed=config.seed)


def _embed_all(config: ValidationConfig, rows: Sequence[PreferenceRow]) -> tuple[np.ndarray, np.ndarray]:
    """Encode every text once up front, so that timed training runs measure the fit, not the encoder.
    Returns the rows' (chosen, rejected) features."""
    from rlhf.linear_head import EmbeddingCache, TextEncoder, default_cache_dir, pair_features

    encoder = TextEncoder(None, max_length=config.encoder_max_length, device="cpu")
    cache_dir = Path(config.embedding_cache_dir) if config.embedding_cache_dir else default_cache_dir()
    return pair_features(encoder, EmbeddingCache(cache_dir, encoder.encoder_id), rows, config.head_features)


def _train_head(config: ValidationConfig, rows: Sequence[PreferenceRow], output_dir: Path) -> None:
    from rlhf.linear_head import linear_head_train

    result = linear_head_train(_head_config(config, output_dir), rows=list(rows))
    if result.status != "completed":
        raise RuntimeError(f"training the head in {output_dir} did not complete ({result.status})")


def _refit_loss(config: ValidationConfig, scenario: _Scenario, keep: np.ndarray) -> float:
    """Held-out loss of the head refitted on the rows where `keep` is True."""
    from rlhf.linear_head import bradley_terry_fit, bradley_terry_losses

    assert config.l2 is not None   # _measure's config carries the l2 the head was fitted with
    weights, _ = bradley_terry_fit(scenario.train_differences[keep], l2=config.l2)
    return float(bradley_terry_losses(weights, scenario.eval_differences).mean())


def _measure(config: ValidationConfig, scenario: _Scenario, say: Callable[[str], Any], *, with_scaling: bool) -> dict[str, Any]:
    from rlhf.attribution.methods import AttributionSettings
    from rlhf.attribution.run import attribution_run

    contributors = sorted({row.contributor_ids[0] for row in scenario.rows})
    rng = np.random.default_rng([config.seed, 13, scenario.overlap])
    loo_sample = sorted(rng.choice(contributors, size=min(config.loo_contributors, len(contributors)),
                                   replace=False).tolist())
    say(f"k={scenario.overlap}: leave-one-contributor-out refits for all {len(contributors)} contributors")
    owner = np.array([row.contributor_ids[0] for row in scenario.rows])
    started = time.perf_counter()
    # Retraining without each contributor is the truth the methods approximate; scored as a method of its own,
    # it says how well any faithful attribution could detect harmful annotators on this model.
    retrained = {who: _refit_loss(config, scenario, owner != who) - scenario.full_eval_loss for who in contributors}
    retrain_seconds = time.perf_counter() - started
    loo_change = {who: retrained[who] for who in loo_sample}
    halves = [rng.random(len(scenario.rows)) < 0.5 for _ in range(config.lds_subsets)]
    say(f"k={scenario.overlap}: {len(halves)} refits on random halves")
    half_losses = [_refit_loss(config, scenario, keep) for keep in halves]

    measured: dict[str, Any] = {
        "rows": len(scenario.rows), "contributors": len(contributors),
        "kinds": {kind: sum(1 for c in contributors if scenario.kinds[c] == kind)
                  for kind in sorted(set(scenario.kinds.values()))},
        "epoch_seconds": scenario.epoch_seconds, "heldout_loss": scenario.full_eval_loss,
        "heldout_accuracy": float((scenario.eval_differences @ scenario.full_weights > 0).mean()),
        "loo_contributors": loo_sample, "methods": {},
        "retraining": {**_detection(scenario, retrained), "seconds": retrain_seconds,
                       "epoch_multiple": retrain_seconds / scenario.epoch_seconds},
    }
    for method in config.methods:
        say(f"k={scenario.overlap}: {method}")
        paid = attribution_run(scenario.model_dir, scenario.rows, scenario.eval_rows, method=method,
                               settings=AttributionSettings(device="cpu", seed=config.seed))
        raw = attribution_run(scenario.model_dir, scenario.rows, scenario.eval_rows, method=method,
                              settings=AttributionSettings(device="cpu", seed=config.seed, share_duplicates=False))
        measured["methods"][method] = _method_figures(scenario, paid, raw, loo_change, halves, half_losses)
        measured["methods"][method]["profile"] = _profile_figures(scenario, paid)
    if config.profile_copies:
        _copy_experiment(config, scenario, measured["methods"], say)
    if with_scaling and config.scaling_fractions:
        measured["scaling"] = _scaling(config, scenario, say)
    return measured


def _method_figures(scenario: _Scenario, paid: dict[str, Any], raw: dict[str, Any], loo_change: dict[str, float],
                    halves: list[np.ndarray], half_losses: list[float]) -> dict[str, Any]:
    scores = paid["contributors"]
    loo_sample = sorted(loo_change)
    row_scores = np.array([raw_row["score"] for raw_row in raw["rows"]])
    total = row_scores.sum()
    # Removing the rows outside a half changes the loss by the sum of their scores (to first order).
    predicted = [total - row_scores[keep].sum() for keep in halves]
    by_kind: dict[str, list[float]] = {}
    for who, score in scores.items():
        by_kind.setdefault(scenario.kinds[who], []).append(score)
    return {
        **_detection(scenario, scores),
        "loo_spearman": spearman([scores.get(who, 0.0) for who in loo_sample], [loo_change[w] for w in loo_sample]),
        "loo_spearman_raw": spearman([raw["contributors"].get(who, 0.0) for who in loo_sample],
                                     [loo_change[w] for w in loo_sample]),
        "lds": spearman(predicted, half_losses) if halves else float("nan"),
        # Both runs do the same work but for the credit rules: the faster one is the less disturbed timing.
        "seconds": min(paid["cost"]["wall_seconds"], raw["cost"]["wall_seconds"]),
        "epoch_multiple": min(paid["cost"]["wall_seconds"], raw["cost"]["wall_seconds"]) / scenario.epoch_seconds,
        "mean_score_by_kind": {kind: float(np.mean(values)) for kind, values in sorted(by_kind.items())},
    }


def _profile_figures(scenario: _Scenario, paid: dict[str, Any]) -> dict[str, Any]:
    from rlhf.attribution.profile import judgment_figures

    scores = {int(judgment): entry["score"] for judgment, entry in paid["judgments"].items()}
    return judgment_figures(scores, scenario.judgments, scenario.truth, scenario.kinds, scenario.accuracy)


def _copy_experiment(config: ValidationConfig, scenario: _Scenario, methods: dict[str, Any],
                     say: Callable[[str], Any]) -> None:
    """m accounts give a sample of honest correct judgments' labels to the same comparisons; the head is
    retrained with the copies and every method run again. Adds a "copies" entry to each method's profile."""
    from rlhf.attribution.methods import AttributionSettings
    from rlhf.attribution.profile import copy_figures
    from rlhf.attribution.run import attribution_run

    def honest_correct(row: PreferenceRow) -> bool:
        judgment = scenario.judgments[row.judgment_ids[0] - 1]
        return (scenario.kinds[row.contributor_ids[0]] == "honest"
                and judgment.choice == scenario.truth[str(judgment.comparison_id)])

    candidates = [row for row in scenario.rows if honest_correct(row)]
    rng = np.random.default_rng([config.seed, 14, scenario.overlap])
    picked = [candidates[i] for i in sorted(rng.choice(len(candidates), replace=False,
                                                       size=min(config.profile_copy_sample, len(candidates))))]
    originals = [row.judgment_ids[0] for row in picked]
    first_free = len(scenario.judgments) + 1
    totals: dict[str, list[list[float]]] = {method: [] for method in config.methods}
    for copies in (1, *config.profile_copies):
        extra = [PreferenceRow(f"copy-{copies}-{index}-{copy}", row.prompt, row.chosen, row.rejected,
                               judgment_ids=(first_free + index * copies + copy,),
                               contributor_ids=(f"copy-{index}-{copy}",))
                 for index, row in enumerate(picked) for copy in range(copies - 1)]
        folder = scenario.model_dir.parent / f"{scenario.model_dir.name}-copies-{copies}"
        say(f"k={scenario.overlap}: {len(picked)} judgments x {copies} copies")
        _train_head(config, scenario.rows + extra, folder)
        clusters = {judgment: [judgment] for judgment in originals}
        for index, judgment in enumerate(originals):
            clusters[judgment] += [first_free + index * copies + copy for copy in range(copies - 1)]
        for method in config.methods:
            report = attribution_run(folder, scenario.rows + extra, scenario.eval_rows, method=method,
                                     settings=AttributionSettings(device="cpu", seed=config.seed))
            paid = report["judgments"]
            totals[method].append([sum(paid[str(j)]["score"] for j in clusters[judgment]) for judgment in originals])
    counts = [1, *config.profile_copies]
    for method, per_count in totals.items():
        profile = methods[method]["profile"]
        unit = profile["unit"]   # NaN or <= 0: the method's figures could not be normalised
        profile["copies"] = copy_figures(counts, per_count) if unit > 0 else None


def _detection(scenario: _Scenario, scores: Mapping[str, float]) -> dict[str, float]:
    """ROC AUC of contributor scores: honest against random + flip, and honest against flip alone."""
    def of(kinds: tuple[str, ...]) -> list[float]:
        return [score for who, score in scores.items() if scenario.kinds[who] in kinds]

    return {"detection_auc": roc_auc(of(("honest",)), of(HARMFUL_KINDS)),
            "detection_auc_flip": roc_auc(of(("honest",)), of(("flip",)))}


def _scaling(config: ValidationConfig, scenario: _Scenario, say: Callable[[str], Any]) -> dict[str, Any]:
    """Wall time (best of a few runs) of training and of each method on growing shares of the rows (fresh heads,
    cached embeddings)."""
    from rlhf.attribution.methods import AttributionSettings
    from rlhf.attribution.run import attribution_run

    sizes: list[int] = []
    train_seconds: list[float] = []
    method_seconds: dict[str, list[float]] = {method: [] for method in config.methods}
    for share in config.scaling_fractions:
        rows = scenario.rows[:max(2, round(share * len(scenario.rows)))]
        folder = scenario.model_dir.parent / f"{scenario.model_dir.name}-scale-{len(rows)}"
        say(f"scaling: {len(rows)} rows")
        fastest = math.inf
        for _ in range(TIMING_REPEATS):
            started = time.perf_counter()
            _train_head(config, rows, folder)
            fastest = min(fastest, time.perf_counter() - started)
        train_seconds.append(fastest)
        sizes.append(len(rows))
        for method in config.methods:
            method_seconds[method].append(min(
                attribution_run(folder, rows, scenario.eval_rows, method=method,
                                settings=AttributionSettings(device="cpu", seed=config.seed))["cost"]["wall_seconds"]
                for _ in range(TIMING_REPEATS)))
    return {"rows": sizes, "train_seconds": train_seconds, "method_seconds": method_seconds,
            "exponent": {method: _growth_exponent(sizes, seconds) for method, seconds in method_seconds.items()},
            "train_exponent": _growth_exponent(sizes, train_seconds)}


def _growth_exponent(sizes: Sequence[int], seconds: Sequence[float]) -> float:
    """Slope of log(time) against log(rows): 1 is linear growth."""
    if len(sizes) < 2 or len(set(sizes)) < 2:
        return float("nan")
    return float(np.polyfit(np.log(sizes), np.log(np.maximum(seconds, 1e-6)), 1)[0])


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


# ---------------------------------------------------------------- the table


def _figure(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _study_cell(spread: dict[str, Any]) -> str:
    return f"{spread['mean']:.2f} +- {spread['sd']:.2f} (min {spread['min']:.2f}, max {spread['max']:.2f})"


def _l2_note(choice: dict[str, Any] | None) -> str:
    if not choice:
        return "n/a"
    if "grid" not in choice:
        return f"{choice['l2']:g} (given)"
    curve = ", ".join(f"{l2:g}: {accuracy:.3f}" for l2, accuracy in zip(choice["grid"], choice["accuracy"],
                                                                        strict=True))
    return f"{choice['l2']:g} (cross-validated accuracy {curve}; one-standard-error rule)"


def validation_table(results: dict[str, Any]) -> str:
    """Every method side by side: detection, counterfactual agreement, LDS and cost, for every overlap."""
    overlaps = list(results["overlaps"])
    methods = list(next(iter(results["overlaps"].values()))["methods"])
    columns = ["method"]
    for k in overlaps:
        columns += [f"AUC k={k}", f"AUC flip k={k}", f"LOO rho k={k}", f"LOO rho raw k={k}", f"LDS k={k}"]
    columns += ["seconds", "x epoch", "growth"]
    first = results["overlaps"][overlaps[0]]
    lines = []
    for method in methods:
        cells = [method]
        for k in overlaps:
            figures = results["overlaps"][k]["methods"][method]
            cells += [_figure(figures["detection_auc"]), _figure(figures["detection_auc_flip"]),
                      _figure(figures["loo_spearman"]),
                      _figure(figures["loo_spearman_raw"]), _figure(figures["lds"])]
        figures = first["methods"][method]
        growth = first.get("scaling", {}).get("exponent", {}).get(method)
        cells += [_figure(figures["seconds"], 3), _figure(figures["epoch_multiple"]),
                  f"rows^{_figure(growth)}" if growth is not None else "n/a"]
        lines.append(cells)
    cells = ["retraining (truth)"]
    for k in overlaps:
        figures = results["overlaps"][k]["retraining"]
        cells += [_figure(figures["detection_auc"]), _figure(figures["detection_auc_flip"]), "1 (def.)",
                  "1 (def.)", "n/a"]
    cells += [_figure(first["retraining"]["seconds"], 3), _figure(first["retraining"]["epoch_multiple"]), "n/a"]
    lines.append(cells)
    widths = [max(len(row[i]) for row in [columns, *lines]) for i in range(len(columns))]
    rendered = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in
                [columns, ["-" * width for width in widths], *lines]]
    notes = [
        "targets: AUC >= 0.90 (honest vs random+flip contributors), LOO rho >= 0.6 (score vs held-out loss change "
        "when the contributor's rows are removed and the head refitted), x epoch <= 3 (one attribution run over "
        "one training fit on the same embedded rows, at the first k)",
        "retraining (truth): each contributor's held-out loss change when the head is refitted without them, "
        "used as a score: the detection any faithful attribution could reach on this model. "
        "AUC flip: honest vs flipping contributors only. LOO rho: paid scores (duplicate judgments share credit); "
        "raw: without that rule. growth: exponent of wall time against rows. Times are the best of repeated runs.",
    ]
    for k, study in results.get("detection_study", {}).items():
        notes.append(
            f"detection study k={k} ({study['judgments_per_contributor']:.0f} judgments per contributor, "
            f"{len(study['seeds'])} populations): influence-exact AUC {_study_cell(study['influence_auc'])}, "
            f"retraining AUC {_study_cell(study['retraining_auc'])}, head held-out accuracy "
            f"{study['heldout_accuracy']['mean']:.3f}")
    for noise, control in results.get("detection_study_control", {}).items():
        for k, study in control.items():
            notes.append(
                f"control (a truth the head can represent, label noise {noise}) k={k}: influence-exact AUC "
                f"{_study_cell(study['influence_auc'])}, retraining AUC {_study_cell(study['retraining_auc'])}, "
                f"head held-out accuracy {study['heldout_accuracy']['mean']:.3f}")
    for k in overlaps:
        figures = results["overlaps"][k]
        notes.append(f"k={k}: {figures['rows']} training rows from {figures['contributors']} contributors "
                     f"{figures['kinds']}; head L2 {_l2_note(figures.get('l2_choice'))}, held-out accuracy "
                     f"{figures['heldout_accuracy']:.3f}, loss "
                     f"{figures['heldout_loss']:.4f}; one training fit {figures['epoch_seconds']:.3f}s")
    return "\n".join(rendered + [""] + notes)
