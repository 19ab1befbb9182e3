"""Pay by evidence, not by noise: the arithmetic of the ``attribution_evidence`` policy.

Why a new rule. A contributor's attribution in one epoch is the sum of their judgments'
influence scores, and one judgment's score is mostly noise (its standard deviation is several
times its mean). A policy that pays the positive part of each epoch's sum pays every account
whose noise happened to come out positive, so a crowd of accounts that add nothing collects the
positive tail of their noise, epoch after epoch, while their negative epochs cost them nothing.

The rule, per account, over every epoch it was scored in:
- its **evidence** is its cumulative attribution measured in units of one judgment's noise
  (each epoch's scores are divided by that epoch's per-judgment noise estimate, below), and
  negative epochs count against it: a balance is carried forward, never reset;
- its **bound** is ``evidence - confidence * sqrt(judgments)``: a lower confidence bound,
  ``confidence`` standard errors below what the evidence says (pure noise over ``n`` judgments
  has a standard deviation of ``sqrt(n)`` in these units, so noise alone rarely lifts the bound
  above zero, and a steady positive contribution lifts it in proportion to its size);
- it is paid, in proportion to the epoch's budget, for how far its bound rose above the highest
  bound it was already paid for (``credited``): pay follows new evidence only, so after a harmful
  stretch the account must first earn back what it lost before it is paid again;
- before ``min_judgments`` scored judgments, and without ``min_bond`` bonded, it earns nothing
  yet (its evidence still accrues and is paid once it qualifies); a flagged account forfeits
  what its bound gained that epoch (a flag means no pay).

The per-judgment noise of an epoch is estimated from the epoch's cross-section of accounts:
``mean = sum(scores) / sum(judgments)`` and ``noise_sd**2 = sum((score - judgments * mean)**2) /
sum(judgments)``, with exactly rounded sums (``math.fsum``), so the estimate does not depend on
the order of the accounts and the site and the simulator compute the same floats. An epoch with
fewer than two scored accounts, or no spread at all, gives no estimate: it is not counted, its
budget is carried over and the explanation says so.

Why the defaults are ``confidence = 0`` and ``min_judgments = 1`` (governance can raise both):
the standard sweep (benchmarks/RESULTS.md, "Fair pay") shows that carrying the balance forward
and paying only new highs is what keeps noise from being paid. An account that adds nothing is
a random walk, whose running maximum grows like the square root of its judgments, while an
honest account's evidence grows in proportion to them, so noise's share falls as a run goes on.
A bound below the evidence, or a minimum of judgments, lowers attackers' share a little more but
delays or denies honest newcomers' first pay (who then leave) and lowers the rank correlation
of honest pay with fair pay below 0.9.

Rewards are not vested and clawed back. The high-water mark already keeps later harm from being
paid over (a negative stretch must be earned back before any new pay), and locking paid rewards
to claw them back would delay every honest contributor's pay to catch the few whose attribution
turns negative after being positive, which the bound makes rare.

Everything here is pure numpy on parallel arrays, one row per account scored in the epoch, so
the simulator's hundred thousand accounts and the site's dict of accounts run the same code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.economy.units import base_units_to_open

# What happened to an account in the epoch, in the order the explanation's counts list them.
STATUSES = ("paid", "below_bound", "needs_judgments", "needs_bond", "flagged", "not_counted")
PAID, BELOW_BOUND, NEEDS_JUDGMENTS, NEEDS_BOND, FLAGGED, NOT_COUNTED = range(len(STATUSES))


@dataclass(frozen=True)
class EvidenceStep:
    """One epoch of the rule over parallel arrays (one row per account scored in the epoch)."""

    counted: bool  # False: no noise estimate this epoch; standing unchanged, nobody paid
    reason: str  # why not counted ("" when counted)
    mean_per_judgment: float
    noise_sd: float
    evidence: np.ndarray  # float64, after this epoch
    judgments: np.ndarray  # int64, after this epoch
    credited: np.ndarray  # float64, after this epoch
    bound: np.ndarray  # float64, after this epoch
    gain: np.ndarray  # float64, what the epoch pays each account for (0 unless status PAID)
    status: np.ndarray  # int8, an index of STATUSES


def noise_estimate(scores: np.ndarray, counts: np.ndarray) -> tuple[float, float, float, str]:
    """``(scale, mean, noise sd, reason)`` from one epoch's cross-section, where ``mean`` and
    ``noise sd`` are per judgment and in units of ``scale`` (the largest |score|, so that no sum
    can overflow whatever the scores' magnitude); the sd is 0.0, with the reason, when there is
    no estimate."""
    total = int(counts.sum())
    if len(scores) < 2 or total == 0:
        return (
            1.0,
            0.0,
            0.0,
            (
                f"{len(scores)} scored account(s) with {total} judgment(s): at least two accounts with "
                "judgments are needed to estimate the noise"
            ),
        )
    scale = float(np.abs(scores).max())
    if scale == 0.0:
        return 1.0, 0.0, 0.0, "every score is zero: no spread to estimate the noise from"
    scaled = scores / scale
    mean = math.fsum(scaled.tolist()) / total
    residuals = scaled - counts * mean
    variance = math.fsum((residuals * residuals).tolist()) / total
    if not variance > 0.0:
        return (
            scale,
            mean,
            0.0,
            "every account's score is exactly its share of the mean: no spread to estimate the noise from",
        )
    return scale, mean, math.sqrt(variance), ""


@dataclass(frozen=True)
class EvidenceRows:
    """One epoch's accounts as parallel arrays: this epoch's ``scores`` (float64) and ``counts``
    (int64 judgments), ``flagged`` and ``bonded`` (has enough bond to earn; bool), and each
    account's standing before the epoch (``evidence``, ``judgments``, ``credited``; zeros for a
    new account)."""

    scores: np.ndarray
    counts: np.ndarray
    flagged: np.ndarray
    bonded: np.ndarray
    evidence: np.ndarray
    judgments: np.ndarray
    credited: np.ndarray


def evidence_step(rows: EvidenceRows, *, confidence: float, min_judgments: int) -> EvidenceStep:
    """Apply one epoch of the rule to ``rows``."""
    flagged, bonded = rows.flagged, rows.bonded
    evidence, judgments, credited = rows.evidence, rows.judgments, rows.credited
    scores = np.asarray(rows.scores, dtype=np.float64)
    counts = np.asarray(rows.counts, dtype=np.int64)
    scale, mean, noise_sd, reason = noise_estimate(scores, counts)
    if not noise_sd:
        bound = evidence - confidence * np.sqrt(judgments)
        return EvidenceStep(
            False, reason, mean, 0.0, evidence, judgments, credited, bound,
            np.zeros(len(scores)), np.full(len(scores), NOT_COUNTED, dtype=np.int8),
        )  # fmt: skip
    evidence = evidence + scores / scale / noise_sd
    judgments = judgments + counts
    bound = evidence - confidence * np.sqrt(judgments)
    enough = judgments >= min_judgments
    eligible = enough & bonded
    rise = np.where(eligible, np.maximum(bound - credited, 0.0), 0.0)
    credited = np.where(eligible, np.maximum(credited, bound), credited)
    paid = (rise > 0.0) & ~flagged
    status = np.select(
        [~enough, ~bonded, flagged & (rise > 0.0), paid],
        [NEEDS_JUDGMENTS, NEEDS_BOND, FLAGGED, PAID],
        BELOW_BOUND,
    ).astype(np.int8)
    return EvidenceStep(
        True,
        "",
        mean * scale,
        noise_sd * scale,
        evidence,
        judgments,
        credited,
        bound,
        np.where(paid, rise, 0.0),
        status,
    )


def status_counts(status: np.ndarray) -> dict[str, int]:
    counts = np.bincount(status, minlength=len(STATUSES))
    return {name: int(count) for name, count in zip(STATUSES, counts.tolist(), strict=True)}


def account_details(accounts: list[str], rows: EvidenceRows, step: EvidenceStep) -> dict[str, dict[str, Any]]:
    """What the explanation keeps about each account: enough to say in words why it got its pay.
    Built column by column (a million accounts settle in one epoch)."""
    this_epoch = (step.judgments - rows.judgments) if step.counted else np.zeros(len(accounts), dtype=np.int64)
    statuses = np.array(STATUSES, dtype=object)[step.status].tolist()
    return {
        account: {
            "score": score, "judgments_this_epoch": now, "evidence_before": evidence_before, "evidence": evidence,
            "judgments": judgments, "bound": bound, "credited_before": credited_before, "credited": credited,
            "gain": gain, "status": status,
        }  # fmt: skip
        for account, score, now, evidence_before, evidence, judgments, bound, credited_before, credited, gain, status in zip(
            accounts, rows.scores.tolist(), this_epoch.tolist(), rows.evidence.tolist(), step.evidence.tolist(),
            step.judgments.tolist(), step.bound.tolist(), rows.credited.tolist(), step.credited.tolist(),
            step.gain.tolist(), statuses, strict=True,
        )  # fmt: skip
    }


def _number(value: float) -> str:
    return f"{value:.2f}"


def explain_evidence_account(explanation: Mapping[str, Any], account: str, payout: int) -> list[str]:
    """Plain words for one account's payout under ``attribution_evidence``, from the epoch's
    explanation (what the earnings page shows)."""
    detail = explanation.get("accounts", {}).get(account)
    params = explanation.get("params", {})
    if detail is None:
        return [
            "You had no attribution scored in this epoch, so it paid you nothing; your earlier evidence carries on unchanged."
        ]
    evidence = explanation.get("evidence", {})
    lines = []
    if not evidence.get("counted", True):
        return [
            f"This epoch was not counted: {evidence.get('reason', '')}. Its budget is carried over to the next epoch; your standing is unchanged."
        ]
    lines.append(
        f"Your judgments this epoch scored {detail['score']:.4g} in attribution over {detail['judgments_this_epoch']} judgment(s); "
        f"one judgment's noise this epoch was {evidence.get('noise_sd', 0.0):.4g}, so your evidence moved from "
        f"{_number(detail['evidence_before'])} to {_number(detail['evidence'])} (negative epochs count against it and carry forward)."
    )
    confidence = params.get("confidence_centi_sd", 0) / 100
    lines.append(
        f"Your confidence bound is your evidence less {confidence:g} x the square root of your {detail['judgments']} scored judgments: "
        f"{_number(detail['bound'])}. You had been paid up to a bound of {_number(detail['credited_before'])}."
    )
    status = detail["status"]
    if status == "paid":
        lines.append(
            f"Your bound rose by {_number(detail['gain'])}, so you were paid {base_units_to_open(payout)} OPEN: "
            "this epoch's budget is shared in proportion to how far each contributor's bound rose."
        )
    elif status == "below_bound":
        lines.append(
            f"Your bound is not above what you were already paid for, so this epoch paid you nothing; you are paid again once it rises above "
            f"{_number(detail['credited'])}."
        )
    elif status == "needs_judgments":
        lines.append(
            f"You need {params.get('min_judgments')} scored judgments before a first payout and have {detail['judgments']}; "
            "your evidence is kept and paid once you reach them."
        )
    elif status == "needs_bond":
        lines.append(
            f"Earning needs a bond of at least {base_units_to_open(params.get('min_bond', 0))} OPEN; your evidence is kept and paid once you bond it."
        )
    elif status == "flagged":
        lines.append(
            "Quality control flagged you this epoch, and a flag means no pay: what your bound gained this epoch is forfeited."
        )
    if payout and status != "paid":
        lines.append(f"You were paid {base_units_to_open(payout)} OPEN.")
    if status == "paid" and explanation.get("withheld", {}).get("contributor_cap", 0) + explanation.get(
        "withheld", {}
    ).get("cluster_cap", 0):
        lines.append(
            "Some contributors reached the per-contributor or cluster cap; what the caps withheld is carried over to the next epoch."
        )
    return lines
