"""Calibration: the contributor parameters of a scenario, fitted to a real feedback log.

    python -m simulator calibrate var/feedback_log.jsonl --out var/calibration.json

What is fitted (one row per judgment event in the log; a revision replaces the judgment it revises):

arrivals           contributors on day 0, and new contributors per later day: Poisson(rate),
                   recovered from the day each is first seen (see _fit_arrivals).
participation      per contributor, the share of days after their first on which they judged:
                   Beta, fitted by moments corrected for the binomial noise of few days.
activity           per contributor, mean judgments per day they judged: lognormal (log-moments,
                   corrected for Poisson noise) and Pareto (maximum likelihood); the one with
                   the smaller KS statistic is used.
time               per contributor, typical seconds per judgment (mean of log time over judgments
                   not too fast): lognormal, the spread between contributors separated from the
                   spread of one contributor's judgments.
reliability        per contributor, agreement with the majority of the *other* judges of the same
                   comparison (where they have a strict majority): Beta, noise-corrected.
quality            the probability of being right behind that agreement: each contributor's
                   agreement r relates to quality q by r = q M + (1 - q)(1 - M), M being the
                   probability the others' majority is right, which itself depends on the others'
                   qualities; both are solved for together (a few fixed-point rounds).
flags              share of contributor-days on which most judgments were too fast: at most
                   ``too_fast_bps`` / 10000 of the log's median time per judgment, the money rule
                   the site's quality control flags by (``PolicyParams.too_fast_bps`` of the
                   economy: one parameter for both); what the simulator's per-epoch flag
                   probability means.

Goodness of fit, per distribution: the KS statistic and p-value of the observed per-contributor
figures against the same figures simulated from the fitted model with each contributor's own
number of days or judgments (a two-sample test, so the observation noise of a contributor seen
on few days is part of the model being tested). p-values are optimistic because the parameters
were fitted to the same data; read a small one as a misfit, not a large one as proof.

The JSON written records the log's sha256, its size, every fitted parameter and each KS check.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from simulator.economy.fields import BASIS_POINTS
from simulator.economy.policies import PolicyParams
from simulator.feedback_log import read_feedback_log
from simulator.params import Dist, Scenario

CALIBRATION_FORMAT = "ledgerloop.simulator.calibration.v1"
CHOICES = ("a", "b", "tie", "both_bad")
MIN_DAYS_OBSERVED = 7  # contributors seen for fewer days say little about participation
MIN_ACTIVE_DAYS = 3
MIN_ELIGIBLE_JUDGMENTS = 5
SIMULATED_REPLICATES = 20


class CalibrationError(ValueError):
    pass


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- the log as arrays ---------------------------------------------------------------------


# The economy's default: quality control's too-fast rule is one of the money rules of every policy.
DEFAULT_TOO_FAST_BPS: int = PolicyParams.__dataclass_fields__["too_fast_bps"].default  # type: ignore[assignment]  # a field declared with a default, so never MISSING


class LogTable:
    """The final judgments of a log (revisions applied) as parallel arrays, one per judgment."""

    def __init__(self, rows: list[dict[str, Any]], *, too_fast_bps: int = DEFAULT_TOO_FAST_BPS) -> None:
        if not rows:
            raise CalibrationError("the feedback log has no rows")
        final: dict[tuple[str, int], dict[str, Any]] = {}
        for row in sorted(rows, key=lambda r: r["judgment_id"]):
            final[(row["annotator"], row["comparison_id"])] = row  # a later revision replaces the earlier
        judgments = list(final.values())
        names = sorted({row["annotator"] for row in judgments})
        index = {name: i for i, name in enumerate(names)}
        submitted = [datetime.fromisoformat(row["submitted_at"].replace("Z", "+00:00")) for row in judgments]
        first_date = min(moment.date() for moment in submitted)
        self.annotator_names = names
        self.first_date = first_date
        self.annotator = np.array([index[row["annotator"]] for row in judgments], dtype=np.int64)
        self.comparison = np.unique([row["comparison_id"] for row in judgments], return_inverse=True)[1]
        self.choice = np.array([CHOICES.index(row["choice"]) for row in judgments], dtype=np.int64)
        self.time_ms = np.array([row["time_spent_ms"] for row in judgments], dtype=np.float64)
        self.day = np.array([(moment.date() - first_date).days for moment in submitted], dtype=np.int64)
        # The site flags an annotator whose median time is at most this share of the Datanet's median.
        self.too_fast_bps = too_fast_bps
        self.too_fast_ms = float(np.median(self.time_ms)) * too_fast_bps / BASIS_POINTS
        self.too_fast = self.time_ms <= self.too_fast_ms
        self.rows = len(rows)
        self.days = int(self.day.max()) + 1
        self.annotators = len(names)
        self.first_day = np.full(self.annotators, self.days, dtype=np.int64)
        np.minimum.at(self.first_day, self.annotator, self.day)

    def __len__(self) -> int:
        return len(self.annotator)

    def annotator_days(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(annotator, day, judgments, too-fast judgments) for every day an annotator judged."""
        key = self.annotator * self.days + self.day
        unique, inverse = np.unique(key, return_inverse=True)
        counts = np.bincount(inverse)
        fast = np.bincount(inverse, weights=self.too_fast.astype(np.float64)).astype(np.int64)
        return unique // self.days, unique % self.days, counts, fast


