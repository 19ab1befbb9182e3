"""Simulation reports, proposals to change the emission policy, comments and stake-weighted votes.

A vote's weight is never stored as the truth: it is read from the ledger at the proposal's
snapshot entry, so anyone can recompute a tally (``selectors.proposal_tally``) and compare it with
the one recorded when the proposal closed (``services.proposal_verify``).
"""

from django.conf import settings
from django.db import models

from feedback_site.ledger.fields import BaseUnitsField
from feedback_site.ledger.models import PolicyVersion


class ReportState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class SimulationReport(models.Model):
    """A report page built from a sweep, stored whole so it reads the same forever."""

    title = models.CharField(max_length=200)
    state = models.CharField(max_length=16, choices=ReportState.choices, default=ReportState.QUEUED)
    stage = models.CharField(max_length=200, blank=True, default="", help_text="What the job is doing now.")
    error = models.TextField(blank=True, default="")
    sweep_config = models.JSONField(
        null=True, blank=True, help_text="The sweep config, when the site ran it."
    )
    manifest = models.JSONField(null=True, blank=True, help_text="The sweep's manifest.json.")
    html = models.TextField(blank=True, default="")
    html_sha256 = models.CharField(max_length=64, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class ProposalStatus(models.TextChoices):
    OPEN = "open", "Open for votes"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired (quorum not reached)"


class VoteChoice(models.TextChoices):
    FOR = "for", "For"
    AGAINST = "against", "Against"
    ABSTAIN = "abstain", "Abstain"


class Proposal(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    policy_name = models.CharField(max_length=64)
    policy_params = models.JSONField(
        help_text="Validated by simulator.economy.policy_from_dict; defaults filled in."
    )
    report = models.ForeignKey(SimulationReport, on_delete=models.PROTECT, related_name="proposals")
    deadline = models.DateTimeField()
    quorum_bps = models.PositiveIntegerField(
        help_text="Share of the snapshot's stake that must vote (any choice), in basis points."
    )
    threshold_bps = models.PositiveIntegerField(
        help_text="For votes must exceed this share of for + against, in basis points."
    )
    snapshot_entry_id = models.BigIntegerField(help_text="Ledger entry id: stakes are read after this entry.")
    total_stake = BaseUnitsField(help_text="All bonded stake at the snapshot, base units.")
    status = models.CharField(max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.OPEN)
    tally = models.JSONField(
        null=True, blank=True, help_text="The tally recorded at closing (amounts as strings)."
    )
    policy_version = models.OneToOneField(
        PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class ProposalComment(models.Model):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


class VoteCast(models.Model):
    """Every vote as cast, never edited: a changed vote is a new row, and the latest row counts."""

    proposal = models.ForeignKey(Proposal, on_delete=models.PROTECT, related_name="votes")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    account_key = models.CharField(
        max_length=200, help_text="The voter's wallet key; its stake weighs the vote."
    )
    choice = models.CharField(max_length=8, choices=VoteChoice.choices)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    cast_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
