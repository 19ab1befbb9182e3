"""Simulated annotator populations: who judges what, what kind of annotator each is, and their judgments.

Give it comparisons with their true answers (for real HH-RLHF pairs: "a" when response a is the one the original
annotator chose) and a population description; get back a deterministic plan (each comparison judged by exactly
`overlap` distinct annotators, loads differing by at most one), each annotator's kind and true accuracy, and
their judgments as `Judgment`s. Same inputs and seed, same output, on any machine.

Kinds (`KIND_HELP`): honest, random, flip, left, constant, duplicate. A mix is a mapping or a string such as
"honest=0.7,random=0.1,flip=0.1,left=0.1"; the shares must add up to 1 and are turned into exact annotator
counts by largest remainder.

    truth = {"c1": "a", "c2": "b", ...}
    population = population_simulate(truth, PopulationConfig(n_annotators=50, overlap=3, mix="honest=0.8,left=0.2",
                                                              seed=7))
    population.judgments       # tuple of Judgment, in plan order
    population.annotators      # kind, accuracy, median time, expected flags of each
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, cast

import numpy as np
import numpy.typing as npt

from rlhf.arrays import Bools, Floats, Ints
from rlhf.quality.judgments import CHOICES, GOLD_LABELS, SIDES, Judgment

KIND_HELP = {
    "honest": "reads both responses and picks the true answer with an accuracy drawn from `honest_accuracy`; "
              "a wrong answer is mostly the other response, sometimes tie or both_bad",
    "random": "clicks a or b at random without reading (accuracy 0.5 where the truth is a or b); fast",
    "flip": "reads, then answers the opposite on purpose (accuracy drawn from `flip_accuracy`); careful speed",
    "left": "always picks whichever response was shown on the left, so accuracy is about 0.5 under a "
            "randomised order; fast",
    "constant": "gives the same answer (one of a, b, tie, both_bad, drawn per annotator) every time; fast",
    "duplicate": "a sybil: answers exactly as another non-duplicate annotator (choice, strength and time) would, "
                 "on its own presentation order",
}
KINDS = tuple(KIND_HELP)
FAST_KINDS = frozenset({"random", "left", "constant"})
# Below LOW_ACCURACY_EXPECTED_FLAG the gold check (Wilson upper bound under 0.6 by default) must catch an annotator
# given 15-20 gold judgments. From there up to LOW_ACCURACY_TOLERATED_FLAG (the default required accuracy) an
# annotator really is below the bar, but 15-20 gold items cannot show it with confidence: a flag is right, its
# absence is no miss. Honest annotators (0.65 and up by default) must not be flagged.
LOW_ACCURACY_EXPECTED_FLAG = 0.3
LOW_ACCURACY_TOLERATED_FLAG = 0.6

# Annotator kinds per judgment, and the 64-bit words the counter-based uniforms are hashed from.
Strs: TypeAlias = npt.NDArray[np.str_]
UInts: TypeAlias = npt.NDArray[np.uint64]


def parse_mix(mix: str | Mapping[str, float]) -> dict[str, float]:
    """Validate a population mix: "honest=0.7,random=0.1,..." or a mapping; the shares must sum to 1."""
    if isinstance(mix, str):
        parsed: dict[str, float] = {}
        for position, part in enumerate(filter(None, (p.strip() for p in mix.split(","))), start=1):
            kind, separator, share_text = part.partition("=")
            kind = kind.strip()
            if not separator:
                raise ValueError(f"mix entry {position} {part!r}: expected kind=share, e.g. honest=0.7")
            if kind in parsed:
                raise ValueError(f"mix entry {position} {part!r}: kind {kind!r} appears twice")
            try:
                parsed[kind] = float(share_text)
            except ValueError:
                raise ValueError(f"mix entry {position} {part!r}: share {share_text.strip()!r} is not a number") \
                    from None
        mix = parsed
    if not isinstance(mix, Mapping) or not mix:
        raise ValueError("mix must be a non-empty mapping or a string like 'honest=0.7,random=0.3'")
    for kind, share in mix.items():
        if kind not in KIND_HELP:
            raise ValueError(f"mix: unknown annotator kind {kind!r}; known kinds are {', '.join(KINDS)}")
        if isinstance(share, bool) or not isinstance(share, int | float) or not math.isfinite(share) or share < 0:
            raise ValueError(f"mix: share of {kind!r} must be a non-negative number, got {share!r}")
    total = sum(mix.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"mix: shares must add up to 1, they add up to {total:g}")
    if set(mix) == {"duplicate"} or (mix.get("duplicate", 0) > 0 and total - mix["duplicate"] <= 0):
        raise ValueError("mix: 'duplicate' annotators copy someone else, so the mix needs another kind too")
    return {kind: float(share) for kind, share in mix.items()}


def _range(value: Sequence[float], name: str, low: float, high: float) -> tuple[float, float]:
    if not (isinstance(value, Sequence) and len(value) == 2 and low <= value[0] <= value[1] <= high):
        raise ValueError(f"{name} must be a (low, high) pair with {low} <= low <= high <= {high}, got {value!r}")
    return float(value[0]), float(value[1])


@dataclass(frozen=True)
class PopulationConfig:
    """Who the simulated annotators are and how many judge each comparison."""

    n_annotators: int = field(default=50, metadata={"help": "Annotators in the population."})
    overlap: int = field(default=3, metadata={"help": "Distinct annotators per comparison (k)."})
    mix: str | Mapping[str, float] = field(default="honest=0.7,random=0.1,flip=0.1,left=0.1", metadata={
        "help": "Share of each kind, as 'honest=0.7,random=0.1,...' or a mapping; shares add up to 1."})
    seed: int = field(default=0, metadata={"help": "Seed of every random choice (plan, kinds, answers)."})
    honest_accuracy: tuple[float, float] = field(default=(0.65, 0.95), metadata={
        "help": "Range an honest annotator's accuracy is drawn from (uniformly)."})
    flip_accuracy: tuple[float, float] = field(default=(0.1, 0.2), metadata={
        "help": "Range a flipping annotator's accuracy is drawn from (uniformly)."})
    careful_median_ms: tuple[float, float] = field(default=(15_000, 45_000), metadata={
        "help": "Range of the median time per judgment of annotators who read (honest, flip)."})
    hasty_median_ms: tuple[float, float] = field(default=(1_500, 4_000), metadata={
        "help": "Range of the median time per judgment of annotators who do not read (random, left, constant)."})
    id_prefix: str = field(default="sim-", metadata={"help": "Prefix of the generated annotator ids."})

    def __post_init__(self) -> None:
        for name in ("n_annotators", "overlap", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if self.n_annotators < 1:
            raise ValueError(f"n_annotators must be at least 1, got {self.n_annotators}")
        if not 1 <= self.overlap <= self.n_annotators:
            raise ValueError(f"overlap must be between 1 and n_annotators ({self.n_annotators}), got {self.overlap}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")
        object.__setattr__(self, "mix", parse_mix(self.mix))
        object.__setattr__(self, "honest_accuracy", _range(self.honest_accuracy, "honest_accuracy", 0.0, 1.0))
        object.__setattr__(self, "flip_accuracy", _range(self.flip_accuracy, "flip_accuracy", 0.0, 1.0))
        for name in ("careful_median_ms", "hasty_median_ms"):
            object.__setattr__(self, name, _range(getattr(self, name), name, 1.0, 86_400_000.0))


@dataclass(frozen=True)
class SimulatedAnnotator:
    annotator_id: str
    kind: str
    accuracy: float                  # expected share of judgments equal to the true answer
    median_time_ms: int
    copies: str | None = None        # for a duplicate: the annotator it copies
    constant_choice: str | None = None
    expected_flags: tuple[str, ...] = ()   # flags a good detector must raise for this annotator
    tolerated_flags: tuple[str, ...] = ()  # flags that are right but need more evidence than a test may have


@dataclass(frozen=True)
class SimulatedPopulation:
    config: PopulationConfig
    annotators: tuple[SimulatedAnnotator, ...]
    plan: tuple[tuple[str, tuple[str, ...]], ...]    # (comparison id, its annotators), in truth order
    judgments: tuple[Judgment, ...]                   # one per (comparison, annotator) of the plan, in plan order

    def annotator(self, annotator_id: str) -> SimulatedAnnotator:
        for annotator in self.annotators:
            if annotator.annotator_id == annotator_id:
                return annotator
        raise KeyError(f"no simulated annotator {annotator_id!r}")


def kind_counts(mix: Mapping[str, float], n_annotators: int) -> dict[str, int]:
    """Exact annotator count per kind: floor of share * n, the rest to the largest remainders (ties: mix order)."""
    exact = {kind: share * n_annotators for kind, share in mix.items()}
    counts = {kind: int(math.floor(value + 1e-9)) for kind, value in exact.items()}
    by_remainder = sorted(mix, key=lambda kind: -(exact[kind] - counts[kind]))
    for kind in by_remainder[:n_annotators - sum(counts.values())]:
        counts[kind] += 1
    return counts


def assignment_plan(comparison_ids: Sequence[str], annotator_ids: Sequence[str], *, overlap: int,
                    seed: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Give each comparison `overlap` distinct annotators, always the least loaded ones (random among equals).

    Loads end up differing by at most one, and who meets whom varies from comparison to comparison.
    """
    if not 1 <= overlap <= len(annotator_ids):
        raise ValueError(f"overlap must be between 1 and the number of annotators ({len(annotator_ids)}), "
                         f"got {overlap}")
    if len(set(annotator_ids)) != len(annotator_ids):
        raise ValueError("annotator ids must be distinct")
    rng = np.random.default_rng([seed, 1])
    load = np.zeros(len(annotator_ids))
    plan = []
    for comparison_id in comparison_ids:
        # Loads are integers, so a jitter below 1 only reorders annotators of equal load.
        chosen = np.sort(np.argpartition(load + 0.5 * rng.random(load.shape[0]), overlap - 1)[:overlap])
        load[chosen] += 1
        plan.append((comparison_id, tuple(annotator_ids[i] for i in chosen)))
    return tuple(plan)


