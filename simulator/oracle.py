"""The oracle: a reference policy that pays each account its true contribution.

Only the simulator knows a contribution's true value (``EpochWork.true_value``: the expected
attribution of the work, a sybil cluster's work counted once, clipped at zero), so the oracle is
not an economy policy: governance cannot choose it and the site cannot settle with it. A sweep can
run it beside the real policies, and every report shows how far each one is from this fair pay.

It pays the whole epoch budget, and the contributors' part of the fees, in proportion to true
value, on the same integer grid as attribution (:func:`simulator.economy.weights.attribution_weights`),
with no caps and no flags (the truth needs no quality control). Settlement is in
:mod:`simulator.settlement`; this module only names it and its (empty) parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from simulator.economy.epoch import EpochInputs, EpochResult
from simulator.economy.policies import POLICIES, PolicyParams, PolicySpec, policy_from_dict

ORACLE = "oracle"


@dataclass(frozen=True)
class OracleParams(PolicyParams):
    """The oracle's parameters: only the money rules every policy shares (the fee split)."""

    name: ClassVar[str] = ORACLE
    version: ClassVar[int] = 1


def _oracle_needs_the_truth(params: OracleParams, inputs: EpochInputs) -> EpochResult:
    raise TypeError(
        "the oracle pays true contribution, which only the simulator knows: it settles in "
        "simulator.settlement, not through run_policy"
    )


# The economy's policies and the oracle: what a sweep may run.
SIMULATION_POLICIES: dict[str, PolicySpec] = {
    **POLICIES,
    ORACLE: PolicySpec(
        OracleParams, _oracle_needs_the_truth, "Reference: pay each account its true contribution."
    ),
}


def simulation_policy_from_dict(name: str, params: Mapping[str, Any]) -> PolicyParams:
    """:func:`simulator.economy.policies.policy_from_dict` over the policies a sweep may run."""
    return policy_from_dict(name, params, registry=SIMULATION_POLICIES)
