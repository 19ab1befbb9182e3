"""Emission policies: how an epoch's budget is divided among contributors.

A policy is a pure function ``(params, inputs: EpochInputs) -> EpochResult``; its parameters are
a frozen dataclass of plain data (ints, None) with a help string per field, so governance can
propose a change as JSON (:func:`policy_from_dict`) and the simulator can sweep it.

Policies (all exclude flagged contributors):
- ``volume``: pay per accepted judgment.
- ``agreement``: judgments weighted by agreement with peers or gold; below a threshold, nothing.
- ``attribution``: in proportion to positive attribution (Proof of Attribution).
- ``attribution_bonded``: attribution, plus: bonds slashed for negative attribution; total
  rewards capped at a multiple of the fees collected; a cap per identity cluster, so splitting
  one person into many accounts cannot raise their share beyond it.

Every policy guarantees, exactly: ``sum(payouts) + carry_over == budget``, no payout negative,
nobody above the per-contributor cap, every slash at most the bond. Whatever is not paid
(caps, no eligible contributor) is carried over to the next epoch, never lost; ``explanation
["withheld"]`` says why, to the base unit.

Quality and attribution figures become integer weights on a fixed grid first (see
:mod:`simulator.economy.weights`), so every split is exact integer arithmetic. Money never
leaves Python ints, since a day's budget (~4.3e23 base units) exceeds int64; numpy does the
per-contributor weight arithmetic and the ranking inside the exact split.
"""

from __future__ import annotations

import dataclasses
import operator
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from typing import Any, ClassVar

import numpy as np

from simulator.economy.epoch import EpochInputs, EpochResult, Standing
from simulator.economy.evidence import (
    EvidenceRows,
    EvidenceStep,
    account_details,
    evidence_step,
    explain_evidence_account,
    status_counts,
)
from simulator.economy.fees import FeeSplitParams
from simulator.economy.fields import (
    BASIS_POINTS,
    describe_fields,
    non_negative_int,
    optional,
    param,
    positive_int,
    require_bps,
    require_int,
    require_whole_split,
    validate_fields,
)
from simulator.economy.units import (
    BASE_UNITS_PER_OPEN,
    base_units_to_open,
    nonzero_shares,
    split_by_integer_weights,
)
from simulator.economy.weights import ATTRIBUTION_SCALE, QUALITY_SCALE, attribution_weights, quality_units

_CONTRIBUTOR_CAP_HELP = (
    "Most one contributor can receive in an epoch, in basis points of the epoch's reward pool (the budget, or the fee cap when lower) "
    "(10000 = no cap); the excess is carried over."
)


_FEE_PARTS = ("contributors", "model_owner", "stakers", "treasury")
_FEE_DEFAULTS = FeeSplitParams()


def _fee_field(part: str) -> Any:
    help_text = FeeSplitParams.__dataclass_fields__[f"{part}_bps"].metadata["help"]
    return param(
        getattr(_FEE_DEFAULTS, f"{part}_bps"),
        f"Fee split: {help_text[0].lower()}{help_text[1:]} In basis points; the four fee_*_bps add up to 10000.",
        require_bps,
    )


