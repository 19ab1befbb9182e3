"""One epoch's settlement: the economy's own policy and fee split, called on the simulator's work.

The simulator hands :func:`settle` the epoch's work as arrays (one row per contributor who judged)
and gets back integer payouts and slashes per row. In between it calls the real
``simulator.economy.run_policy`` and ``split_fee``, never a copy of them.

Two ways to call them, with the same rules:

``per_account``
    One economy account per contributor: exactly what settlement of a real epoch would do.

``grouped`` (the default of the vectorized engine)
    Contributors whose policy-visible inputs are identical are merged into one pseudo-account
    that stands for all n of them: n times the judgments (volume, agreement), the same agreement
    rate, n times the attribution score. The policy pays the pseudo-account; its payout is then
    split equally among the n members with the economy's largest-remainder split. The work's
    inputs are discrete (counts, agreed counts, scores made of counts), so with a hundred thousand
    contributors an epoch has a few thousand distinct inputs, and the policy runs on those.

    Why it is the same: every policy pays in proportion to a per-account weight that is linear in
    the judgment count or the score, so n identical accounts are owed exactly what one account
    with n times the weight is owed. Conservation is exact (payouts + carry-over == budget, to
    the unit). Each member's payout is within 2 sim units (2 micro-OPEN) of what the per-account
    call pays them: both are within one unit of the exact share, and the attribution grid
    (2**-40 of the best score) is finer than a unit at the budgets simulated. Tested against
    ``per_account`` in tests/simulator/test_settlement.py.

    What would break it, and how it is kept exact:
    - caps (per contributor, per lone account under ``attribution_bonded``) would cap a
      pseudo-account at one member's cap: if the grouped call withholds anything for a
      contributor or cluster cap, the epoch is settled again per account;
    - slashes are relative to the epoch's largest |score| over every account: contributors with a
      negative score (the only ones slashed, and paid nothing) are not passed to the policy at all;
      their slashes are the policy's own formula over arrays
      (:func:`simulator.economy.policies.bond_slashes_array`, equal to the scalar
      ``bond_slashes`` to the unit) on every row's score and bond, so the same integers as per
      account in one numpy pass instead of one policy account each (with a measured profile,
      a large share of honest contributors score below zero on a given day, since one judgment's
      score is mostly noise: benchmarks/RESULTS.md, "Honest contributors below zero"). Positive pseudo-scores
      are scaled by one common factor so that the largest of them equals the largest individual
      positive score, which keeps them in the range of real scores (scaling all positive weights
      by one factor leaves their ratios, hence the payouts, unchanged);
    - flagged or non-positive contributors who can earn nothing and cannot be slashed are left
      out, as they are paid nothing either way;
    - detected identity clusters keep their cluster id, and only members of the same cluster are
      grouped, so a cluster's total is capped exactly as per account.

Fees: an epoch's fees are summed and split once (a daily epoch settles its fees together): the
contributors' part by positive attribution of the work quality control did not flag (grouped the
same way), stakers pro rata to stake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.economy.epoch import EpochInputs
from simulator.economy.evidence import EvidenceRows
from simulator.economy.fees import FeeSplitParams, split_fee
from simulator.economy.fields import BASIS_POINTS
from simulator.economy.policies import (
    AttributionBondedParams,
    AttributionEvidenceParams,
    CappedParams,
    PolicyParams,
    attribution_evidence_settle,
    bond_slashes_array,
    fee_weights,
    run_policy,
)
from simulator.economy.units import split_by_integer_weights
from simulator.economy.weights import attribution_weights
from simulator.oracle import ORACLE

PER_ACCOUNT = "per_account"
GROUPED = "grouped"
SETTLEMENT_MODES = (PER_ACCOUNT, GROUPED)
MODEL_OWNER_ACCOUNT = "model-owner"


@dataclass
class EpochWork:
    """What the contributors who judged in an epoch did, one row each (parallel arrays).

    ``account`` is the contributor's row in its population and names it to the economy
    (``c<account>``); ``cluster`` is the identity cluster the site detected (-1: none).
    """

    account: np.ndarray  # int64
    kind: np.ndarray  # int8, attribution_model.Kind
    count: np.ndarray  # int64 judgments
    correct: np.ndarray  # int64 of those, correct
    agreed: np.ndarray  # int64 of those, agreeing with the comparison's majority
    flagged: np.ndarray  # bool: flagged by quality control this epoch
    score: np.ndarray  # float64 attribution score
    true_value: np.ndarray  # float64 noise-free contribution (metrics only)
    bond: np.ndarray  # int64 sim units bonded
    cluster: np.ndarray  # int64 detected identity cluster, -1 if none
    hours: np.ndarray  # float64 hours worked (the operator's for a sybil account: shared)

    def __len__(self) -> int:
        return len(self.account)

    def rows_by_score(self) -> np.ndarray:
        """Row indices ordered by score (computed once, shared by the groupings that need it)."""
        cached = self.__dict__.get("_rows_by_score")
        if cached is None:
            cached = np.argsort(self.score, kind="stable")
            self.__dict__["_rows_by_score"] = cached
        return cached

    @classmethod
    def concatenate(cls, parts: list[EpochWork]) -> EpochWork:
        names = [name for name in cls.__dataclass_fields__]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(**{name: np.concatenate([getattr(part, name) for part in parts]) for name in names})

    @classmethod
    def empty(cls) -> EpochWork:
        dtypes = {
            "account": np.int64, "kind": np.int8, "count": np.int64, "correct": np.int64,
            "agreed": np.int64, "flagged": bool, "score": np.float64, "true_value": np.float64,
            "bond": np.int64, "cluster": np.int64, "hours": np.float64,
        }  # fmt: skip
        return cls(**{name: np.zeros(0, dtype=dtype) for name, dtype in dtypes.items()})


@dataclass
class Settlement:
    """What one epoch paid, per work row, in sim units."""

    payouts: np.ndarray  # int64, emission paid to each row
    slashes: np.ndarray  # int64, bond slashed from each row
    fee_to_contributors: np.ndarray  # int64, fee share paid to each row
    fee_to_stakers: dict[int, int]  # staker row -> sim units
    fee_to_model_owner: int
    fee_to_treasury: int
    carry_over: int
    accounts_settled: int  # accounts the policy actually saw (pseudo-accounts when grouped)
    regrouped_per_account: bool = False
    explanation: dict[str, Any] = field(default_factory=dict)


class StandingBook:
    """Each contributor's standing under a policy that remembers (``attribution_evidence``), as
    arrays indexed by the contributor's row: what the site keeps as one row per epoch and
    contributor, kept here in place (rows are never reused)."""

    def __init__(self) -> None:
        self.evidence = np.zeros(0, dtype=np.float64)
        self.judgments = np.zeros(0, dtype=np.int64)
        self.credited = np.zeros(0, dtype=np.float64)

    def _reserve(self, rows: np.ndarray) -> None:
        needed = int(rows.max()) + 1 if rows.size else 0
        if needed > len(self.evidence):
            grow = max(needed, 2 * len(self.evidence)) - len(self.evidence)
            self.evidence = np.concatenate([self.evidence, np.zeros(grow)])
            self.judgments = np.concatenate([self.judgments, np.zeros(grow, dtype=np.int64)])
            self.credited = np.concatenate([self.credited, np.zeros(grow)])

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._reserve(rows)
        return self.evidence[rows], self.judgments[rows], self.credited[rows]

    def put(
        self, rows: np.ndarray, evidence: np.ndarray, judgments: np.ndarray, credited: np.ndarray
    ) -> None:
        self.evidence[rows], self.judgments[rows], self.credited[rows] = evidence, judgments, credited


def account_name(row: int) -> str:
    return f"c{row}"


def _names(rows: np.ndarray) -> list[str]:
    return [f"c{row}" for row in rows.tolist()]


# --- per account -----------------------------------------------------------------------------


def _per_account_inputs(work: EpochWork, *, budget: int, fees: int, epoch: int) -> EpochInputs:
    names = _names(work.account)
    counts = work.count.tolist()
    rates = np.divide(work.agreed, np.maximum(work.count, 1)).tolist()
    detected = np.flatnonzero(work.cluster >= 0)
    return EpochInputs(
        budget=budget,
        fees_collected=fees,
        epoch=epoch,
        judgment_counts=dict(zip(names, counts, strict=True)),
        agreement_rates=dict(zip(names, rates, strict=True)),
        attribution_scores=dict(zip(names, work.score.tolist(), strict=True)),
        bonds=dict(zip(names, work.bond.tolist(), strict=True)),
        flagged=frozenset(names[i] for i in np.flatnonzero(work.flagged).tolist()),
        clusters={names[i]: f"cluster-{work.cluster[i]}" for i in detected.tolist()},
    )


def _per_account_policy(
    params: PolicyParams, work: EpochWork, *, budget: int, fees: int, epoch: int
) -> tuple[np.ndarray, np.ndarray, int, dict[str, Any], int]:
    result = run_policy(params, _per_account_inputs(work, budget=budget, fees=fees, epoch=epoch))
    index = {name: i for i, name in enumerate(_names(work.account))}
    payouts = np.zeros(len(work), dtype=np.int64)
    slashes = np.zeros(len(work), dtype=np.int64)
    for name, amount in result.payouts.items():
        payouts[index[name]] = amount
    for name, amount in result.slashes.items():
        slashes[index[name]] = amount
    return payouts, slashes, result.carry_over, result.explanation, len(work)


# --- grouped ---------------------------------------------------------------------------------


@dataclass
class _Groups:
    """Members of each pseudo-account: ``order`` lists rows group by group, ``sizes`` per group."""

    rows: np.ndarray  # the rows taking part, in group order
    group_of_row: np.ndarray  # group index of each of ``rows``
    sizes: np.ndarray  # members per group
    first: np.ndarray  # one representative row per group

    @property
    def count(self) -> int:
        return len(self.sizes)


def _group_rows(
    rows: np.ndarray, keys: list[np.ndarray], *, sorted_by_keys: np.ndarray | None = None
) -> _Groups:
    """Group ``rows`` by identical values of every array in ``keys`` (indexed by row).

    ``sorted_by_keys``, if given, is every row of the work ordered by ``keys``; the rows taken
    are then read in that order instead of being sorted again (one sort serves several groupings).
    """
    if rows.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Groups(empty, empty, empty, empty)
    if sorted_by_keys is None:
        columns = [key[rows] for key in keys]
        sorted_rows = rows[_grouping_order(columns)]
    else:
        taken = np.zeros(len(sorted_by_keys), dtype=bool)
        taken[rows] = True
        sorted_rows = sorted_by_keys[taken[sorted_by_keys]]
    sorted_columns = [key[sorted_rows] for key in keys]
    starts = np.ones(len(sorted_rows), dtype=bool)
    starts[1:] = np.any([column[1:] != column[:-1] for column in sorted_columns], axis=0)
    group_of_row = np.cumsum(starts) - 1
    sizes = np.bincount(group_of_row)
    return _Groups(sorted_rows, group_of_row, sizes, sorted_rows[starts])


def _grouping_order(columns: list[np.ndarray]) -> np.ndarray:
    """An order that puts equal key tuples next to each other (any such order will do).

    Small non-negative integer keys are packed into one 16-bit key, which numpy sorts with a
    linear-time radix sort; anything else is lexsorted."""
    if all(column.dtype.kind in "iub" for column in columns):
        packed = np.zeros(len(columns[0]), dtype=np.int64)
        span = 1
        for column in columns:
            low, high = (int(column.min()), int(column.max())) if column.size else (0, 0)
            if low < 0:
                break
            packed = packed * (high + 1) + column
            span *= high + 1
        else:
            if span <= 2**16:
                return np.argsort(packed.astype(np.uint16), kind="stable")
            return np.argsort(packed, kind="stable")
    return np.lexsort(columns[::-1])


def _spread_equally(groups: _Groups, group_amounts: np.ndarray, out: np.ndarray) -> None:
    """Split each group's amount equally among its members, largest remainder: the first
    ``amount % n`` members (in row order) get one unit more. Writes into ``out`` by row."""
    if groups.count == 0:
        return
    base, extra = np.divmod(group_amounts, groups.sizes)
    position = np.arange(len(groups.rows)) - np.repeat(np.cumsum(groups.sizes) - groups.sizes, groups.sizes)
    out[groups.rows] = base[groups.group_of_row] + (position < extra[groups.group_of_row])


def _pseudo_names(count: int) -> list[str]:
    return [f"g{index}" for index in range(count)]


def _scaled_positive_scores(values: np.ndarray, target: float) -> np.ndarray:
    """Positive scores (n * score for a pseudo-account) scaled by one common factor so that the
    largest equals ``target``, the largest score a real account has: their ratios, hence the
    payouts, are unchanged, and the largest |score| the policy sees is the per-account one.
    Non-positive values are left as they are."""
    positive = values > 0
    if not positive.any():
        return values
    largest = int(np.argmax(values))
    scaled = np.where(positive, np.minimum(values * (target / values[largest]), target), values)
    scaled[largest] = target
    return scaled


def _lone_cap(params: CappedParams, budget: int) -> int | None:
    """The most one lone account can be paid under the policy's caps; None if uncapped."""
    cap_bps = params.max_contributor_share_bps
    if isinstance(params, AttributionBondedParams):
        cap_bps = min(cap_bps, params.max_cluster_share_bps)
    return None if cap_bps >= BASIS_POINTS else budget * cap_bps // BASIS_POINTS


