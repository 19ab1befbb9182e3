"""Splitting a fee paid for using a model among the people who made it possible.

An integer fee is first divided into four parts by basis points (defaults: 50% data contributors,
20% model owner, 20% stakers, 10% protocol treasury), with largest remainder, so the parts add
up to the fee exactly. Then:
- the contributors' part is split by the policy's fee weights (``EpochResult.fee_weights``:
  positive attribution on the grid of :mod:`simulator.economy.weights` for most policies, with
  flagged contributors left out), or by positive attribution when given scores;
- the stakers' part is split pro rata to stake.

A part that has nobody to go to (no contributor with positive attribution, no stake, no model
owner) goes to the treasury instead, so the fee is always conserved to the base unit:
``sum(contributors) + sum(model_owner) + sum(stakers) + treasury == fee``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.economy.fields import (
    param,
    require_account_id,
    require_bps,
    require_int,
    require_int_mapping,
    require_real_mapping,
    require_whole_split,
    validate_fields,
)
from simulator.economy.units import nonzero_shares, split_by_integer_weights
from simulator.economy.weights import attribution_weights

_PARTS = ("contributors", "model_owner", "stakers", "treasury")


@dataclass(frozen=True)
class FeeSplitParams:
    """How a fee is shared, in basis points; the four shares must add up to 10000."""

    contributors_bps: int = param(
        5000, "Share for data contributors, split by positive attribution.", require_bps
    )
    model_owner_bps: int = param(2000, "Share for the owner of the model that earned the fee.", require_bps)
    stakers_bps: int = param(2000, "Share for stakers, split pro rata to stake.", require_bps)
    treasury_bps: int = param(1000, "Share for the protocol treasury.", require_bps)

    def __post_init__(self) -> None:
        validate_fields(self)
        require_whole_split(self, [f"{part}_bps" for part in _PARTS])


@dataclass(frozen=True)
class FeeSplit:
    """Where each base unit of one fee went. Only positive amounts appear in the mappings."""

    contributors: dict[str, int]
    model_owner: dict[str, int]
    stakers: dict[str, int]
    treasury: int
    explanation: dict[str, Any]

    @property
    def total(self) -> int:
        return (
            sum(self.contributors.values())
            + sum(self.model_owner.values())
            + sum(self.stakers.values())
            + self.treasury
        )


def _split_or_nothing(amount: int, accounts: list[str], weights: Any) -> dict[str, int]:
    """Split ``amount`` by ``weights``; empty when there is no positive weight to split by."""
    return nonzero_shares(accounts, split_by_integer_weights(amount, accounts, weights))


def split_fee(
    fee: int,
    *,
    attribution_scores: Mapping[str, float] | None = None,
    contributor_weights: Mapping[str, int] | None = None,
    stakes: Mapping[str, int],
    model_owner: str | None,
    params: FeeSplitParams | None = None,
) -> FeeSplit:
    """Split one fee (integer base units) among contributors, model owner, stakers and treasury.

    The contributors' part is split by ``contributor_weights`` (integer weights, what a policy's
    ``EpochResult.fee_weights`` says) or, given ``attribution_scores`` instead, by positive
    attribution on the grid of :func:`attribution_weights`. Exactly one of the two is given.
    """
    params = params or FeeSplitParams()
    fee = require_int(fee, where="fee", minimum=0)
    if (attribution_scores is None) == (contributor_weights is None):
        raise TypeError("split_fee: give exactly one of attribution_scores and contributor_weights")
    if attribution_scores is not None:  # then contributor_weights is None (checked above)
        require_real_mapping(attribution_scores, where="attribution_scores")
        contributor_accounts = list(attribution_scores)
        weights: Any = attribution_weights(list(attribution_scores.values()))
    elif contributor_weights is not None:
        require_int_mapping(contributor_weights, where="contributor_weights")
        contributor_accounts, weights = list(contributor_weights), list(contributor_weights.values())
    require_int_mapping(stakes, where="stakes")
    if model_owner is not None:
        require_account_id(model_owner, where="model_owner")

    part_amounts = split_by_integer_weights(
        fee, _PARTS, require_whole_split(params, [f"{p}_bps" for p in _PARTS])
    )
    parts = dict(zip(_PARTS, part_amounts, strict=True))
    contributors = _split_or_nothing(parts["contributors"], contributor_accounts, weights)
    stakers = _split_or_nothing(parts["stakers"], list(stakes), list(stakes.values()))
    owner = {model_owner: parts["model_owner"]} if model_owner is not None and parts["model_owner"] else {}

    redirected = {
        "contributors": parts["contributors"] - sum(contributors.values()),
        "model_owner": parts["model_owner"] - sum(owner.values()),
        "stakers": parts["stakers"] - sum(stakers.values()),
    }
    treasury = parts["treasury"] + sum(redirected.values())
    explanation = {
        "fee": fee,
        "parts": parts,
        "redirected_to_treasury": redirected,
        "treasury": treasury,
        "params": {f"{p}_bps": getattr(params, f"{p}_bps") for p in _PARTS},
    }
    return FeeSplit(
        contributors=contributors,
        model_owner=owner,
        stakers=stakers,
        treasury=treasury,
        explanation=explanation,
    )