@dataclass(frozen=True)
class PolicyParams:
    """Base of every policy's parameters: ``name`` and ``version`` identify the rule they feed.

    The fields declared here are the money rules every policy shares, so that one governed
    parameter set decides them for the site's settlement and the simulator alike:
    - the fee split (``fee_*_bps``): how each fee paid for using a model is shared;
    - ``price_per_call`` and ``price_per_token``: what a consumer pays for one call to a served
      model (:meth:`call_fee`);
    - ``too_fast_bps``: when quality control flags a contributor as too fast. A flag means no
      pay: a flagged contributor earns nothing that epoch, from emission or fees
      (:func:`fee_weights` and each policy's use of :func:`_unflagged`).
    Per-contributor and cluster caps are fields of each policy, since they differ.
    """

    name: ClassVar[str]
    version: ClassVar[int]

    fee_contributors_bps: int = _fee_field("contributors")
    fee_model_owner_bps: int = _fee_field("model_owner")
    fee_stakers_bps: int = _fee_field("stakers")
    fee_treasury_bps: int = _fee_field("treasury")
    too_fast_bps: int = param(
        3500,
        "Quality control flags a contributor as too fast when their median time per judgment is at most "
        "this share of the Datanet's median, in basis points (3500 = 0.35x); a flagged contributor earns "
        "nothing that epoch. 1 to 10000.",
        lambda value, *, where: require_int(value, where=where, minimum=1, maximum=BASIS_POINTS),
    )
    price_per_call: int = param(
        BASE_UNITS_PER_OPEN,
        "Fee a consumer pays for one call to a served model, in base units (10**18 = 1 OPEN): the site "
        "charges it per inference call and the simulator's consumers pay it. 0 makes calls free.",
        non_negative_int,
    )
    price_per_token: int = param(
        0,
        "Fee a consumer pays per token of a call, the prompt's and the reply's, on top of price_per_call, "
        "in base units (10**18 = 1 OPEN). 0 prices a call by the call alone.",
        non_negative_int,
    )

    def __post_init__(self) -> None:
        validate_fields(self)
        require_whole_split(self, [f"fee_{part}_bps" for part in _FEE_PARTS])

    def call_fee(self, *, tokens_in: int, tokens_out: int) -> int:
        """The fee of one call that reads ``tokens_in`` tokens and writes ``tokens_out``, in base units:
        the site charges it and the simulator's consumers pay it."""
        tokens_in = require_int(tokens_in, where="tokens_in", minimum=0)
        tokens_out = require_int(tokens_out, where="tokens_out", minimum=0)
        return self.price_per_call + self.price_per_token * (tokens_in + tokens_out)

    def fee_split(self) -> FeeSplitParams:
        """The fee split these parameters decide."""
        return FeeSplitParams(**{f"{part}_bps": getattr(self, f"fee_{part}_bps") for part in _FEE_PARTS})


def _cluster_cap_field() -> Any:
    return param(
        1000,
        "Most one identity cluster (a lone account is a cluster of one) can receive, in basis points "
        "of the epoch's reward pool (the budget, or the fee cap when lower); the excess is carried over.",
        require_bps,
    )


def _min_bond_field() -> Any:
    return param(
        0,
        "Base units a contributor must have bonded to earn anything (0 = no bond needed).",
        non_negative_int,
    )


@dataclass(frozen=True)
class VolumeParams(PolicyParams):
    name: ClassVar[str] = "volume"
    version: ClassVar[int] = 1

    max_contributor_share_bps: int = param(BASIS_POINTS, _CONTRIBUTOR_CAP_HELP, require_bps)


@dataclass(frozen=True)
class AgreementParams(PolicyParams):
    name: ClassVar[str] = "agreement"
    version: ClassVar[int] = 1

    min_agreement_bps: int = param(
        0,
        "Agreement rate below which a contributor earns nothing, in basis points (5000 = 50%).",
        require_bps,
    )
    max_contributor_share_bps: int = param(BASIS_POINTS, _CONTRIBUTOR_CAP_HELP, require_bps)


@dataclass(frozen=True)
class AttributionParams(PolicyParams):
    name: ClassVar[str] = "attribution"
    version: ClassVar[int] = 1

    max_contributor_share_bps: int = param(BASIS_POINTS, _CONTRIBUTOR_CAP_HELP, require_bps)


@dataclass(frozen=True)
class AttributionBondedParams(PolicyParams):
    name: ClassVar[str] = "attribution_bonded"
    # 2: the cluster and contributor caps are shares of the reward pool (budget or fee cap), not of the budget.
    version: ClassVar[int] = 2

    slash_rate_bps: int = param(
        2000,
        "Share of the bond slashed from a contributor whose harm equals the epoch's largest absolute "
        "attribution, in basis points; smaller harm is slashed proportionally less.",
        require_bps,
    )
    fee_multiple_bps: int | None = param(
        30000,
        "Total rewards are at most this multiple of the fees collected, in basis points "
        "(30000 = 3x fees); the rest is carried over. null = no fee cap.",
        optional(non_negative_int),
    )
    max_cluster_share_bps: int = _cluster_cap_field()
    max_contributor_share_bps: int = param(BASIS_POINTS, _CONTRIBUTOR_CAP_HELP, require_bps)
    min_bond: int = _min_bond_field()