def gold_sample(truth: Mapping[str, str], *, fraction: float, seed: int) -> dict[str, str]:
    """A seeded random subset (round(fraction * n) comparisons) of the truth to serve as gold."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"gold fraction must be between 0 and 1, got {fraction}")
    ids = list(truth)
    picked = np.random.default_rng([seed, 2]).permutation(len(ids))[:round(fraction * len(ids))]
    return {ids[i]: truth[ids[i]] for i in sorted(picked)}


def _validated_truth(truth: Mapping[str, str]) -> tuple[list[str], Ints]:
    if not isinstance(truth, Mapping) or not truth:
        raise ValueError("truth must be a non-empty mapping of comparison id -> 'a' / 'b' / 'tie'")
    ids = []
    for comparison_id, answer in truth.items():
        if answer not in GOLD_LABELS:
            raise ValueError(f"truth for comparison {comparison_id!r} is {answer!r}; expected one of "
                             f"{', '.join(map(repr, GOLD_LABELS))}")
        ids.append(str(comparison_id))
    if len(set(ids)) != len(ids):
        raise ValueError("truth has two comparison ids that are equal as strings")
    return ids, np.array([CHOICES.index(answer) for answer in truth.values()], dtype=np.int64)


def _annotators(config: PopulationConfig, truth_codes: Ints) -> list[SimulatedAnnotator]:
    rng = np.random.default_rng([config.seed, 0])
    counts = kind_counts(cast(Mapping[str, float], config.mix), config.n_annotators)   # parsed by __post_init__
    kinds = np.array([kind for kind in KINDS for _ in range(counts.get(kind, 0))])[
        rng.permutation(config.n_annotators)]
    width = len(str(config.n_annotators))
    ids = [f"{config.id_prefix}{index + 1:0{width}d}" for index in range(config.n_annotators)]
    side_truth_share = float(np.isin(truth_codes, (0, 1)).mean())
    drafts: list[SimulatedAnnotator] = []
    for annotator_id, kind in zip(ids, kinds.tolist(), strict=True):
        careful = kind not in FAST_KINDS
        median = rng.uniform(*(config.careful_median_ms if careful else config.hasty_median_ms))
        accuracy, constant = 0.5 * side_truth_share, None
        if kind in ("honest", "flip"):
            accuracy = rng.uniform(*(config.honest_accuracy if kind == "honest" else config.flip_accuracy))
        elif kind == "constant":
            constant = CHOICES[int(rng.integers(len(CHOICES)))]
            accuracy = float((truth_codes == CHOICES.index(constant)).mean())
        drafts.append(SimulatedAnnotator(annotator_id, kind, float(accuracy), int(round(median)),
                                         constant_choice=constant))
    originals = [a for a in drafts if a.kind != "duplicate"]
    annotators = []
    for draft in drafts:
        if draft.kind == "duplicate":
            source = originals[int(rng.integers(len(originals)))]
            draft = SimulatedAnnotator(draft.annotator_id, "duplicate", source.accuracy, source.median_time_ms,
                                       copies=source.annotator_id, constant_choice=source.constant_choice)
        annotators.append(draft)
    by_id = {a.annotator_id: a for a in annotators}
    return [SimulatedAnnotator(a.annotator_id, a.kind, a.accuracy, a.median_time_ms, a.copies, a.constant_choice,
                               *_expected_flags(by_id[a.copies] if a.copies else a, copied=a.copies is not None))
            for a in annotators]


def _expected_flags(answerer: SimulatedAnnotator, *, copied: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(flags that must be raised, flags that may be raised) for an annotator answering like `answerer`."""
    flags = []
    if answerer.kind in FAST_KINDS:
        flags.append("too_fast")
    # A copy of a left-picker copies the answer, not the side: its own order is independent of it.
    if answerer.kind == "left" and not copied:
        flags.append("position_bias")
    if answerer.kind == "constant":
        flags.append("straight_lining")
    if answerer.accuracy < LOW_ACCURACY_EXPECTED_FLAG:
        flags.append("low_gold_accuracy")
    tolerated = ("low_gold_accuracy",) if LOW_ACCURACY_EXPECTED_FLAG <= answerer.accuracy \
        < LOW_ACCURACY_TOLERATED_FLAG else ()
    return tuple(flags), tolerated


