"""Flags: verdicts on an annotator's signals, each with a reason a person can read and check.

    too_fast            median time per judgment far below the Datanet's median
    position_bias       the left-shown (or right-shown) response wins far more often than the content explains
    straight_lining     the same answer far more often than other annotators give it on the same comparisons
    low_gold_accuracy   gold accuracy confidently (Wilson 99% upper bound) below the required level

A check needs a minimum of evidence; with less, it is listed under `not_checked` with the reason, never flagged.
Every statistical flag needs both a large effect and a small p-value, so that a flag means "clearly", not
"possibly", when it can cost someone their payout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from rlhf.quality.signals import AnnotatorSignals, wilson_interval

FLAG_CODES = ("too_fast", "position_bias", "straight_lining", "low_gold_accuracy")


@dataclass(frozen=True)
class FlagThresholds:
    """When a signal becomes a flag. Defaults are conservative: a flag should hold up when a person checks it."""

    min_judgments: int = field(default=20, metadata={
        "help": "Judgments an annotator needs before speed, position bias and straight-lining are checked "
                "(for position bias: judgments that picked a side)."})
    min_gold_judgments: int = field(default=10, metadata={
        "help": "Judgments on gold comparisons an annotator needs before gold accuracy is checked."})
    too_fast_ratio: float = field(default=0.35, metadata={
        "help": "Flag too_fast when the annotator's median time per judgment is at most this fraction of the "
                "Datanet's median."})
    position_bias_excess: float = field(default=0.25, metadata={
        "help": "Flag position_bias when the left-shown response wins at least this much more (or less) often "
                "than expected, e.g. 0.25: 75% left where 50% is expected."})
    straight_lining_share: float = field(default=0.8, metadata={
        "help": "Flag straight_lining when one answer makes up at least this share of the annotator's judgments."})
    straight_lining_excess: float = field(default=0.3, metadata={
        "help": "... and that share exceeds the share other annotators give the same answer on the same "
                "comparisons by at least this much."})
    min_gold_accuracy: float = field(default=0.6, metadata={
        "help": "Flag low_gold_accuracy when the upper end of the Wilson interval of gold accuracy (at "
                "gold_confidence) is below this: confidently below, not just unlucky."})
    gold_confidence: float = field(default=0.99, metadata={
        "help": "Confidence of the Wilson interval the gold check uses; high because across hundreds of honest "
                "annotators a 95% interval wrongly excludes the bar for a few of them."})
    max_p_value: float = field(default=0.001, metadata={
        "help": "Position bias and straight-lining also need a binomial test p-value at most this (small, "
                "because many annotators are tested at once)."})

    def __post_init__(self) -> None:
        for name in ("min_judgments", "min_gold_judgments"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FlagThresholds.{name} must be a positive integer, got {value!r}")
        for name, low, high in (("too_fast_ratio", 0.0, 1.0), ("position_bias_excess", 0.0, 0.5),
                                ("straight_lining_share", 0.25, 1.0), ("straight_lining_excess", 0.0, 1.0),
                                ("min_gold_accuracy", 0.0, 1.0), ("gold_confidence", 0.5, 0.9999),
                                ("max_p_value", 0.0, 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
                raise ValueError(f"FlagThresholds.{name} must be a number in ({low}, {high}], got {value!r}")

    @classmethod
    def help(cls) -> dict[str, str]:
        return {f.name: f.metadata["help"] for f in fields(cls)}

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Flag:
    code: str      # one of FLAG_CODES
    reason: str


@dataclass(frozen=True)
class FlagOutcome:
    flags: tuple[Flag, ...]
    not_checked: tuple[Flag, ...]   # checks skipped, with why (too little evidence)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(flag.code for flag in self.flags)

    def as_dict(self) -> dict[str, list[dict[str, str]]]:
        return {"flags": [asdict(f) for f in self.flags], "not_checked": [asdict(f) for f in self.not_checked]}


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def _seconds(milliseconds: float) -> str:
    return f"{milliseconds / 1000:.1f} s"


def _too_fast(signals: AnnotatorSignals, thresholds: FlagThresholds) -> tuple[bool | None, str]:
    speed, n = signals.speed, signals.n_judgments
    if n < thresholds.min_judgments:
        return None, f"only {n} judgments; speed is checked from {thresholds.min_judgments}"
    if speed.ratio is None or speed.median_ms is None or speed.datanet_median_ms is None:
        return None, speed.reason or "speed is not computable"
    return speed.ratio <= thresholds.too_fast_ratio, (
        f"median {_seconds(speed.median_ms)} per judgment over {n} judgments, {speed.ratio:.2f} times the "
        f"Datanet's median of {_seconds(speed.datanet_median_ms)} (flagged at {thresholds.too_fast_ratio:g} or less)")


def _position_bias(signals: AnnotatorSignals, thresholds: FlagThresholds) -> tuple[bool | None, str]:
    bias = signals.position
    if bias.left_rate is None or bias.expected_left_rate is None or bias.p_value is None:
        return None, bias.reason or "position bias is not computable"
    if bias.n_side_judgments < thresholds.min_judgments:
        return None, (f"only {bias.n_side_judgments} judgments picked a side; position bias is checked from "
                      f"{thresholds.min_judgments}")
    excess = bias.left_rate - bias.expected_left_rate
    side, rate, expected = ("left", bias.left_rate, bias.expected_left_rate) if excess >= 0 else \
        ("right", 1 - bias.left_rate, 1 - bias.expected_left_rate)
    flagged = abs(excess) >= thresholds.position_bias_excess and bias.p_value <= thresholds.max_p_value
    return flagged, (f"picked the {side} response in {_percent(rate)} of {bias.n_side_judgments} judgments that "
                     f"picked a side (expected about {_percent(expected)}; binomial p = {bias.p_value:.2g})")


def _straight_lining(signals: AnnotatorSignals, thresholds: FlagThresholds) -> tuple[bool | None, str]:
    straight, n = signals.straight_lining, signals.n_judgments
    if n < thresholds.min_judgments:
        return None, f"only {n} judgments; straight-lining is checked from {thresholds.min_judgments}"
    if straight.top_share is None or straight.expected_share is None or straight.p_value is None:
        return None, straight.reason or "straight-lining is not computable"
    flagged = (straight.top_share >= thresholds.straight_lining_share
               and straight.top_share - straight.expected_share >= thresholds.straight_lining_excess
               and straight.p_value <= thresholds.max_p_value)
    return flagged, (f"answered {straight.top_choice!r} in {_percent(straight.top_share)} of {n} judgments "
                     f"(others answered {straight.top_choice!r} in about {_percent(straight.expected_share)} on the "
                     f"same comparisons; binomial p = {straight.p_value:.2g})")


def _low_gold_accuracy(signals: AnnotatorSignals, thresholds: FlagThresholds) -> tuple[bool | None, str]:
    gold = signals.gold
    if gold.rate is None:
        return None, gold.reason or "gold accuracy is not computable"
    if gold.n_gold < thresholds.min_gold_judgments:
        return None, (f"only {gold.n_gold} gold judgments; gold accuracy is checked from "
                      f"{thresholds.min_gold_judgments}")
    low, high = wilson_interval(gold.correct, gold.n_gold, confidence=thresholds.gold_confidence)
    return high < thresholds.min_gold_accuracy, (
        f"matched {gold.correct} of {gold.n_gold} gold answers ({_percent(gold.rate)}; "
        f"{100 * thresholds.gold_confidence:g}% interval {_percent(low)} to {_percent(high)}, flagged when all "
        f"of it is below the required {_percent(thresholds.min_gold_accuracy)})")


_CHECKS = {"too_fast": _too_fast, "position_bias": _position_bias, "straight_lining": _straight_lining,
           "low_gold_accuracy": _low_gold_accuracy}


def annotator_flags(signals: AnnotatorSignals, thresholds: FlagThresholds | None = None) -> FlagOutcome:
    """Run every check on one annotator's signals: raised flags, and checks skipped for lack of evidence."""
    thresholds = thresholds or FlagThresholds()
    flags, not_checked = [], []
    for code, check in _CHECKS.items():
        flagged, reason = check(signals, thresholds)
        if flagged is None:
            not_checked.append(Flag(code, reason))
        elif flagged:
            flags.append(Flag(code, reason))
    return FlagOutcome(tuple(flags), tuple(not_checked))
