"""Stake-weighted votes: weights from the ledger at the snapshot, one counted vote per account,
quorum and threshold in exact integers, deadlines, and what an accepted proposal changes."""

import pytest

from feedback_site.accounts.roles import Role
from feedback_site.governance import errors
from feedback_site.governance.models import ProposalStatus, VoteCast
from feedback_site.governance.selectors import proposal_tally
from feedback_site.governance.services import proposal_close, proposal_verify, vote_cast
from feedback_site.ledger import services as ledger_services
from feedback_site.ledger.models import EntryKind, LedgerEntry, PolicyVersion
from feedback_site.ledger.settlement import epoch_settle

from .conftest import OPEN, after


def test_votes_weigh_the_stake_at_the_snapshot_in_exact_base_units(person, propose):
    alice, bob = person("alice", 30), person("bob", 7)
    ledger_services.stake_add(contributor=bob.contributor, amount=3)  # 3 base units: exactness matters
    proposal = propose(alice)
    assert proposal.total_stake == 37 * OPEN + 3
    vote_cast(proposal=proposal, voter=alice, choice="for")
    vote_cast(proposal=proposal, voter=bob, choice="against")
    tally = proposal_tally(proposal=proposal)
    assert (tally.for_stake, tally.against_stake, tally.abstain_stake) == (30 * OPEN, 7 * OPEN + 3, 0)


def test_stake_added_after_the_snapshot_does_not_count(person, propose):
    alice, bob = person("alice", 30), person("bob", 10)
    carol = person("carol", 0)
    proposal = propose(alice)
    ledger_services.stake_add(contributor=bob.contributor, amount=50 * OPEN)
    ledger_services.stake_add(contributor=carol.contributor, amount=50 * OPEN)
    vote_cast(proposal=proposal, voter=bob, choice="for")
    assert proposal_tally(proposal=proposal).for_stake == 10 * OPEN
    with pytest.raises(errors.VoteRefused, match="no OPEN staked at this proposal's snapshot"):
        vote_cast(proposal=proposal, voter=carol, choice="for")


def test_stake_removed_after_the_snapshot_still_counts_as_it_was(person, propose):
    alice = person("alice", 30)
    proposal = propose(alice)
    ledger_services.stake_remove(contributor=alice.contributor, amount=30 * OPEN)
    vote_cast(proposal=proposal, voter=alice, choice="for")
    assert proposal_tally(proposal=proposal).for_stake == 30 * OPEN


def test_a_second_vote_replaces_the_first_and_both_are_recorded(person, propose):
    alice, bob = person("alice", 30), person("bob", 10)
    proposal = propose(alice)
    first = vote_cast(proposal=proposal, voter=alice, choice="for")
    second = vote_cast(proposal=proposal, voter=alice, choice="against")
    vote_cast(proposal=proposal, voter=bob, choice="for")
    assert second.replaces == first and VoteCast.objects.filter(proposal=proposal, voter=alice).count() == 2
    tally = proposal_tally(proposal=proposal)
    assert (tally.for_stake, tally.against_stake, tally.voters) == (10 * OPEN, 30 * OPEN, 2)


def test_votes_after_the_deadline_are_refused(person, propose):
    alice = person("alice", 30)
    proposal = propose(alice)
    with pytest.raises(errors.VotingClosed, match="closed at"):
        vote_cast(proposal=proposal, voter=alice, choice="for", now=proposal.deadline)
    assert not VoteCast.objects.exists()


def test_accounts_without_stake_or_without_the_governance_role_cannot_vote(person, propose):
    alice = person("alice", 30)
    broke = person("broke", 0)
    annotator = person("ann", 20, roles=(Role.ANNOTATOR,))
    engineer = person("eng", 20, roles=(Role.ML_ENGINEER,))
    proposal = propose(alice)
    with pytest.raises(errors.VoteRefused, match="no OPEN staked"):
        vote_cast(proposal=proposal, voter=broke, choice="for")
    for outsider in (annotator, engineer):
        with pytest.raises(errors.VoteRefused, match="only governance members"):
            vote_cast(proposal=proposal, voter=outsider, choice="for")
    with pytest.raises(errors.ProposalInvalid, match="choice"):
        vote_cast(proposal=proposal, voter=alice, choice="maybe")
    with pytest.raises(errors.VoteRefused):
        propose(annotator)