def _mix64(values: UInts) -> UInts:
    """SplitMix64 finaliser: a well-mixed 64-bit hash (uint64 arithmetic wraps, as intended)."""
    values = values ^ (values >> np.uint64(30))
    values = values * np.uint64(0xBF58476D1CE4E5B9)
    values = values ^ (values >> np.uint64(27))
    values = values * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def _uniforms(seed: int, annotator: Ints, comparison: Ints, stream: int) -> Floats:
    """Counter-based uniforms in [0, 1): a pure function of (seed, annotator, comparison, stream).

    Answers are a function of who answers and what, not of the order they are generated in, which is what lets
    a duplicate reproduce its source's answers on any comparison.
    """
    golden = np.uint64(0x9E3779B97F4A7C15)
    state = _mix64(np.full(annotator.shape, seed, dtype=np.uint64) * golden + np.uint64(stream))
    state = _mix64((state ^ annotator.astype(np.uint64)) * golden)
    state = _mix64((state ^ comparison.astype(np.uint64)) * golden)
    return (state >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


STREAM_SIDE, STREAM_CORRECT, STREAM_ERROR, STREAM_STRENGTH, STREAM_TIME_1, STREAM_TIME_2 = range(6)
_STRENGTH_CUMULATIVE = {  # P(strength <= 1), P(strength <= 2)
    "sure": (0.2, 0.6), "unsure": (0.6, 0.9), "uniform": (1 / 3, 2 / 3), "always_3": (0.0, 0.0),
    "always_2": (0.0, 1.0),
}


def _choices(kind: Strs, accuracy: Floats, constant: Ints, truth: Ints, answerer_left_is_b: Bools, u_correct: Floats,
             u_error: Floats) -> Ints:
    """Choice code (index into CHOICES) of each judgment, given the answering annotator's kind."""
    a, b, tie, both_bad = range(4)
    correct = u_correct < accuracy
    opposite = np.where(truth == a, b, a)
    side_when_tie = np.where(u_error < 0.5, a, b)
    honest_error = np.select([truth == tie, u_error < 0.8, u_error < 0.95], [side_when_tie, opposite, tie], both_bad)
    flip_error = np.where(truth == tie, side_when_tie, opposite)
    return np.select(
        [kind == "honest", kind == "flip", kind == "random", kind == "left", kind == "constant"],
        [np.where(correct, truth, honest_error), np.where(correct, truth, flip_error),
         np.where(u_correct < 0.5, a, b), answerer_left_is_b.astype(np.int64), constant],
    )


def population_simulate(truth: Mapping[str, str], config: PopulationConfig | None = None) -> SimulatedPopulation:
    """Plan, annotators and judgments of a simulated population over comparisons with known true answers."""
    config = config or PopulationConfig()
    comparison_ids, truth_codes = _validated_truth(truth)
    annotators = _annotators(config, truth_codes)
    ids = [a.annotator_id for a in annotators]
    plan = assignment_plan(comparison_ids, ids, overlap=config.overlap, seed=config.seed)
    position = {annotator_id: index for index, annotator_id in enumerate(ids)}
    judge = np.array([position[a] for _, group in plan for a in group], dtype=np.int64)
    comparison = np.repeat(np.arange(len(plan)), config.overlap)
    left_is_b = _uniforms(config.seed, judge, comparison, STREAM_SIDE) < 0.5
    judgments = _answers(config, annotators, comparison_ids, truth_codes, comparison, judge, left_is_b)
    return SimulatedPopulation(config, tuple(annotators), plan, judgments)


def population_answers(population: SimulatedPopulation, truth: Mapping[str, str],
                       served: Sequence[tuple[str, str, str]]) -> tuple[Judgment, ...]:
    """What the population's annotators answer on comparisons served to them by someone else's assignment.

    `served`: (comparison id, annotator id, side shown on the left) triples, e.g. from a site's own queue. An
    answer depends only on (seed, annotator, comparison, side shown), so it is the one `population_simulate` gives
    wherever the two meet, and a duplicate still copies its source.
    """
    comparison_ids, truth_codes = _validated_truth(truth)
    index_of = {comparison_id: index for index, comparison_id in enumerate(comparison_ids)}
    position = {a.annotator_id: index for index, a in enumerate(population.annotators)}
    missing = [c for c, _, _ in served if str(c) not in index_of] + [a for _, a, _ in served if a not in position]
    if missing:
        raise ValueError(f"unknown comparison or annotator id: {missing[0]!r}")
    if any(side not in SIDES for _, _, side in served):
        raise ValueError("shown_left must be 'a' or 'b'")
    comparison = np.array([index_of[str(c)] for c, _, _ in served], dtype=np.int64)
    judge = np.array([position[a] for _, a, _ in served], dtype=np.int64)
    left_is_b = np.array([side == "b" for _, _, side in served], dtype=bool)
    return _answers(population.config, list(population.annotators), comparison_ids, truth_codes, comparison, judge,
                    left_is_b)


def _answers(config: PopulationConfig, annotators: list[SimulatedAnnotator], comparison_ids: list[str],
             truth_codes: Ints, comparison: Ints, judge: Ints, left_is_b: Bools) -> tuple[Judgment, ...]:
    ids = [a.annotator_id for a in annotators]
    position = {annotator_id: index for index, annotator_id in enumerate(ids)}
    answerer = np.array([position[a.copies] if a.copies else position[a.annotator_id] for a in annotators],
                        dtype=np.int64)[judge]
    answerer_kind = np.array([a.kind for a in annotators])[answerer]
    accuracy = np.array([a.accuracy for a in annotators])[answerer]
    constant = np.array([CHOICES.index(a.constant_choice) if a.constant_choice else 0 for a in annotators])[answerer]
    median = np.array([a.median_time_ms for a in annotators], dtype=np.float64)[answerer]

    def draw(who: Ints, stream: int) -> Floats:
        return _uniforms(config.seed, who, comparison, stream)

    # A left-picker picks the side it saw; a duplicate of one picks the side its source would have seen.
    answerer_left_is_b = np.where(answerer == judge, left_is_b, draw(answerer, STREAM_SIDE) < 0.5)
    choice = _choices(answerer_kind, accuracy, constant, truth_codes[comparison], answerer_left_is_b,
                      draw(answerer, STREAM_CORRECT), draw(answerer, STREAM_ERROR))
    strength = _strengths(answerer_kind, choice == truth_codes[comparison], draw(answerer, STREAM_STRENGTH))
    # Log-normal around the annotator's median (Box-Muller from two uniforms); nobody submits in under 0.3 s.
    normal = np.sqrt(-2.0 * np.log1p(-draw(answerer, STREAM_TIME_1))) * np.cos(2 * np.pi * draw(answerer,
                                                                                                 STREAM_TIME_2))
    time_ms = np.maximum(300, np.round(median * np.exp(0.4 * normal))).astype(np.int64)
    return tuple(
        Judgment(comparison_ids[c], ids[j], CHOICES[choice_code], s, "b" if left else "a", t)
        for c, j, choice_code, s, left, t in zip(comparison.tolist(), judge.tolist(), choice.tolist(),
                                                 strength.tolist(), left_is_b.tolist(), time_ms.tolist(), strict=True)
    )


def _strengths(kind: Strs, correct: Bools, u_strength: Floats) -> Ints:
    style = np.select([kind == "random", kind == "left", kind == "constant", correct | (kind == "flip")],
                      ["uniform", "always_3", "always_2", "sure"], "unsure")
    at_most_1 = np.array([_STRENGTH_CUMULATIVE[s][0] for s in style.tolist()]) if style.size else np.zeros(0)
    at_most_2 = np.array([_STRENGTH_CUMULATIVE[s][1] for s in style.tolist()]) if style.size else np.zeros(0)
    return np.where(u_strength < at_most_1, 1, np.where(u_strength < at_most_2, 2, 3)).astype(np.int64)