def _chunk_below_cap(groups: _Groups, member_weight: np.ndarray, budget: int, cap: int | None) -> _Groups:
    """Split groups whose pseudo-account could approach the cap into smaller pseudo-accounts.

    ``member_weight`` (per group) is the linear weight one member brings; a pseudo-account's share
    of the budget is estimated as its weight over the total. Chunks stay below half the cap, so
    the policy's caps never touch a pseudo-account of several members (checked after the call).
    """
    if cap is None or groups.count == 0:
        return groups
    total = float((member_weight * groups.sizes).sum())
    if total <= 0:
        return groups
    member_share = member_weight / total * budget
    with np.errstate(divide="ignore"):
        fitting = np.floor((cap / 2) / member_share)
    chunk_size = np.clip(fitting, 1, len(groups.rows)).astype(np.int64)
    if np.all(groups.sizes <= chunk_size):
        return groups
    position = np.arange(len(groups.rows)) - np.repeat(np.cumsum(groups.sizes) - groups.sizes, groups.sizes)
    chunk = position // chunk_size[groups.group_of_row]
    starts = np.ones(len(groups.rows), dtype=bool)
    starts[1:] = (groups.group_of_row[1:] != groups.group_of_row[:-1]) | (chunk[1:] != chunk[:-1])
    group_of_row = np.cumsum(starts) - 1
    return _Groups(groups.rows, group_of_row, np.bincount(group_of_row), groups.rows[starts])


