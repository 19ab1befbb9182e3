"""A synthetic feedback log drawn from known parameters: valid schema rows, for tests and demos.

The process is the one the simulator assumes (and calibration inverts):
- ``initial_annotators`` on day 0, then Poisson(``arrivals_per_day``) newcomers a day; nobody leaves;
- each annotator has a daily participation probability ~ Beta, a mean number of judgments per
  active day ~ lognormal (at least 1; a day's count is 1 + Poisson(mean - 1)), a typical time per
  judgment ~ lognormal (each judgment varies around it by ``time_noise_sigma``), and a quality
  ~ Beta (probability of choosing the truly better response);
- on a "rushed" day (probability ``rushed_day_share`` per annotator-day) every judgment is made
  faster than ``too_fast_ms``: what quality control flags;
- each comparison is judged by ``overlap`` distinct annotators; a few judgments are revised.

    rows, truth = synthetic_log_rows(SyntheticLogParams(days=40), seed=1)
    write_feedback_log(rows, "log.jsonl")
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from simulator.feedback_log import SCHEMA_VERSION, STRENGTHS


@dataclass(frozen=True)
class SyntheticLogParams:
    days: int = field(default=40, metadata={"help": "Days the log covers."})
    initial_annotators: int = field(default=150, metadata={"help": "Annotators on day 0."})
    arrivals_per_day: float = field(default=4.0, metadata={"help": "Mean newcomers per later day (Poisson)."})
    participation_a: float = field(
        default=2.0, metadata={"help": "Beta(a, b) of the daily participation probability."}
    )
    participation_b: float = field(default=3.0, metadata={"help": "See participation_a."})
    activity_mu: float = field(
        default=1.5, metadata={"help": "Lognormal mu of mean judgments per active day."}
    )
    activity_sigma: float = field(default=0.6, metadata={"help": "Lognormal sigma of the same."})
    seconds_mu: float = field(
        default=3.4, metadata={"help": "Lognormal mu of an annotator's typical seconds per judgment."}
    )
    seconds_sigma: float = field(default=0.4, metadata={"help": "Lognormal sigma of the same."})
    time_noise_sigma: float = field(
        default=0.3, metadata={"help": "Log-scale spread of one judgment's time around the typical one."}
    )
    quality_a: float = field(default=8.0, metadata={"help": "Beta(a, b) of annotator quality."})
    quality_b: float = field(default=2.0, metadata={"help": "See quality_a."})
    rushed_day_share: float = field(
        default=0.03, metadata={"help": "Share of annotator-days made entirely too fast."}
    )
    too_fast_ms: int = field(
        default=2000, metadata={"help": "Time under which a judgment counts as too fast."}
    )
    overlap: int = field(default=3, metadata={"help": "Distinct annotators per comparison."})
    revision_share: float = field(
        default=0.01, metadata={"help": "Share of judgments revised later the same day."}
    )
    datanet: str = field(default="synthetic", metadata={"help": "Datanet name written in every row."})
    start: str = field(default="2025-01-01", metadata={"help": "Date of day 0 (UTC)."})

    def __post_init__(self) -> None:
        if self.days < 1 or self.initial_annotators < 1 or self.overlap < 1:
            raise ValueError("SyntheticLogParams: days, initial_annotators and overlap must be >= 1")
        for name in ("rushed_day_share", "revision_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"SyntheticLogParams.{name}: must be between 0 and 1")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _annotator_traits(
    rng: np.random.Generator, params: SyntheticLogParams, count: int
) -> dict[str, np.ndarray]:
    return {
        "participation": rng.beta(params.participation_a, params.participation_b, count),
        "activity": np.maximum(rng.lognormal(params.activity_mu, params.activity_sigma, count), 1.0),
        "seconds": rng.lognormal(params.seconds_mu, params.seconds_sigma, count),
        "quality": rng.beta(params.quality_a, params.quality_b, count),
    }


def _day_comparisons(rng: np.random.Generator, counts: dict[int, int], overlap: int) -> list[list[int]]:
    """Group the day's judgments into comparisons of ``overlap`` distinct annotators each.

    Slots are dealt round-robin (each round, every annotator with judgments left gives one, in a
    shuffled order), then cut into consecutive groups."""
    slots: list[int] = []
    remaining = dict(counts)
    while remaining:
        order = list(remaining)
        rng.shuffle(order)
        for annotator in order:
            slots.append(annotator)
            remaining[annotator] -= 1
            if remaining[annotator] == 0:
                del remaining[annotator]
    groups = []
    for start in range(0, len(slots), overlap):
        chunk = slots[start : start + overlap]
        distinct = list(dict.fromkeys(chunk))
        groups.append(distinct)
        # A repeat (only near the end of a day, when few annotators have judgments left) is
        # judged alone rather than dropped, so every annotator makes all their judgments.
        groups.extend([annotator] for annotator in chunk[len(distinct) :])
    return groups


def synthetic_log_rows(
    params: SyntheticLogParams, seed: int = 0
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows of a synthetic log (schema v1, in the schema's order) and the truth behind them."""
    rng = np.random.default_rng(seed)
    start = datetime.fromisoformat(params.start).replace(tzinfo=UTC)
    traits: dict[str, list[float]] = {
        name: [] for name in ("participation", "activity", "seconds", "quality")
    }
    first_day: list[int] = []
    judgments: list[dict[str, Any]] = []
    next_comparison = 1
    rushed_days = 0
    annotator_days = 0
    for day in range(params.days):
        newcomers = params.initial_annotators if day == 0 else int(rng.poisson(params.arrivals_per_day))
        for name, values in _annotator_traits(rng, params, newcomers).items():
            traits[name].extend(values.tolist())
        first_day.extend([day] * newcomers)
        annotators = np.arange(len(first_day))
        active = annotators[rng.random(len(annotators)) < np.asarray(traits["participation"])]
        activity = np.asarray(traits["activity"])[active]
        counts = 1 + rng.poisson(activity - 1.0)
        rushed = rng.random(len(active)) < params.rushed_day_share
        rushed_days += int(rushed.sum())
        annotator_days += len(active)
        rushed_of = dict(zip(active.tolist(), rushed.tolist(), strict=True))
        day_start = start + timedelta(days=day)
        for members in _day_comparisons(
            rng, dict(zip(active.tolist(), counts.tolist(), strict=True)), params.overlap
        ):
            better = "a" if rng.random() < 0.5 else "b"
            for annotator in members:
                right = rng.random() < traits["quality"][annotator]
                choice = better if right else ("b" if better == "a" else "a")
                if rushed_of[annotator]:
                    spent = int(rng.integers(300, params.too_fast_ms))
                else:
                    typical = traits["seconds"][annotator] * 1000.0
                    spent = int(typical * np.exp(rng.normal(0.0, params.time_noise_sigma)))
                served = day_start + timedelta(seconds=float(rng.uniform(0, 20 * 3600)))
                judgments.append(
                    {
                        "annotator": annotator,
                        "comparison_id": next_comparison,
                        "choice": choice,
                        "time_spent_ms": spent,
                        "served_at": served,
                        "submitted_at": served + timedelta(milliseconds=spent),
                    }
                )
            next_comparison += 1
    rows = []
    for judgment_id, judgment in enumerate(judgments, start=1):
        rows.append(_row(rng, params, judgment_id, judgment, revision_of=None))
    revised = rng.random(len(judgments)) < params.revision_share
    next_id = len(judgments) + 1
    for index in np.flatnonzero(revised).tolist():
        judgment = dict(judgments[index])
        judgment["served_at"] = judgment["submitted_at"] + timedelta(seconds=30)
        judgment["submitted_at"] = judgment["served_at"] + timedelta(milliseconds=judgment["time_spent_ms"])
        rows.append(_row(rng, params, next_id, judgment, revision_of=index + 1))
        next_id += 1
    rows.sort(key=lambda row: (row["comparison_id"], row["judgment_id"]))
    truth = {
        "params": asdict(params),
        "seed": seed,
        "annotators": len(first_day),
        "rushed_day_share_realised": rushed_days / max(annotator_days, 1),
        "quality": traits["quality"],
        "first_day": first_day,
    }
    return rows, truth


def _row(
    rng: np.random.Generator,
    params: SyntheticLogParams,
    judgment_id: int,
    judgment: dict[str, Any],
    *,
    revision_of: int | None,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "judgment_id": judgment_id,
        "annotator": f"ann-{judgment['annotator']:05d}",
        "datanet": params.datanet,
        "comparison_id": judgment["comparison_id"],
        "choice": judgment["choice"],
        "strength": STRENGTHS[int(rng.integers(len(STRENGTHS)))],
        "shown_left": "a" if rng.random() < 0.5 else "b",
        "time_spent_ms": judgment["time_spent_ms"],
        "served_at": _iso(judgment["served_at"]),
        "submitted_at": _iso(judgment["submitted_at"]),
        "revision_of": revision_of,
    }


def write_feedback_log(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write rows as a feedback log file (one JSON object per line)."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, separators=(",", ":")) + "\n")
    return path
