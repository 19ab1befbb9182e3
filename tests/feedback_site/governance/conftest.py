"""Governance fixtures: a ledger after genesis, governance members with OPEN staked, a stored report."""

from datetime import timedelta

import pytest
from django.utils import timezone

from feedback_site.accounts.roles import Role
from feedback_site.accounts.services import user_create
from feedback_site.governance.models import ReportState, SimulationReport
from feedback_site.ledger import services as ledger_services
from simulator.economy.units import BASE_UNITS_PER_OPEN

OPEN = BASE_UNITS_PER_OPEN
LIQUIDITY = "allocation:liquidity"


@pytest.fixture
def genesis(db):
    assert ledger_services.ledger_genesis() is True


@pytest.fixture
def person(genesis):
    """person(name, stake_open=0, roles=(GOVERNANCE,), wallet_open=100): a user, funded and staked."""

    def make(name: str, stake_open: int = 0, roles=(Role.GOVERNANCE,), wallet_open: int = 100):
        user = user_create(username=name, password=f"pw-{name}-123", roles=list(roles))
        wallet = ledger_services.wallet_ensure(contributor=user.contributor)
        ledger_services.ledger_transfer(
            source_key=LIQUIDITY, destination_key=wallet.key, amount=wallet_open * OPEN
        )
        if stake_open:
            ledger_services.stake_add(contributor=user.contributor, amount=stake_open * OPEN)
        return user

    return make


@pytest.fixture
def report(db):
    return SimulationReport.objects.create(
        title="tiny",
        state=ReportState.DONE,
        html="<!DOCTYPE html><html><body>report</body></html>",
        manifest={},
    )


@pytest.fixture
def propose(report):
    """propose(by, quorum_bps=2000, threshold_bps=5000, params=None, hours=24)"""
    from feedback_site.governance.services import proposal_create

    def make(by, *, quorum_bps=2000, threshold_bps=5000, params=None, hours=24, policy="attribution_bonded"):
        return proposal_create(
            by=by,
            title="Five times the fee bond",
            policy_name=policy,
            policy_params={"fee_multiple_bps": 50000} if params is None else params,
            report=report,
            deadline=timezone.now() + timedelta(hours=hours),
            quorum_bps=quorum_bps,
            threshold_bps=threshold_bps,
        )

    return make


def after(proposal):
    return proposal.deadline + timedelta(seconds=1)
