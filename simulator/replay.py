"""Replay: the real contributors of a feedback log drive the simulation, epoch by epoch.

Day d of the log is epoch d. Each contributor of the log arrives on the day of their first
judgment and, on every day, makes exactly the judgments the log says (count, agreement with the
others' majority, "flagged" when most were too fast by the economy's ``too_fast_bps`` rule). They never leave by the
simulator's wage rule: the log says when they work. What the log cannot say is how right they
were, so the number of correct judgments, which drives the attribution scores, is drawn from
the quality calibration infers for each of them (:mod:`simulator.calibration`).

Everything else is simulated as usual: the scenario's attackers (added on top of the real
contributors: a scenario option), stakers, consumers and the market.

    replay = ReplayLog.from_file("var/feedback_log.jsonl")
    model = make_model("vectorized", scenario.with_changes(epochs=replay.days), policy, replay=replay)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulator.attribution_model import Kind
from simulator.calibration import (
    DEFAULT_TOO_FAST_BPS,
    LogTable,
    contributor_quality,
    file_sha256,
    majority_of_others,
)
from simulator.feedback_log import read_feedback_log
from simulator.model import independent_traits
from simulator.params import ContributorParams


class ReplayLog:
    """Per-day activity of every contributor in a feedback log, ready to drive a model."""

    def __init__(self, table: LogTable, *, sha256: str = "", seed: int = 0) -> None:
        self.table = table
        self.sha256 = sha256
        self.days = table.days
        eligible, agrees = majority_of_others(table)
        self.quality = contributor_quality(table, seed=seed)
        annotator, day, counts, fast = table.annotator_days()
        key = table.annotator * table.days + table.day
        day_keys = annotator * table.days + day
        position = np.searchsorted(day_keys, key)
        eligible_per_day = np.bincount(position, weights=eligible.astype(np.float64), minlength=len(day_keys))
        agreed_per_day = np.bincount(position, weights=agrees.astype(np.float64), minlength=len(day_keys))
        trials = np.bincount(table.annotator[eligible], minlength=table.annotators)
        overall = np.bincount(
            table.annotator[eligible], weights=agrees[eligible].astype(np.float64), minlength=table.annotators
        )
        overall_rate = np.where(trials > 0, overall / np.maximum(trials, 1), 0.5)
        day_rate = np.where(
            eligible_per_day > 0, agreed_per_day / np.maximum(eligible_per_day, 1), overall_rate[annotator]
        )
        self._annotator = annotator
        self._day = day
        self._count = counts
        self._agreed = np.rint(day_rate * counts).astype(np.int64)
        self._flagged = fast * 2 > counts
        order = np.argsort(day, kind="stable")
        self._order = order
        self._bounds = np.searchsorted(day[order], np.arange(table.days + 1))
        active_days = np.bincount(annotator, minlength=table.annotators)
        self._rate = np.bincount(annotator, weights=counts, minlength=table.annotators) / np.maximum(
            active_days, 1
        )
        seconds = np.bincount(
            table.annotator, weights=np.log(np.maximum(table.time_ms, 1) / 1000.0), minlength=table.annotators
        )
        judged = np.bincount(table.annotator, minlength=table.annotators)
        self._seconds = np.exp(seconds / np.maximum(judged, 1))

    @classmethod
    def from_file(
        cls, path: str | Path, *, too_fast_bps: int = DEFAULT_TOO_FAST_BPS, seed: int = 0
    ) -> ReplayLog:
        path = Path(path)
        table = LogTable(list(read_feedback_log(path)), too_fast_bps=too_fast_bps)
        return cls(table, sha256=file_sha256(path), seed=seed)

    def arrivals(self, epoch: int) -> np.ndarray:
        """Log contributors whose first judgment is on day ``epoch``."""
        return np.flatnonzero(self.table.first_day == epoch)

    def traits(
        self, annotators: np.ndarray, epoch: int, rng: np.random.Generator, params: ContributorParams
    ) -> dict[str, np.ndarray]:
        n = len(annotators)
        return {
            "kind": np.full(n, Kind.HONEST, dtype=np.int8),
            "quality": self.quality[annotators],
            "participation": np.ones(n),
            "rate": self._rate[annotators],
            "seconds": self._seconds[annotators],
            "wage": params.reservation_wage_usd_per_hour.sample(rng, n),
            "sell_fraction": np.full(n, params.sell_fraction),
            "flag_probability": np.zeros(n),  # the log says who was flagged
            "replay_index": annotators.astype(np.int64),
            **independent_traits(n, epoch),
        }

    def activity(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(annotators, judgments, agreed, flagged) of everyone who judged on day ``epoch``."""
        if not 0 <= epoch < self.days:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, np.zeros(0, dtype=bool)
        rows = self._order[self._bounds[epoch] : self._bounds[epoch + 1]]
        return self._annotator[rows], self._count[rows], self._agreed[rows], self._flagged[rows]
