"""Reads: the reports and proposals listed, voting power at a proposal's snapshot, the current votes, the tally."""

from __future__ import annotations

from dataclasses import dataclass

from feedback_site.accounts.services import contributor_for
from feedback_site.ledger import selectors as ledger_selectors

from .models import Proposal, ReportState, SimulationReport, VoteCast, VoteChoice

BPS = 10_000
LISTED = 100


def reports_recent(*, done_only: bool = False, limit: int = LISTED) -> list[SimulationReport]:
    reports = SimulationReport.objects.all()
    if done_only:
        reports = reports.filter(state=ReportState.DONE)
    return list(reports[:limit])


def proposals_recent(*, limit: int = LISTED) -> list[Proposal]:
    return list(Proposal.objects.select_related("report")[:limit])


def voting_power(*, proposal: Proposal, user) -> tuple[str, int]:
    """(wallet key, bonded stake after the snapshot entry) of ``user``; stake 0 without a wallet."""
    contributor = contributor_for(user=user)
    key = ledger_selectors.wallet_key(contributor.pseudonym)
    wallet = ledger_selectors.wallet_for(contributor=contributor)
    if wallet is None:
        return key, 0
    return key, ledger_selectors.stake_at(account=wallet, at_entry_id=proposal.snapshot_entry_id)


def current_votes(*, proposal: Proposal) -> list[VoteCast]:
    """Each voter's latest vote (the ones that count)."""
    latest: dict[int, VoteCast] = {}
    for vote in VoteCast.objects.filter(proposal=proposal).order_by("id"):
        latest[vote.voter_id] = vote
    return list(latest.values())


@dataclass(frozen=True)
class Tally:
    """Stake-weighted totals in base units, exact integers, read from the ledger at the snapshot."""

    for_stake: int
    against_stake: int
    abstain_stake: int
    total_stake: int
    voters: int
    quorum_bps: int
    threshold_bps: int

    @property
    def voted_stake(self) -> int:
        return self.for_stake + self.against_stake + self.abstain_stake

    @property
    def quorum_reached(self) -> bool:
        # Integer comparison: voted / total >= quorum / 10000, no rounding.
        return self.total_stake > 0 and self.voted_stake * BPS >= self.quorum_bps * self.total_stake

    @property
    def threshold_met(self) -> bool:
        decided = self.for_stake + self.against_stake
        return decided > 0 and self.for_stake * BPS > self.threshold_bps * decided

    @property
    def outcome(self) -> str:
        if not self.quorum_reached:
            return "expired"
        return "accepted" if self.threshold_met else "rejected"

    def to_data(self) -> dict:
        return {
            "for": str(self.for_stake),
            "against": str(self.against_stake),
            "abstain": str(self.abstain_stake),
            "total_stake": str(self.total_stake),
            "voters": self.voters,
            "quorum_bps": self.quorum_bps,
            "threshold_bps": self.threshold_bps,
            "outcome": self.outcome,
        }


def proposal_tally(*, proposal: Proposal) -> Tally:
    """Recompute the tally from the votes and the ledger: one stake lookup for every staker."""
    stakes = ledger_selectors.stakes_at(at_entry_id=proposal.snapshot_entry_id)
    totals: dict[str, int] = {VoteChoice.FOR: 0, VoteChoice.AGAINST: 0, VoteChoice.ABSTAIN: 0}
    votes = current_votes(proposal=proposal)
    for vote in votes:
        totals[vote.choice] += stakes.get(vote.account_key, 0)
    return Tally(
        for_stake=totals[VoteChoice.FOR],
        against_stake=totals[VoteChoice.AGAINST],
        abstain_stake=totals[VoteChoice.ABSTAIN],
        total_stake=sum(stakes.values()),
        voters=len(votes),
        quorum_bps=proposal.quorum_bps,
        threshold_bps=proposal.threshold_bps,
    )