@dataclass(frozen=True)
class AttributionEvidenceParams(PolicyParams):
    """Parameters of ``attribution_evidence``; the rule and why are in :mod:`simulator.economy.evidence`."""

    name: ClassVar[str] = "attribution_evidence"
    version: ClassVar[int] = 1

    # Defaults from the standard sweep (benchmarks/RESULTS.md, "Fair pay"): the high-water mark on
    # cumulative evidence is what keeps noise from being paid; a bound below it, or a minimum of
    # judgments, delays honest newcomers and lowers the rank correlation with fair pay without
    # lowering attackers' share much. Both stay available to governance.
    confidence_centi_sd: int = param(
        0,
        "How far below an account's cumulative evidence its paid bound sits, in hundredths of a standard "
        "error (100 = one standard error): higher keeps noise from being paid, and pays honest newcomers later.",
        non_negative_int,
    )
    min_judgments: int = param(
        1,
        "Scored judgments an account needs in total before its first payout (the evidence window); "
        "its evidence accrues meanwhile and is paid once it qualifies. At least 1.",
        positive_int,
    )
    min_bond: int = _min_bond_field()
    max_cluster_share_bps: int = _cluster_cap_field()
    max_contributor_share_bps: int = param(BASIS_POINTS, _CONTRIBUTOR_CAP_HELP, require_bps)


# Every policy's parameters the economy defines carry a per-contributor cap.
CappedParams = VolumeParams | AgreementParams | AttributionParams | AttributionBondedParams | AttributionEvidenceParams


# --- weights -------------------------------------------------------------------------------


def _unflagged(mapping: Mapping[str, Any], flagged: frozenset[str]) -> tuple[list[str], list[Any]]:
    """Accounts of ``mapping`` that are not flagged, with their values, in the mapping's order."""
    accounts, values = list(mapping), list(mapping.values())
    if mapping.keys().isdisjoint(flagged):
        return accounts, values
    keep = list(map(operator.not_, map(flagged.__contains__, accounts)))
    return list(compress(accounts, keep)), list(compress(values, keep))


def fee_weights(inputs: EpochInputs) -> dict[str, int]:
    """Who shares the contributors' part of the epoch's fees, by integer weight: positive
    attribution on the grid of :func:`attribution_weights`. A flag means no pay, fees included,
    so flagged contributors are left out. The rule of every policy that does not decide its own."""
    accounts, scores = _unflagged(inputs.attribution_scores, inputs.flagged)
    return nonzero_shares(accounts, attribution_weights(scores).tolist())


# --- the shared settlement step --------------------------------------------------------------


def _cap_each(shares: list[int], cap: int) -> list[int]:
    if not shares or max(shares) <= cap:
        return shares
    return [share if share <= cap else cap for share in shares]


def _cap_clusters(payouts: dict[str, int], clusters: Mapping[str, str], cap: int) -> None:
    """Bound every identity cluster's total at ``cap``, in place. A capped cluster keeps ``cap``,
    split among its accounts in proportion to what they had, so nobody's payout goes up.
    Accounts outside any cluster are clusters of one and must already be capped by the caller."""
    members: dict[str, list[str]] = defaultdict(list)
    for account, cluster in clusters.items():
        if account in payouts:
            members[cluster].append(account)
    for accounts in members.values():
        shares = [payouts[account] for account in accounts]
        if sum(shares) <= cap:
            continue
        for account, share in zip(accounts, split_by_integer_weights(cap, accounts, shares), strict=True):
            if share:
                payouts[account] = share
            else:
                del payouts[account]


