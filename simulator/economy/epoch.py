"""What an emission policy reads for one epoch, and what it returns.

Both are plain frozen data, so the same policy code runs in the simulator (inputs from agents)
and in settlement (inputs from the database). Account ids are non-empty strings. All money is
integer base units; quality and attribution figures are numbers used only as weights.

The mappings are kept as given, not copied (an epoch can have a million contributors): do not
change them after building the inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple, cast

from simulator.economy.fields import (
    all_exactly,
    non_negative_int,
    param,
    require_account_id,
    require_account_ids,
    require_int_mapping,
    require_real_mapping,
    validate_fields,
)


def _require_flagged(value: Any, *, where: str) -> frozenset[str]:
    for account in value:
        require_account_id(account, where=f"{where} member")
    flagged: frozenset[str] = value
    return flagged


def _require_clusters(mapping: Any, *, where: str) -> Mapping[str, str]:
    if not isinstance(mapping, Mapping):
        raise TypeError(
            f"{where}: expected a mapping of account id to cluster id, got {type(mapping).__name__}"
        )
    values = mapping.values()
    if not (
        all_exactly(mapping, str) and all_exactly(values, str) and "" not in mapping and "" not in values
    ):
        for account, cluster in mapping.items():
            require_account_id(account, where=f"{where} key")
            require_account_id(cluster, where=f"{where}[{account!r}]")
    return mapping


class Standing(NamedTuple):
    """What a policy that remembers knows of one account after an epoch (attribution_evidence).

    ``evidence``: the account's cumulative attribution in units of the per-judgment noise of the
    epochs it was scored in; ``judgments``: scored judgments in those epochs; ``credited``: the
    highest confidence bound already paid out (or forfeited under a flag), so pay follows only new
    evidence. Numbers, not money.
    """

    evidence: float = 0.0
    judgments: int = 0
    credited: float = 0.0


def _require_standing(mapping: Any, *, where: str) -> Mapping[str, Standing]:
    if not isinstance(mapping, Mapping):
        raise TypeError(
            f"{where}: expected a mapping of account id to Standing, got {type(mapping).__name__}"
        )
    if all_exactly(mapping.values(), Standing):
        require_account_ids(mapping, where=where)
        return mapping
    for account, standing in mapping.items():
        require_account_id(account, where=f"{where} key")
        if not isinstance(standing, Standing):
            raise TypeError(f"{where}[{account!r}]: expected a Standing, got {type(standing).__name__}")
    return mapping


def _require_scores(mapping: Any, *, where: str) -> Mapping[str, float]:
    return require_real_mapping(mapping, where=where)


def _require_rates(mapping: Any, *, where: str) -> Mapping[str, float | Fraction]:
    return require_real_mapping(mapping, where=where, unit_interval=True)


@dataclass(frozen=True)
class EpochInputs:
    """Everything a policy may look at when it settles one epoch."""

    budget: int = param(
        help="Base units the policy may pay out this epoch (the emission budget).", check=non_negative_int
    )
    fees_collected: int = param(0, "Base units of fees paid by model users this epoch.", non_negative_int)
    epoch: int = param(
        0, "Index of the epoch being settled (0 = genesis); recorded in the explanation.", non_negative_int
    )
    judgment_counts: Mapping[str, int] = param(
        help="Accepted judgments per contributor in the epoch.",
        check=require_int_mapping,
        default_factory=dict,
    )
    agreement_rates: Mapping[str, float | Fraction] = param(
        help="Per contributor quality in [0, 1] (agreement with peers or gold); a missing contributor counts as 0.",
        check=_require_rates,
        default_factory=dict,
    )
    attribution_scores: Mapping[str, float] = param(
        help="Per contributor attribution (measured share of the model's improvement); negative when harmful.",
        check=_require_scores,
        default_factory=dict,
    )
    bonds: Mapping[str, int] = param(
        help="Base units each contributor has bonded (staked) and could lose.",
        check=require_int_mapping,
        default_factory=dict,
    )
    flagged: frozenset[str] = param(
        help="Contributors flagged by quality control this epoch; they earn nothing.",
        check=_require_flagged,
        default_factory=frozenset,
    )
    clusters: Mapping[str, str] = param(
        help="Identity cluster per contributor (accounts believed to be one person); absent = a cluster of one.",
        check=_require_clusters,
        default_factory=dict,
    )

    standing: Mapping[str, Standing] = param(
        help="Each account's standing before this epoch, as the previous epoch's result left it; absent = new.",
        check=_require_standing,
        default_factory=dict,
    )

    def __post_init__(self) -> None:
        # A caller may pass any iterable of account ids; the annotation is what the field holds after this.
        given = cast(object, self.flagged)
        if not isinstance(given, frozenset):
            if isinstance(given, str) or not isinstance(given, Iterable):
                raise TypeError(f"EpochInputs.flagged: expected a set of account ids, got {type(given).__name__}")
            object.__setattr__(self, "flagged", frozenset(given))
        validate_fields(self)


@dataclass(frozen=True)
class EpochResult:
    """A policy's decision for one epoch.

    Invariant, checked by the tests for every policy: ``sum(payouts.values()) + carry_over ==
    inputs.budget``. Slashes come out of bonds, not out of the budget; settlement decides where
    slashed tokens go. Only positive amounts appear in ``payouts`` and ``slashes``.
    """

    payouts: dict[str, int]
    slashes: dict[str, int]
    carry_over: int
    explanation: dict[str, Any]
    # Integer weights by which the contributors' part of the epoch's fees is split (split_fee's
    # contributor_weights): the policy decides who shares fees as it decides who shares emission.
    fee_weights: dict[str, int] = field(default_factory=dict)
    # Each account's standing after this epoch, for policies that remember (attribution_evidence);
    # settlement stores it and hands it back as the next epoch's ``EpochInputs.standing``.
    standing: dict[str, Standing] = field(default_factory=dict)

    @property
    def total_paid(self) -> int:
        return sum(self.payouts.values())

    @property
    def total_slashed(self) -> int:
        return sum(self.slashes.values())