def _grouped_policy(
    params: PolicyParams, work: EpochWork, *, budget: int, fees: int, epoch: int
) -> tuple[np.ndarray, np.ndarray, int, dict[str, Any], int] | None:
    """The policy on pseudo-accounts; None when the epoch must be settled per account instead."""
    if not isinstance(params, CappedParams):
        return None  # a policy this module does not know: settle per account
    name = params.name
    eligible = ~work.flagged & (work.count > 0)
    singles = np.zeros(0, dtype=np.int64)  # rows passed as themselves
    if name in ("volume", "agreement"):
        keys = [work.count] if name == "volume" else [work.count, work.agreed]
        groups = _group_rows(np.flatnonzero(eligible), keys)
        rates = np.divide(work.agreed[groups.first], work.count[groups.first])
        member_weight = work.count[groups.first] * (rates if name == "agreement" else 1.0)
    elif name in ("attribution", "attribution_bonded"):
        in_cluster = work.cluster >= 0 if name == "attribution_bonded" else np.zeros(len(work), dtype=bool)
        rows = np.flatnonzero(eligible & (work.score > 0) & ~in_cluster)
        if isinstance(params, AttributionBondedParams) and params.min_bond > 0:
            groups = _group_rows(rows, [work.score, work.bond >= params.min_bond])
        else:
            groups = _group_rows(rows, [work.score], sorted_by_keys=work.rows_by_score())
        member_weight = work.score[groups.first]
        if name == "attribution_bonded":
            # Cluster members are capped together: they go as themselves. Negative scores are
            # slashed below, outside the policy call (they are paid nothing either way).
            singles = np.flatnonzero(in_cluster & (work.score > 0) & eligible)
    else:
        return None  # a policy this module does not know: settle per account
    cap = _lone_cap(params, budget)
    groups = _chunk_below_cap(groups, member_weight, budget, cap)
    names = _pseudo_names(groups.count)
    first = groups.first
    if name == "volume":
        fields: dict[str, Any] = {
            "judgment_counts": dict(zip(names, (work.count[first] * groups.sizes).tolist(), strict=True))
        }
    elif name == "agreement":
        fields = {
            "judgment_counts": dict(zip(names, (work.count[first] * groups.sizes).tolist(), strict=True)),
            "agreement_rates": dict(
                zip(names, np.divide(work.agreed[first], work.count[first]).tolist(), strict=True)
            ),
        }
    else:
        single_names = _names(work.account[singles])
        target = work.score[np.concatenate([first, singles])].max(initial=0.0)
        entries = np.concatenate([work.score[first] * groups.sizes, work.score[singles]])
        fields = {
            "attribution_scores": dict(
                zip(names + single_names, _scaled_positive_scores(entries, target).tolist(), strict=True)
            ),
            # Members of a group have the same bond, so min_bond treats them alike. Nobody passed
            # here has a negative score, so the call slashes nobody (slashes are computed below).
            "bonds": dict(
                zip(names + single_names, work.bond[np.concatenate([first, singles])].tolist(), strict=True)
            ),
            "clusters": {
                n: f"cluster-{c}"
                for n, c in zip(single_names, work.cluster[singles].tolist(), strict=True)
                if c >= 0
            },
        }
    result = run_policy(params, EpochInputs(budget=budget, fees_collected=fees, epoch=epoch, **fields))
    group_amounts = np.array([result.payouts.get(n, 0) for n in names], dtype=np.int64)
    if cap is not None and np.any(group_amounts[groups.sizes > 1] >= cap):
        return None  # a pseudo-account reached a cap its members would not have: go per account
    payouts = np.zeros(len(work), dtype=np.int64)
    _spread_equally(groups, group_amounts, payouts)
    if singles.size:
        single_index = dict(zip(_names(work.account[singles]), singles.tolist(), strict=True))
        for account, amount in result.payouts.items():
            if account in single_index:
                payouts[single_index[account]] = amount
    grouping = {"pseudo_accounts": groups.count, "single_accounts": int(singles.size)}
    explanation = dict(result.explanation, grouping=grouping)
    if isinstance(params, AttributionBondedParams):
        # Every row, as per account: harm is relative to the largest |score| of all of them.
        slashes = bond_slashes_array(work.score, work.bond, params.slash_rate_bps)
        explanation["slashed_total"] = int(slashes.sum())
        explanation["contributors_slashed"] = int(np.count_nonzero(slashes))
    else:
        slashes = np.zeros(len(work), dtype=np.int64)
    return payouts, slashes, result.carry_over, explanation, groups.count + int(singles.size)