def test_quorum_is_a_share_of_all_stake_at_the_snapshot_boundary_included(person, propose):
    alice = person("alice", 25)
    person("bob", 75)  # the other 75% of the stake, who does not vote
    exactly = propose(alice, quorum_bps=2500)
    short = propose(alice, quorum_bps=2501)
    for proposal in (exactly, short):
        vote_cast(proposal=proposal, voter=alice, choice="abstain")
    assert proposal_tally(proposal=exactly).quorum_reached
    assert not proposal_tally(proposal=short).quorum_reached
    closed = proposal_close(proposal=short, now=after(short))
    assert closed.status == ProposalStatus.EXPIRED and closed.policy_version is None
    assert not PolicyVersion.objects.exists()


def test_threshold_needs_more_than_its_share_of_for_plus_against(person, propose):
    alice, bob, carol = person("alice", 40), person("bob", 40), person("carol", 20)
    tie = propose(alice, threshold_bps=5000)
    vote_cast(proposal=tie, voter=alice, choice="for")
    vote_cast(proposal=tie, voter=bob, choice="against")
    vote_cast(proposal=tie, voter=carol, choice="abstain")  # abstentions count for quorum only
    tally = proposal_tally(proposal=tie)
    assert tally.quorum_reached and not tally.threshold_met
    assert proposal_close(proposal=tie, now=after(tie)).status == ProposalStatus.REJECTED
    assert not PolicyVersion.objects.exists()
    lower = propose(alice, threshold_bps=4999)
    vote_cast(proposal=lower, voter=alice, choice="for")
    vote_cast(proposal=lower, voter=bob, choice="against")
    assert proposal_tally(proposal=lower).threshold_met


def test_closing_before_the_deadline_is_refused(person, propose):
    alice = person("alice", 30)
    proposal = propose(alice)
    with pytest.raises(errors.ProposalNotDue):
        proposal_close(proposal=proposal)


def test_an_accepted_proposal_is_the_policy_of_the_next_settlement(person, propose):
    alice, bob = person("alice", 30), person("bob", 10)
    epoch_settle(epoch=0, allow_empty=True)
    proposal = propose(alice)
    vote_cast(proposal=proposal, voter=alice, choice="for")
    vote_cast(proposal=proposal, voter=bob, choice="against")
    closed = proposal_close(proposal=proposal, now=after(proposal))
    assert closed.status == ProposalStatus.ACCEPTED
    assert closed.policy_version.activates_at_epoch == 1
    change = LedgerEntry.objects.get(id=closed.policy_version.entry_id)
    assert change.kind == EntryKind.POLICY_CHANGE and '"fee_multiple_bps":50000' in change.memo
    settlement = epoch_settle(epoch=1, allow_empty=True)
    assert settlement.policy_name == "attribution_bonded"
    assert settlement.policy_params["fee_multiple_bps"] == 50000
    assert (
        proposal_close(proposal=closed, now=after(proposal)).policy_version == closed.policy_version
    )  # twice is safe


def test_the_recorded_tally_can_be_verified_and_a_tampered_one_is_caught(person, propose):
    alice = person("alice", 30)
    proposal = propose(alice)
    vote_cast(proposal=proposal, voter=alice, choice="for")
    closed = proposal_close(proposal=proposal, now=after(proposal))
    assert proposal_verify(proposal=closed)["ok"]
    closed.tally = {**closed.tally, "for": str(31 * OPEN)}
    closed.save()
    result = proposal_verify(proposal=closed)
    assert not result["ok"] and result["recomputed"]["for"] == str(30 * OPEN)


def test_policy_parameters_are_validated_by_the_policy(person, propose):
    alice = person("alice", 30)
    with pytest.raises(
        errors.ProposalInvalid, match="policy_params: .*fee_multiple_bps|policy_params: .*unknown"
    ):
        propose(alice, params={"fee_multiple_bps": -5})
    with pytest.raises(errors.ProposalInvalid, match="policy_params"):
        propose(alice, params={"no_such_parameter": 1})
    with pytest.raises(errors.ProposalInvalid, match="policy_params"):
        propose(alice, policy="no_such_policy", params={})


def test_the_scheduled_task_closes_only_proposals_past_their_deadline(person, propose):
    from datetime import timedelta

    from django.utils import timezone

    from feedback_site.governance.models import Proposal
    from feedback_site.governance.tasks import close_due_proposals

    alice = person("alice", 30)
    due, later = propose(alice), propose(alice)
    vote_cast(proposal=due, voter=alice, choice="for")
    Proposal.objects.filter(id=due.id).update(deadline=timezone.now() - timedelta(seconds=1))
    assert close_due_proposals() == [due.id]
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, later.status) == (ProposalStatus.ACCEPTED, ProposalStatus.OPEN)
    assert close_due_proposals() == []