def majority_of_others(table: LogTable) -> tuple[np.ndarray, np.ndarray]:
    """For each judgment: whether the other judges of its comparison have a strict majority, and
    whether this judgment agrees with it."""
    comparisons = int(table.comparison.max()) + 1
    votes = np.zeros((comparisons, len(CHOICES)), dtype=np.int64)
    np.add.at(votes, (table.comparison, table.choice), 1)
    others = votes[table.comparison].copy()
    others[np.arange(len(table)), table.choice] -= 1
    ranked = np.sort(others, axis=1)
    eligible = ranked[:, -1] > ranked[:, -2]
    agrees = eligible & (others.argmax(axis=1) == table.choice)
    return eligible, agrees


def _others_majority_right(table: LogTable, eligible: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """P(the others' majority is right) per eligible judgment, from the others' qualities.

    Treats each comparison as a choice between the majority's answer and the rest: the log-odds
    that the majority is right is the sum of logit(q) of those in it minus that of those not."""
    logit = np.log(np.clip(quality, 1e-3, 1 - 1e-3) / np.clip(1 - quality, 1e-3, 1 - 1e-3))
    comparisons = int(table.comparison.max()) + 1
    by_choice = np.zeros((comparisons, len(CHOICES)))
    np.add.at(by_choice, (table.comparison, table.choice), logit[table.annotator])
    votes = np.zeros((comparisons, len(CHOICES)), dtype=np.int64)
    np.add.at(votes, (table.comparison, table.choice), 1)
    rows = np.flatnonzero(eligible)
    own = logit[table.annotator[rows]]
    others_votes = votes[table.comparison[rows]].copy()
    others_votes[np.arange(len(rows)), table.choice[rows]] -= 1
    majority = others_votes.argmax(axis=1)
    others_logit = by_choice[table.comparison[rows]].copy()
    others_logit[np.arange(len(rows)), table.choice[rows]] -= own
    in_majority = others_logit[np.arange(len(rows)), majority]
    log_odds = in_majority - (others_logit.sum(axis=1) - in_majority)
    probability: np.ndarray = 1.0 / (1.0 + np.exp(-log_odds))
    return probability


# --- fits ------------------------------------------------------------------------------------


def _ks(observed: np.ndarray, simulated: np.ndarray) -> dict[str, float]:
    from scipy import stats

    result = stats.ks_2samp(observed, simulated)
    return {"ks_statistic": float(result.statistic), "p_value": float(result.pvalue)}


def _beta_by_moments(observed: np.ndarray, trials: np.ndarray) -> tuple[float, float]:
    """Beta(a, b) of the true rates behind observed proportions out of ``trials`` each."""
    mean = float(observed.mean())
    noise = float(np.mean(observed * (1 - observed) / np.maximum(trials - 1, 1)))
    variance = max(float(observed.var()) - noise, 1e-6)
    variance = min(variance, mean * (1 - mean) * 0.999)
    total = mean * (1 - mean) / variance - 1
    return mean * total, (1 - mean) * total


def fit_beta_proportions(
    rng: np.random.Generator, successes: np.ndarray, trials: np.ndarray, name: str
) -> tuple[Dist, dict[str, Any]]:
    observed = successes / trials
    a, b = _beta_by_moments(observed, trials)
    rates = rng.beta(a, b, (SIMULATED_REPLICATES, len(trials)))
    simulated = rng.binomial(np.broadcast_to(trials, rates.shape), rates) / trials
    fit = {
        "distribution": "beta",
        "a": a,
        "b": b,
        "n": int(len(trials)),
        "mean": a / (a + b),
        **_ks(observed, simulated.ravel()),
    }
    fit["method"] = (
        f"moments of per-contributor {name}, less binomial noise; KS against simulated observations"
    )
    return Dist.beta(a, b), fit


def fit_activity(
    rng: np.random.Generator, mean_per_day: np.ndarray, active_days: np.ndarray
) -> tuple[Dist, dict[str, Any]]:
    """Mean judgments per active day: lognormal vs Pareto; the better KS wins."""
    logs = np.log(mean_per_day)
    poisson_noise = np.mean(np.maximum(mean_per_day - 1, 0) / (active_days * mean_per_day**2))
    mu = float(logs.mean())
    sigma = math.sqrt(max(float(logs.var()) - poisson_noise, 1e-6))
    candidates: dict[str, dict[str, Any]] = {}

    def simulate(rates: np.ndarray) -> np.ndarray:
        rates = np.maximum(rates, 1.0)
        totals = rng.poisson((rates - 1) * active_days) + active_days
        means: np.ndarray = (totals / active_days).ravel()
        return means

    shape = (SIMULATED_REPLICATES, len(mean_per_day))
    lognormal = {"distribution": "lognormal", "mu": mu, "sigma": sigma}
    lognormal.update(_ks(mean_per_day, simulate(rng.lognormal(mu, sigma, shape))))
    candidates["lognormal"] = lognormal
    scale = float(mean_per_day.min())
    alpha = (
        float(len(mean_per_day) / np.sum(np.log(mean_per_day / scale)))
        if np.any(mean_per_day > scale)
        else 50.0
    )
    pareto = {"distribution": "pareto", "alpha": alpha, "scale": scale}
    pareto.update(_ks(mean_per_day, simulate(scale * (1 + rng.pareto(alpha, shape)))))
    candidates["pareto"] = pareto
    best = min(candidates, key=lambda name: candidates[name]["ks_statistic"])
    fit = dict(candidates[best], n=int(len(mean_per_day)), alternatives=candidates)
    fit["method"] = (
        "per-contributor mean judgments per active day; lognormal by log-moments less Poisson noise, Pareto by maximum likelihood; the smaller KS statistic is used"
    )
    dist = Dist.lognormal(mu, sigma) if best == "lognormal" else Dist("pareto", alpha, scale)
    return dist, fit


def _fit_seconds(rng: np.random.Generator, table: LogTable) -> tuple[Dist, dict[str, Any]]:
    normal = ~table.too_fast & (table.time_ms > 0)
    logs = np.log(table.time_ms[normal] / 1000.0)
    who = table.annotator[normal]
    counts = np.bincount(who, minlength=table.annotators)
    seen = counts >= 2
    means = np.bincount(who, weights=logs, minlength=table.annotators)[seen] / counts[seen]
    deviations = (
        logs - (np.bincount(who, weights=logs, minlength=table.annotators) / np.maximum(counts, 1))[who]
    )
    within = float(np.sum(deviations**2) / max(len(logs) - int(seen.sum()), 1))
    n = counts[seen]
    mu = float(means.mean())
    sigma = math.sqrt(max(float(means.var()) - float(np.mean(within / n)), 1e-6))
    shape = (SIMULATED_REPLICATES, len(n))
    simulated = rng.normal(mu, sigma, shape) + rng.normal(0, 1, shape) * np.sqrt(within / n)
    fit = {
        "distribution": "lognormal",
        "mu": mu,
        "sigma": sigma,
        "within_sigma": math.sqrt(within),
        "n": int(len(n)),
    }
    fit.update(_ks(means, simulated.ravel()))
    fit["method"] = (
        "per-contributor mean log seconds (judgments not too fast); spread between contributors less the within-contributor spread"
    )
    return Dist.lognormal(mu, sigma), fit


def _fit_arrivals(
    rng: np.random.Generator, table: LogTable, participation: Dist
) -> tuple[int, float, dict[str, Any]]:
    """Contributors at day 0 and newcomers per day, from the days they are first *seen*.

    A newcomer is first seen on the first day they judge, a geometric delay after arriving (their
    participation p per day). With p ~ Beta(a, b), the chance of a delay of k days is
    E[p (1 - p)^k] = B(a + 1, b + k) / B(a, b), so the expected first-seen count on day t is
    linear in the two unknowns: initial * E[p (1-p)^t] + rate * sum_{k<t} E[p (1-p)^k]. They are
    fitted by least squares (clipped at zero)."""
    from scipy.special import betaln

    seen = np.bincount(table.first_day, minlength=table.days).astype(np.float64)
    a, b = participation.a, participation.b
    delay = np.exp(betaln(a + 1, b + np.arange(table.days)) - betaln(a, b))
    from_initial = delay
    from_later = np.concatenate([[0.0], np.cumsum(delay)[:-1]])
    design = np.column_stack([from_initial, from_later])
    (initial, rate), *_ = np.linalg.lstsq(design, seen, rcond=None)
    initial, rate = max(float(initial), 0.0), max(float(rate), 0.0)
    simulated = []
    for _ in range(SIMULATED_REPLICATES):
        arrivals = np.concatenate(
            [[0] * round(initial), np.repeat(np.arange(1, table.days), rng.poisson(rate, table.days - 1))]
        )
        first = arrivals + rng.geometric(rng.beta(a, b, len(arrivals))) - 1
        simulated.append(np.bincount(first[first < table.days], minlength=table.days))
    fit = {"distribution": "poisson", "rate": rate, "initial": round(initial), "n": int(table.days)}
    fit.update(_ks(seen, np.concatenate(simulated).astype(np.float64)))
    fit["method"] = (
        "contributors first seen per day = arrivals delayed by their geometric wait for a day they judge; "
        "least squares; KS of daily first-seen counts against simulated ones (discrete: conservative)"
    )
    return round(initial), rate, fit


def _fit_quality(
    rng: np.random.Generator, table: LogTable, eligible: np.ndarray, agrees: np.ndarray, rounds: int = 8
) -> tuple[Dist, Dist, float, dict[str, Any], dict[str, Any], np.ndarray]:
    """Reliability (agreement) and the quality behind it, with M, solved together."""
    trials = np.bincount(table.annotator[eligible], minlength=table.annotators)
    agreed = np.bincount(
        table.annotator[eligible], weights=agrees[eligible].astype(np.float64), minlength=table.annotators
    )
    enough = trials >= MIN_ELIGIBLE_JUDGMENTS
    if enough.sum() < 5:
        raise CalibrationError(
            f"too few contributors with {MIN_ELIGIBLE_JUDGMENTS}+ judgments on comparisons where others agree ({int(enough.sum())}); the log is too small to calibrate reliability"
        )
    reliability = np.where(trials > 0, agreed / np.maximum(trials, 1), 0.5)
    reliability_dist, reliability_fit = fit_beta_proportions(
        rng, agreed[enough], trials[enough], "agreement with the others' majority"
    )
    quality = np.clip(reliability, 0.01, 0.99)
    majority_right = np.full(table.annotators, 0.9)
    for _ in range(rounds):
        per_judgment = _others_majority_right(table, eligible, quality)
        sums = np.bincount(table.annotator[eligible], weights=per_judgment, minlength=table.annotators)
        majority_right = np.where(trials > 0, sums / np.maximum(trials, 1), 0.9)
        quality = np.clip(
            (reliability - 1 + majority_right) / np.maximum(2 * majority_right - 1, 1e-3), 0.0, 1.0
        )
    overall_m = float(per_judgment.mean())
    q = quality[enough]
    m = majority_right[enough]
    stretch = 1.0 / np.maximum(2 * m - 1, 1e-3) ** 2
    mean = float(q.mean())
    noise = float(
        np.mean(reliability[enough] * (1 - reliability[enough]) / np.maximum(trials[enough] - 1, 1) * stretch)
    )
    variance = min(max(float(q.var()) - noise, 1e-6), mean * (1 - mean) * 0.999)
    total = mean * (1 - mean) / variance - 1
    a, b = mean * total, (1 - mean) * total
    true_q = rng.beta(a, b, (SIMULATED_REPLICATES, int(enough.sum())))
    simulated_r = (
        rng.binomial(np.broadcast_to(trials[enough], true_q.shape), true_q * m + (1 - true_q) * (1 - m))
        / trials[enough]
    )
    simulated_q = np.clip((simulated_r - 1 + m) / np.maximum(2 * m - 1, 1e-3), 0, 1)
    quality_fit = {
        "distribution": "beta",
        "a": a,
        "b": b,
        "mean": mean,
        "n": int(enough.sum()),
        **_ks(q, simulated_q.ravel()),
    }
    quality_fit["method"] = (
        "agreement r = q M + (1 - q)(1 - M) solved for q with M from the others' qualities; moments less noise"
    )
    return reliability_dist, Dist.beta(a, b), overall_m, reliability_fit, quality_fit, quality


def contributor_quality(table: LogTable, *, seed: int = 0) -> np.ndarray:
    """Each contributor's estimated quality (probability of being right), from their agreement."""
    eligible, agrees = majority_of_others(table)
    return _fit_quality(np.random.default_rng(seed), table, eligible, agrees)[-1]


def calibrate(path: str | Path, *, too_fast_bps: int = DEFAULT_TOO_FAST_BPS, seed: int = 0) -> dict[str, Any]:
    """Fit the contributor parameters to the log at ``path``; returns the calibration as data."""
    path = Path(path)
    rows = list(read_feedback_log(path))
    table = LogTable(rows, too_fast_bps=too_fast_bps)
    rng = np.random.default_rng(seed)
    annotator, day, counts, fast = table.annotator_days()
    observed_days = table.days - table.first_day
    active_days = np.bincount(annotator, minlength=table.annotators)
    long_enough = observed_days >= MIN_DAYS_OBSERVED
    if long_enough.sum() < 5:
        raise CalibrationError(
            f"{path}: too few contributors observed for {MIN_DAYS_OBSERVED}+ days ({int(long_enough.sum())}); the log covers {table.days} days"
        )
    # The day a contributor is first seen is a day they judged by definition: count from the next.
    participation, participation_fit = fit_beta_proportions(
        rng,
        active_days[long_enough] - 1,
        observed_days[long_enough] - 1,
        "share of days judged after the first",
    )
    judgments = np.bincount(annotator, weights=counts, minlength=table.annotators)
    busy = active_days >= MIN_ACTIVE_DAYS
    activity, activity_fit = fit_activity(rng, judgments[busy] / active_days[busy], active_days[busy])
    seconds, seconds_fit = _fit_seconds(rng, table)
    initial, arrival_rate, arrival_fit = _fit_arrivals(rng, table, participation)
    eligible, agrees = majority_of_others(table)
    reliability, quality, majority_accuracy, reliability_fit, quality_fit, _ = _fit_quality(
        rng, table, eligible, agrees
    )
    flagged_days = fast * 2 > counts
    flag_probability = float(flagged_days.mean())
    return {
        "format": CALIBRATION_FORMAT,
        "log": {
            "file": path.name,
            "sha256": file_sha256(path),
            "rows": table.rows,
            "judgments": len(table),
            "annotators": table.annotators,
            "comparisons": int(table.comparison.max()) + 1,
            "days": table.days,
            "first_day": table.first_date.isoformat(),
        },
        "too_fast_bps": too_fast_bps,
        "too_fast_ms": table.too_fast_ms,
        "contributors": {
            "initial": initial,
            "arrivals_per_epoch": arrival_rate,
            "participation": participation.to_data(),
            "judgments_per_active_day": activity.to_data(),
            "seconds_per_judgment": seconds.to_data(),
            "quality": quality.to_data(),
            "majority_accuracy": majority_accuracy,
            "flag_probability": flag_probability,
        },
        "observed": {
            "too_fast_share_of_judgments": float(table.too_fast.mean()),
            "flagged_share_of_contributor_days": flag_probability,
            "reliability": reliability.to_data(),
            "majority_accuracy": majority_accuracy,
        },
        "fits": {
            "arrivals": arrival_fit,
            "participation": participation_fit,
            "judgments_per_active_day": activity_fit,
            "seconds_per_judgment": seconds_fit,
            "reliability": reliability_fit,
            "quality": quality_fit,
        },
    }


def save_calibration(calibration: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(calibration, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_calibration(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CalibrationError(f"{path}: cannot read calibration: {error}") from None
    if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
        raise CalibrationError(f"{path}: not a calibration file (expected format {CALIBRATION_FORMAT!r})")
    return data


def apply_calibration(scenario: Scenario, calibration: dict[str, Any]) -> Scenario:
    """The scenario with its organic contributors' fitted parameters replaced by the calibrated ones."""
    from simulator.params import ContributorParams, scenario_part_from_data

    merged = {**scenario.to_data()["contributors"], **calibration["contributors"]}
    return scenario.with_changes(
        contributors=scenario_part_from_data(ContributorParams, merged, "calibration.contributors")
    )