# --- policies that weigh each row: evidence and the oracle -----------------------------------


def _clusters(work: EpochWork, names: list[str]) -> dict[str, str]:
    return {names[i]: f"cluster-{work.cluster[i]}" for i in np.flatnonzero(work.cluster >= 0).tolist()}


def _rows_paid(names: list[str], payouts: dict[str, int], size: int) -> np.ndarray:
    amounts = np.zeros(size, dtype=np.int64)
    if payouts:
        index = dict(zip(names, range(size), strict=True))
        amounts[np.fromiter(map(index.__getitem__, payouts), dtype=np.int64, count=len(payouts))] = list(
            payouts.values()
        )
    return amounts


def _evidence_policy(
    params: AttributionEvidenceParams, work: EpochWork, *, budget: int, fees: int, epoch: int, book: StandingBook
) -> tuple[np.ndarray, np.ndarray, int, dict[str, Any], int, np.ndarray]:
    """``attribution_evidence`` on every row, with the standing kept in ``book``: the economy's
    own array function, so the integers are those of ``run_policy`` on the same accounts."""
    names = _names(work.account)
    evidence, judgments, credited = book.take(work.account)
    rows = EvidenceRows(
        scores=work.score,
        counts=work.count,
        flagged=work.flagged,
        bonded=work.bond >= params.min_bond,
        evidence=evidence,
        judgments=judgments,
        credited=credited,
    )
    inputs = EpochInputs(
        budget=budget,
        fees_collected=fees,
        epoch=epoch,
        flagged=frozenset(names[i] for i in np.flatnonzero(work.flagged).tolist()),
        clusters=_clusters(work, names),
    )
    result, step = attribution_evidence_settle(
        params, inputs, names, rows, explain_accounts=False, standing_as_dict=False
    )
    if step.counted:
        book.put(work.account, step.evidence, step.judgments, step.credited)
    payouts = _rows_paid(names, result.payouts, len(work))
    slashes = np.zeros(len(work), dtype=np.int64)
    return payouts, slashes, result.carry_over, result.explanation, len(work), attribution_weights(step.gain)