def _settle(
    params: CappedParams,
    inputs: EpochInputs,
    accounts: list[str],
    weights: Sequence[int] | np.ndarray,
    *,
    reward_pool: int,
    cluster_cap_bps: int | None = None,
    slashes: dict[str, int] | None = None,
    fee_weights_decided: dict[str, int] | None = None,
    standing: dict[str, Standing] | None = None,
    detail: dict[str, Any] | None = None,
) -> EpochResult:
    """Split ``reward_pool`` by ``weights``, apply the caps, carry the rest over, explain.

    The fee weights are :func:`fee_weights` unless the policy decided its own; ``detail`` joins
    the explanation (what a policy adds to say why each account got what it got)."""
    budget = inputs.budget
    shares = split_by_integer_weights(reward_pool, accounts, weights)
    allocated = sum(shares)
    # Caps are shares of what this epoch can pay (the reward pool), not of the budget: the budget
    # includes carry-over, which under a fee cap grows without limit and would make any cap toothless.
    shares = _cap_each(shares, reward_pool * params.max_contributor_share_bps // BASIS_POINTS)
    after_contributor_cap = sum(shares)
    if cluster_cap_bps is not None:
        cluster_cap = reward_pool * cluster_cap_bps // BASIS_POINTS
        shares = _cap_each(shares, cluster_cap)  # a lone account is a cluster of one
    payouts = nonzero_shares(accounts, shares)
    if cluster_cap_bps is not None and inputs.clusters:
        _cap_clusters(payouts, inputs.clusters, cluster_cap)
    paid = sum(payouts.values())
    slashes = slashes or {}
    explanation = {
        "policy": params.name,
        "version": params.version,
        "params": params_to_dict(params),
        "epoch": inputs.epoch,
        "budget": budget,
        "reward_pool": reward_pool,
        "paid": paid,
        "carry_over": budget - paid,
        "withheld": {
            "fee_cap": budget - reward_pool,
            "no_eligible_weight": reward_pool - allocated,
            "contributor_cap": allocated - after_contributor_cap,
            "cluster_cap": after_contributor_cap - paid,
        },
        "contributors_considered": len(accounts),
        "contributors_paid": len(payouts),
        "flagged_accounts": len(inputs.flagged),
        "slashed_total": sum(slashes.values()),
        "contributors_slashed": len(slashes),
        **(detail or {}),
    }
    return EpochResult(
        payouts=payouts,
        slashes=slashes,
        carry_over=budget - paid,
        explanation=explanation,
        fee_weights=fee_weights(inputs) if fee_weights_decided is None else fee_weights_decided,
        standing=standing or {},
    )


# --- the policies ----------------------------------------------------------------------------


def volume_policy(params: VolumeParams, inputs: EpochInputs) -> EpochResult:
    """Pay the budget in proportion to accepted judgments."""
    accounts, counts = _unflagged(inputs.judgment_counts, inputs.flagged)
    return _settle(params, inputs, accounts, counts, reward_pool=inputs.budget)


def agreement_policy(params: AgreementParams, inputs: EpochInputs) -> EpochResult:
    """Pay in proportion to judgments x agreement rate, nothing below ``min_agreement_bps``."""
    accounts, counts = _unflagged(inputs.judgment_counts, inputs.flagged)
    quality = quality_units(list(map(inputs.agreement_rates.get, accounts, repeat(0.0))))
    # Counts are unbounded ints: int64 only where count * 2**20 cannot overflow, exact objects otherwise.
    fits_int64 = not counts or max(counts).bit_length() + QUALITY_SCALE.bit_length() < 63
    count_array = np.asarray(counts, dtype=np.int64 if fits_int64 else object)
    # quality / 2**20 >= bps / 10000, compared in integers so the threshold is exact.
    passes = quality * BASIS_POINTS >= params.min_agreement_bps * QUALITY_SCALE
    weights = np.where(passes, count_array * quality, 0)
    return _settle(params, inputs, accounts, weights, reward_pool=inputs.budget)


def attribution_policy(params: AttributionParams, inputs: EpochInputs) -> EpochResult:
    """Pay in proportion to positive attribution; zero or negative attribution earns nothing."""
    accounts, scores = _unflagged(inputs.attribution_scores, inputs.flagged)
    return _settle(params, inputs, accounts, attribution_weights(scores), reward_pool=inputs.budget)


def _harm_units(harmful_scores: np.ndarray, largest_abs_score: float) -> np.ndarray:
    """Negative scores -> ``floor(harm * 2**40)`` with ``harm = -score / largest |score|`` (int64)."""
    return np.floor(-harmful_scores / largest_abs_score * ATTRIBUTION_SCALE).astype(np.int64)


def bond_slashes(
    scores: Mapping[str, float], bonds: Mapping[str, int], slash_rate_bps: int
) -> dict[str, int]:
    """Bond slashed from each contributor with negative attribution, proportional to the harm.

    ``slash = bond * slash_rate * harm`` where ``harm = -score / largest |score|`` of the epoch, on
    the 2**40 grid and rounded down, so a slash never exceeds ``slash_rate`` of the bond. Flagged
    contributors are slashed like anyone else: a flag does not shield from the harm measured.
    """
    accounts = list(scores)
    values = np.fromiter(scores.values(), dtype=np.float64, count=len(accounts))
    harmful = np.flatnonzero(values < 0.0)
    if harmful.size == 0 or slash_rate_bps == 0:
        return {}
    harm_units = _harm_units(values[harmful], np.abs(values).max()).tolist()
    denominator = BASIS_POINTS * ATTRIBUTION_SCALE
    slashes = {}
    for index, units in zip(harmful.tolist(), harm_units, strict=True):
        account = accounts[index]
        slash = bonds.get(account, 0) * slash_rate_bps * units // denominator
        if slash:
            slashes[account] = slash
    return slashes


_GRID_BITS = ATTRIBUTION_SCALE.bit_length() - 1  # 40
_SPLIT_BITS = 20  # harm units (at most 2**40) as high * 2**20 + low, so each product fits int64
_INT64_MAX = 2**63 - 1


def bond_slashes_array(scores: np.ndarray, bonds: np.ndarray, slash_rate_bps: int) -> np.ndarray:
    """:func:`bond_slashes` over parallel arrays, for callers that hold every account of an epoch
    in numpy (the simulator settles tens of thousands of negative scores a day).

    ``scores[i]`` (float64) and ``bonds[i]`` (int64, >= 0) are one account's, and the arrays must
    hold *every* account the epoch's policy would see, since harm is relative to the largest
    |score| among them. Returns each account's slash (int64; 0 for an account not slashed): the
    same integers as :func:`bond_slashes` on the same accounts (tested on random inputs).

    ``bond * rate * units`` needs up to 117 bits, so it is not formed: with ``t = bond * rate``
    (int64 whenever ``bond <= (2**63 - 1) // rate``) and ``units <= 2**40``,
    ``floor(t * units / 2**40)`` is assembled from 40- and 20-bit pieces whose products stay below
    2**61, then divided by 10,000 (floor of a floor is the floor of the whole quotient). Bonds too
    large for that are done in Python ints.
    """
    scores = np.asarray(scores, dtype=np.float64)
    bonds = np.asarray(bonds)
    if scores.shape != bonds.shape or scores.ndim != 1:
        raise ValueError(
            f"bond_slashes_array: scores {scores.shape} and bonds {bonds.shape} must be equal 1-d shapes"
        )
    if bonds.dtype.kind not in "iu":
        raise TypeError(f"bond_slashes_array: bonds must be integers, got {bonds.dtype}")
    slashes = np.zeros(len(scores), dtype=np.int64)
    harmful = np.flatnonzero(scores < 0.0)
    if harmful.size == 0 or slash_rate_bps == 0:
        return slashes
    harmful_bonds = bonds[harmful].astype(np.int64)
    if harmful_bonds.min() < 0:
        raise ValueError(f"bond_slashes_array: bonds must be >= 0, got {int(harmful_bonds.min())}")
    units = _harm_units(scores[harmful], np.abs(scores).max())
    if int(harmful_bonds.max()) > _INT64_MAX // slash_rate_bps:
        denominator = BASIS_POINTS * ATTRIBUTION_SCALE
        slashes[harmful] = [
            bond * slash_rate_bps * unit // denominator
            for bond, unit in zip(harmful_bonds.tolist(), units.tolist(), strict=True)
        ]
        return slashes
    # t = whole * 2**40 + part, so floor(t * units / 2**40) = whole * units + floor(part * units / 2**40),
    # and with units = high * 2**20 + low: floor(part * units / 2**40)
    # = floor((part * high + floor(part * low / 2**20)) / 2**20).
    scaled_bonds = harmful_bonds * slash_rate_bps
    whole, part = scaled_bonds >> _GRID_BITS, scaled_bonds & (ATTRIBUTION_SCALE - 1)
    high, low = units >> _SPLIT_BITS, units & ((1 << _SPLIT_BITS) - 1)
    part_product = (part * high + ((part * low) >> _SPLIT_BITS)) >> (_GRID_BITS - _SPLIT_BITS)
    slashes[harmful] = (whole * units + part_product) // BASIS_POINTS
    return slashes


def attribution_bonded_policy(params: AttributionBondedParams, inputs: EpochInputs) -> EpochResult:
    """Attribution with bonds at stake, a fee-backed reward cap and a cap per identity cluster."""
    accounts, scores = _unflagged(inputs.attribution_scores, inputs.flagged)
    weights = attribution_weights(scores)
    if params.min_bond:
        bonded = list(map(inputs.bonds.get, accounts, repeat(0)))
        weights[np.array([bond < params.min_bond for bond in bonded], dtype=bool)] = 0
    reward_pool = inputs.budget
    if params.fee_multiple_bps is not None:
        reward_pool = min(reward_pool, inputs.fees_collected * params.fee_multiple_bps // BASIS_POINTS)
    return _settle(
        params,
        inputs,
        accounts,
        weights,
        reward_pool=reward_pool,
        cluster_cap_bps=params.max_cluster_share_bps,
        slashes=bond_slashes(inputs.attribution_scores, inputs.bonds, params.slash_rate_bps),
    )


def attribution_evidence_settle(
    params: AttributionEvidenceParams,
    inputs: EpochInputs,
    accounts: list[str],
    rows: EvidenceRows,
    *,
    explain_accounts: bool,
    standing_as_dict: bool = True,
) -> tuple[EpochResult, EvidenceStep]:
    """``attribution_evidence`` on parallel arrays (one row per account of ``accounts``, scored
    this epoch, with its standing before it; ``bonded``: has at least ``min_bond``): what the
    policy and the simulator both call.

    ``inputs`` supplies the budget, epoch, clusters and flagged set; its score mappings are not
    read. ``explain_accounts`` keeps each account's figures in ``explanation["accounts"]``. Returns
    the result and the step (each account's new standing as arrays); with ``standing_as_dict``
    False the result's ``standing`` is left empty for a caller that keeps the arrays instead."""
    step = evidence_step(
        rows, confidence=params.confidence_centi_sd / 100, min_judgments=params.min_judgments
    )
    weights = attribution_weights(step.gain)
    standing = {}
    if step.counted and standing_as_dict:
        standing = dict(
            zip(
                accounts,
                map(Standing, step.evidence.tolist(), step.judgments.tolist(), step.credited.tolist()),
                strict=True,
            )
        )
    detail: dict[str, Any] = {
        "evidence": {
            "counted": step.counted,
            "reason": step.reason,
            "mean_per_judgment": step.mean_per_judgment,
            "noise_sd": step.noise_sd,
            "accounts_by_status": status_counts(step.status),
        }
    }
    if explain_accounts:
        detail["accounts"] = account_details(accounts, rows, step)
    result = _settle(
        params,
        inputs,
        accounts,
        weights,
        reward_pool=inputs.budget,
        cluster_cap_bps=params.max_cluster_share_bps,
        fee_weights_decided=nonzero_shares(accounts, weights.tolist()),
        standing=standing,
        detail=detail,
    )
    return result, step


def attribution_evidence_policy(params: AttributionEvidenceParams, inputs: EpochInputs) -> EpochResult:
    """Pay on a lower confidence bound of each account's cumulative attribution (see
    :mod:`simulator.economy.evidence`); the contributors' fee share follows the same weights."""
    accounts = list(inputs.attribution_scores)
    n = len(accounts)
    if inputs.standing:
        new = Standing()
        before = np.array(list(map(inputs.standing.get, accounts, repeat(new))), dtype=np.float64).reshape(n, 3)
        evidence, judgments, credited = before[:, 0], before[:, 1].astype(np.int64), before[:, 2]
    else:  # nobody has standing yet (a first epoch): skip a million lookups
        evidence, judgments, credited = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n)
    rows = EvidenceRows(
        scores=np.fromiter(inputs.attribution_scores.values(), dtype=np.float64, count=n),
        counts=np.fromiter(map(inputs.judgment_counts.get, accounts, repeat(0)), dtype=np.int64, count=n),
        flagged=np.fromiter(map(inputs.flagged.__contains__, accounts), dtype=bool, count=n)
        if inputs.flagged
        else np.zeros(n, dtype=bool),
        bonded=np.fromiter((inputs.bonds.get(a, 0) >= params.min_bond for a in accounts), dtype=bool, count=n)
        if params.min_bond
        else np.ones(n, dtype=bool),
        evidence=evidence,
        judgments=judgments,
        credited=credited,
    )
    return attribution_evidence_settle(params, inputs, accounts, rows, explain_accounts=True)[0]


def explain_account(explanation: Mapping[str, Any], account: str, payout: int) -> list[str]:
    """Plain words for one account's payout in an epoch, from the policy's own explanation."""
    spec = POLICIES.get(explanation.get("policy", ""))
    if spec is not None and spec.explain is not None:
        return spec.explain(explanation, account, payout)
    withheld = explanation.get("withheld", {})
    lines = [
        f"This epoch was settled by the {explanation.get('policy')} policy (version {explanation.get('version')}): "
        f"{spec.summary if spec else ''} It paid {base_units_to_open(explanation.get('paid', 0))} OPEN to "
        f"{explanation.get('contributors_paid', 0)} of {explanation.get('contributors_considered', 0)} contributors.",
        f"You were paid {base_units_to_open(payout)} OPEN."
        if payout
        else "You were paid nothing this epoch.",
    ]
    if withheld.get("contributor_cap", 0) or withheld.get("cluster_cap", 0):
        lines.append(
            "Some contributors reached a cap; what the caps withheld is carried over to the next epoch."
        )
    return lines


# --- registry: policies as data --------------------------------------------------------------


@dataclass(frozen=True)
class PolicySpec:
    params_type: type[PolicyParams]
    compute: Callable[[Any, EpochInputs], EpochResult]
    summary: str
    # Plain words for one account's payout, from the explanation (None: the generic words).
    explain: Callable[[Mapping[str, Any], str, int], list[str]] | None = None

    @property
    def name(self) -> str:
        return self.params_type.name

    @property
    def version(self) -> int:
        return self.params_type.version

    def describe(self) -> list[dict[str, Any]]:
        """Each parameter's name, default and help: what a governance form shows."""
        return describe_fields(self.params_type)


POLICIES: dict[str, PolicySpec] = {
    spec.name: spec
    for spec in (
        PolicySpec(VolumeParams, volume_policy, "Pay per accepted judgment."),
        PolicySpec(AgreementParams, agreement_policy, "Pay per judgment, weighted by agreement."),
        PolicySpec(AttributionParams, attribution_policy, "Pay in proportion to positive attribution."),
        PolicySpec(
            AttributionBondedParams,
            attribution_bonded_policy,
            "Attribution, with bonds slashed for harm, a fee-backed reward cap and an identity-cluster cap.",
        ),
        PolicySpec(
            AttributionEvidenceParams,
            attribution_evidence_policy,
            "Pay on a lower confidence bound of each account's cumulative attribution: new evidence only, "
            "negative balances carried forward, a minimum of judgments before first pay.",
            explain_evidence_account,
        ),
    )
}


def run_policy(params: PolicyParams, inputs: EpochInputs) -> EpochResult:
    """Settle one epoch with the policy that ``params`` belong to."""
    spec = POLICIES.get(getattr(params, "name", ""))
    if spec is None or not isinstance(params, spec.params_type):
        raise TypeError(f"run_policy: {type(params).__name__} is not the parameters of a registered policy")
    if not isinstance(inputs, EpochInputs):
        raise TypeError(f"run_policy: inputs must be EpochInputs, got {type(inputs).__name__}")
    return spec.compute(params, inputs)


def params_to_dict(params: PolicyParams) -> dict[str, Any]:
    """The parameters as JSON-ready data (ints and nulls), without the policy name."""
    return dataclasses.asdict(params)


def policy_from_dict(
    name: str, params_dict: Mapping[str, Any], *, registry: Mapping[str, PolicySpec] = POLICIES
) -> PolicyParams:
    """Build a policy's parameters from data, e.g. a governance proposal's JSON.

    Missing fields take their defaults. An unknown policy, an unknown field or a bad value raises
    ValueError/TypeError naming it. ``registry`` is where names are looked up: the economy's
    policies, or a superset such as the simulator's (which adds its oracle reference).
    """
    spec = registry.get(name)
    if spec is None:
        raise ValueError(f"unknown policy {name!r}; known policies: {', '.join(sorted(registry))}")
    if not isinstance(params_dict, Mapping):
        raise TypeError(
            f"{name}: parameters must be an object of field: value, got {type(params_dict).__name__}"
        )
    known = [f.name for f in dataclasses.fields(spec.params_type)]
    for key in params_dict:
        if key not in known:
            raise ValueError(f"{name}: unknown field {key!r}; known fields: {', '.join(known)}")
    return spec.params_type(**params_dict)