def _oracle_policy(
    params: PolicyParams, work: EpochWork, *, budget: int, epoch: int
) -> tuple[np.ndarray, np.ndarray, int, dict[str, Any], int, np.ndarray]:
    """The oracle (:mod:`simulator.oracle`): the budget by true value, on the attribution grid."""
    names = _names(work.account)
    weights = attribution_weights(work.true_value)
    payouts = np.asarray(split_by_integer_weights(budget, names, weights), dtype=np.int64).reshape(len(work))
    paid = int(payouts.sum())
    explanation = {
        "policy": params.name,
        "version": params.version,
        "epoch": epoch,
        "budget": budget,
        "paid": paid,
        "carry_over": budget - paid,
        "withheld": {"no_true_value": budget - paid},
        "contributors_considered": len(work),
        "contributors_paid": int(np.count_nonzero(payouts)),
    }
    return payouts, np.zeros(len(work), dtype=np.int64), budget - paid, explanation, len(work), weights


# --- fees ------------------------------------------------------------------------------------


def _split_fees(
    fees: int,
    work: EpochWork,
    stakes: Mapping[int, int],
    fee_params: FeeSplitParams,
    mode: str,
    row_weights: np.ndarray | None,
) -> tuple[np.ndarray, dict[int, int], int, int]:
    """The epoch's fees, split once. The contributors' part follows ``row_weights`` (integer, per
    row) when the policy decided its own fee weights; otherwise the economy's rule
    (:func:`simulator.economy.policies.fee_weights`), on pseudo-accounts when grouped."""
    to_contributors = np.zeros(len(work), dtype=np.int64)
    groups = None
    if row_weights is not None:
        paid_rows = np.flatnonzero(row_weights)
        names = _names(work.account[paid_rows])
        weights = dict(zip(names, row_weights[paid_rows].tolist(), strict=True))
    else:
        # Only a positive score can earn a fee share; the economy's rule decides among those.
        positive = np.flatnonzero(work.score > 0)
        if mode == GROUPED:
            groups = _group_rows(positive, [work.score, work.flagged])
            names = _pseudo_names(groups.count)
            entries = work.score[groups.first] * groups.sizes
            target = work.score[groups.first].max(initial=0.0)
            scores = dict(zip(names, _scaled_positive_scores(entries, target).tolist(), strict=True))
            flagged = frozenset(
                n for n, f in zip(names, work.flagged[groups.first].tolist(), strict=True) if f
            )
        else:
            names = _names(work.account[positive])
            scores = dict(zip(names, work.score[positive].tolist(), strict=True))
            flagged = frozenset(n for n, f in zip(names, work.flagged[positive].tolist(), strict=True) if f)
        paid_rows = positive
        weights = fee_weights(EpochInputs(budget=0, attribution_scores=scores, flagged=flagged))
    staker_names = {f"s{row}": row for row in stakes}
    split = split_fee(
        fees,
        contributor_weights=weights,
        stakes={name: stakes[row] for name, row in staker_names.items()},
        model_owner=MODEL_OWNER_ACCOUNT,
        params=fee_params,
    )
    amounts = np.array([split.contributors.get(n, 0) for n in names], dtype=np.int64)
    if groups is not None:
        _spread_equally(groups, amounts, to_contributors)
    else:
        to_contributors[paid_rows] = amounts
    to_stakers = {staker_names[name]: amount for name, amount in split.stakers.items()}
    return to_contributors, to_stakers, sum(split.model_owner.values()), split.treasury


# --- the epoch -------------------------------------------------------------------------------


def settle(
    params: PolicyParams,
    work: EpochWork,
    *,
    budget: int,
    fees: int,
    epoch: int,
    stakes: Mapping[int, int],
    fee_params: FeeSplitParams | None = None,
    mode: str = PER_ACCOUNT,
    standing: StandingBook | None = None,
) -> Settlement:
    """Settle one epoch: the policy pays ``budget`` (sim units) for ``work``; ``fees`` are split.

    ``params`` must already be in sim units (:func:`simulator.accounting.policy_in_sim_units`).
    ``stakes`` maps staker rows to their stake (sim units); only positive stakes are passed.
    The fee split is the policy's (``params.fee_split()``) unless ``fee_params`` overrides it.
    ``standing`` is required by ``attribution_evidence``, which reads and updates it; that policy
    and the oracle weigh every row themselves, in either mode (nothing to group).
    """
    if mode not in SETTLEMENT_MODES:
        raise ValueError(f"settlement mode {mode!r}: expected one of {', '.join(SETTLEMENT_MODES)}")
    outcome: tuple[np.ndarray, np.ndarray, int, dict[str, Any], int] | None = None
    regrouped = False
    row_weights = None
    if isinstance(params, AttributionEvidenceParams):
        if standing is None:
            raise ValueError(
                "attribution_evidence remembers each account's standing: pass standing=StandingBook()"
            )
        weighed = _evidence_policy(params, work, budget=budget, fees=fees, epoch=epoch, book=standing)
        outcome, row_weights = weighed[:5], weighed[5]
    elif params.name == ORACLE:
        weighed = _oracle_policy(params, work, budget=budget, epoch=epoch)
        outcome, row_weights = weighed[:5], weighed[5]
    elif mode == GROUPED:
        outcome = _grouped_policy(params, work, budget=budget, fees=fees, epoch=epoch)
        regrouped = outcome is None
    if outcome is None:
        outcome = _per_account_policy(params, work, budget=budget, fees=fees, epoch=epoch)
    payouts, slashes, carry_over, explanation, settled = outcome
    to_contributors, to_stakers, to_owner, to_treasury = _split_fees(
        fees, work, stakes, fee_params or params.fee_split(), mode, row_weights
    )
    return Settlement(
        payouts=payouts,
        slashes=slashes,
        fee_to_contributors=to_contributors,
        fee_to_stakers=to_stakers,
        fee_to_model_owner=to_owner,
        fee_to_treasury=to_treasury,
        carry_over=carry_over,
        accounts_settled=settled,
        regrouped_per_account=regrouped,
        explanation=explanation,
    )


def split_pro_rata(total: int, weights: np.ndarray) -> np.ndarray:
    """Split an integer amount among rows by integer weights with the economy's largest-remainder
    split (batched market proceeds); the result sums to ``total`` exactly when any weight > 0."""
    if len(weights) == 0:
        return np.zeros(0, dtype=np.int64)
    shares = split_by_integer_weights(total, range(len(weights)), np.asarray(weights, dtype=np.int64))
    return np.asarray(shares, dtype=np.int64)


def split_equally(total: int, count: int) -> np.ndarray:
    """Split an integer amount equally among ``count`` rows: what :func:`split_pro_rata` pays for
    equal weights, without its general machinery (equal remainders go to the first rows, as the
    economy's largest-remainder split breaks ties by key order), so ``total % count`` rows get one
    unit more. Sums to ``total`` exactly when ``count`` > 0."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    whole, spare = divmod(total, count)
    return whole + (np.arange(count) < spare).astype(np.int64)
