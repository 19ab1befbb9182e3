"""The OPEN ledger: accounts, an append-only hash-chained journal of entries, and what settlement
reads and writes.

Balances are never stored: an account's balance is the sum of the entries that credit it minus
the sum of those that debit it (see ``selectors.account_balance``). Every entry moves a positive
amount from one account (debit) to another (credit), except ``genesis`` entries, which create the
fixed supply once (no debit), and the non-monetary ``policy_change`` / ``epoch_settled`` records
(no accounts, amount 0) that put governance decisions and epoch roots into the chain. So the sum
of all balances is always the supply created at genesis.

Entries, accounts and settlements are append-only in the database (triggers, migration 0002)
and in the models (``save`` of an existing row and ``delete`` raise ``AppendOnlyError``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from feedback_site.accounts.models import Contributor
from feedback_site.annotation.models import AppendOnlyError

from .fields import BaseUnitsField


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only: UPDATE refused")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only: DELETE refused")


class AppendOnlyModel(models.Model):
    """A row is written once: saving it again or deleting it raises AppendOnlyError."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only: write a new entry instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only and cannot be deleted")


class AccountKind(models.TextChoices):
    CONTRIBUTOR = "contributor", "Contributor wallet"
    STAKER = "staker", "Stake (bonded)"
    UNBONDING = "unbonding", "Unbonding stake (cooling down)"
    CONSUMER = "consumer", "Model consumer"
    MODEL_OWNER = "model_owner", "Model owner"
    TREASURY = "treasury", "Protocol treasury"
    COMMUNITY_POOL = "community_pool", "Community pool"
    SYSTEM = "system", "System"


class LedgerAccount(AppendOnlyModel):
    """An account, named by a stable ``key`` (what proofs and the API show).

    Keys: ``contributor:<pseudonym>`` (a contributor's wallet; payouts and proofs use it),
    ``consumer:<pseudonym>``, ``model_owner:<pseudonym>``, ``stake:<wallet key>`` and
    ``unbonding:<wallet key>`` (owned by that wallet), ``treasury``, ``community_pool``, and
    ``system:...`` / ``allocation:...`` for the protocol's own accounts.
    """

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=AccountKind.choices)
    contributor = models.ForeignKey(
        Contributor, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    owner = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="owned_accounts"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "contributor"], condition=Q(contributor__isnull=False), name="ledger_one_account_per_contributor_kind"
            ),
            models.UniqueConstraint(
                fields=["kind", "owner"], condition=Q(owner__isnull=False), name="ledger_one_account_per_owner_kind"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class EntryKind(models.TextChoices):
    GENESIS = "genesis", "Genesis allocation"
    EMISSION = "emission", "Epoch emission"
    PAYOUT = "payout", "Contributor payout"
    FEE = "fee", "Fee paid by a consumer"
    FEE_SHARE = "fee_share", "Share of fees"
    STAKE = "stake", "Stake"
    UNSTAKE = "unstake", "Unstake request"
    WITHDRAWAL = "withdrawal", "Withdrawal of unbonded stake"
    SLASH = "slash", "Slash"
    TRANSFER = "transfer", "Transfer"
    POLICY_CHANGE = "policy_change", "Emission policy change"
    EPOCH_SETTLED = "epoch_settled", "Epoch settled"


RECORD_KINDS = (EntryKind.POLICY_CHANGE, EntryKind.EPOCH_SETTLED)


class LedgerHead(models.Model):
    """The tip of the chain, one row. Appending locks it (SELECT ... FOR UPDATE), so entries get
    consecutive ids and each links to the one before: concurrent appends cannot fork the chain."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_entry_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    last_created_us = models.BigIntegerField(default=0)


class LedgerEntry(AppendOnlyModel):
    """One line of the journal. ``id`` is the position in the chain, assigned under the head lock."""

    id = models.BigIntegerField(primary_key=True)
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    debit = models.ForeignKey(
        LedgerAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    credit = models.ForeignKey(
        LedgerAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    amount = BaseUnitsField()
    epoch = models.PositiveIntegerField(null=True, blank=True)
    created_us = models.BigIntegerField(help_text="Microseconds since the Unix epoch, UTC; never decreases.")
    memo = models.TextField(blank=True, default="", help_text="Canonical JSON (sorted keys) or empty.")
    entry_hash = models.CharField(max_length=64)

    class Meta:
        indexes = [
            models.Index(fields=["credit", "id"], name="ledger_entry_credit"),
            models.Index(fields=["debit", "id"], name="ledger_entry_debit"),
            models.Index(fields=["epoch", "kind"], name="ledger_entry_epoch_kind"),
            models.Index(fields=["created_us"], name="ledger_entry_time"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="ledger_entry_amount_not_negative"),
            models.CheckConstraint(
                condition=(
                    Q(kind=EntryKind.GENESIS, debit__isnull=True, credit__isnull=False, amount__gt=0)
                    | Q(kind__in=RECORD_KINDS, debit__isnull=True, credit__isnull=True, amount=0)
                    | (
                        Q(debit__isnull=False, credit__isnull=False, amount__gt=0)
                        & ~Q(debit=F("credit"))
                        & ~Q(kind__in=[EntryKind.GENESIS, *RECORD_KINDS])
                    )
                ),
                name="ledger_entry_shape",
            ),
        ]

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created_us / 1_000_000, tz=UTC)


class PolicyVersion(AppendOnlyModel):
    """The emission policy in force from ``activates_at_epoch`` until the next version.

    With no version at all, settlement uses ``attribution`` with its default parameters.
    """

    name = models.CharField(max_length=64)
    params = models.JSONField(default=dict, help_text="Validated by simulator.economy.policy_from_dict.")
    activates_at_epoch = models.PositiveIntegerField(unique=True)
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-activates_at_epoch"]


class InputSource(models.TextChoices):
    ATTRIBUTION = "attribution", "Attribution scores of a model version"
    QUALITY = "quality", "Quality flags and agreement of a quality report"


class EpochInputQuerySet(models.QuerySet):
    def active(self):
        """The rows settlement reads: those no later set has replaced."""
        return self.filter(superseded_by__isnull=True)


class EpochInputSet(models.Model):
    """One call of ``epoch_inputs.epoch_inputs_record``: a whole set of one source's rows for one
    epoch. A later set of the same scope replaces it whole; both stay, for audit.

    Scope: an epoch's attribution (one set active per epoch), or an epoch's quality for one
    Datanet (one set active per epoch and Datanet). The service keeps that under the ledger head's
    lock; the database holds the rows to it (a new set must exist before the old one can point at
    it, so the sets themselves carry no such constraint).
    """

    epoch = models.PositiveIntegerField()
    source = models.CharField(max_length=16, choices=InputSource.choices)
    model_version = models.ForeignKey(
        "training.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="epoch_input_sets"
    )
    quality_report = models.ForeignKey(
        "quality.QualityReport", null=True, blank=True, on_delete=models.PROTECT, related_name="epoch_input_sets"
    )
    datanet = models.ForeignKey(
        "annotation.Datanet", null=True, blank=True, on_delete=models.PROTECT, related_name="epoch_input_sets",
        help_text="The quality report's Datanet: the scope a quality set replaces.",
    )
    source_run_id = models.CharField(max_length=100, blank=True)
    rows = models.PositiveIntegerField(help_text="Rows recorded with this set.")
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_sets"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = EpochInputQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(source=InputSource.ATTRIBUTION, model_version__isnull=False, quality_report__isnull=True)
                    | Q(source=InputSource.QUALITY, model_version__isnull=True, quality_report__isnull=False, datanet__isnull=False)
                ),
                name="ledger_input_set_source_shape",
            ),
        ]
        indexes = [models.Index(fields=["epoch", "source"], name="ledger_input_set_epoch")]


class EpochAttribution(models.Model):
    """A contributor's measured attribution in one epoch, recorded by ``epoch_inputs_record``
    (never written directly). A row whose ``superseded_by`` is set was replaced, with the rest
    of its set, by a later model version's scores: kept for audit, never settled."""

    epoch = models.PositiveIntegerField()
    contributor = models.ForeignKey(Contributor, on_delete=models.PROTECT, related_name="epoch_attributions")
    score = models.FloatField(help_text="Share of the model's improvement; negative when harmful.")
    judgments = models.PositiveIntegerField(default=0, help_text="Accepted judgments in the epoch.")
    model_version = models.ForeignKey(
        "training.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="epoch_attributions",
        help_text="The model version whose attribution measured this score (empty on rows recorded before it was kept).",
    )
    input_set = models.ForeignKey(
        EpochInputSet, null=True, blank=True, on_delete=models.PROTECT, related_name="attributions"
    )
    superseded_by = models.ForeignKey(
        EpochInputSet, null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_attributions"
    )
    source_run_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EpochInputQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["epoch", "contributor"],
                condition=Q(superseded_by__isnull=True),
                name="ledger_one_active_attribution_per_epoch",
            ),
        ]


class EpochQuality(models.Model):
    """What one quality report says of a contributor, for one epoch's settlement: flagged (earns
    nothing) and agreement (what the ``agreement`` policy weighs). Recorded by
    ``epoch_inputs_record``; a later report of the same Datanet replaces the set whole."""

    epoch = models.PositiveIntegerField()
    contributor = models.ForeignKey(Contributor, on_delete=models.PROTECT, related_name="epoch_quality")
    datanet = models.ForeignKey("annotation.Datanet", on_delete=models.PROTECT, related_name="+")
    flagged = models.BooleanField(help_text="Flagged by quality control (a flag code, or an active exclusion).")
    agreement = models.FloatField(
        null=True, blank=True, help_text="Agreement with peers or gold in [0, 1], for the agreement policy."
    )
    flags = models.JSONField(default=list, help_text="The flag codes behind ``flagged``.")
    judgments = models.PositiveIntegerField(
        default=0, help_text="Judgments the report measured: the weight of this agreement across Datanets."
    )
    input_set = models.ForeignKey(EpochInputSet, on_delete=models.PROTECT, related_name="quality_rows")
    superseded_by = models.ForeignKey(
        EpochInputSet, null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_quality_rows"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EpochInputQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["epoch", "datanet", "contributor"],
                condition=Q(superseded_by__isnull=True),
                name="ledger_one_active_quality_per_epoch_datanet",
            ),
            models.CheckConstraint(
                condition=Q(agreement__isnull=True) | Q(agreement__gte=0, agreement__lte=1),
                name="ledger_quality_agreement_in_unit_interval",
            ),
        ]
        indexes = [models.Index(fields=["epoch", "contributor"], name="ledger_quality_epoch")]


class EpochSettlement(AppendOnlyModel):
    """What settling one epoch decided; its entries are ``first_entry_id`` .. ``last_entry_id``."""

    epoch = models.PositiveIntegerField(unique=True)
    policy_version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="settlements"
    )
    policy_name = models.CharField(max_length=64)
    policy_params = models.JSONField()
    emission = BaseUnitsField(help_text="This epoch's emission from the community pool.")
    carried_in = BaseUnitsField(help_text="Carried over from earlier epochs.")
    budget = BaseUnitsField(help_text="emission + carried_in: what the policy could pay.")
    paid = BaseUnitsField()
    carry_over = BaseUnitsField(help_text="budget - paid, carried to the next epoch.")
    slashed = BaseUnitsField()
    fees_collected = BaseUnitsField()
    contributors = models.PositiveIntegerField(help_text="Contributors with attribution this epoch.")
    payout_count = models.PositiveIntegerField()
    payouts_root = models.CharField(max_length=64)
    explanation = models.JSONField()
    first_entry_id = models.BigIntegerField()
    last_entry_id = models.BigIntegerField()
    settled_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-epoch"]


class RegisteredModel(AppendOnlyModel):
    """A model version that consumers pay to use; its owner receives the owner's share of fees."""

    id = models.CharField(primary_key=True, max_length=200)
    owner = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="models")
    # Set for a version the site serves: the contributors' part of its fees is split by that version's
    # own attribution (`epoch_inputs.model_version_attribution`); without it, by the epoch's.
    model_version = models.OneToOneField(
        "training.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_model"
    )
    created_at = models.DateTimeField(auto_now_add=True)


class FeeUsage(AppendOnlyModel):
    """One usage report of a consumer; ``request_id`` makes the report idempotent."""

    consumer = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="usages")
    request_id = models.CharField(max_length=100)
    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="usages")
    calls = models.PositiveBigIntegerField()
    fee = BaseUnitsField()
    epoch = models.PositiveIntegerField(help_text="The epoch whose settlement splits this fee.")
    entry = models.OneToOneField(LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consumer", "request_id"], name="ledger_usage_idempotent"),
        ]
        indexes = [models.Index(fields=["epoch", "model"], name="ledger_usage_epoch_model")]


class EpochStanding(AppendOnlyModel):
    """What a policy that remembers (``attribution_evidence``) knows of a contributor after an
    epoch: written by that epoch's settlement, read back as the next epoch's standing.

    Each settlement writes the standing of every contributor who has one (scored this epoch, or
    carried forward unchanged from the epoch before), so the next settlement reads one epoch's rows.
    ``detail`` holds the policy's figures for a contributor scored in the epoch (score, bound,
    status...): what the earnings page explains the payout by."""

    epoch = models.PositiveIntegerField()
    contributor = models.ForeignKey(Contributor, on_delete=models.PROTECT, related_name="epoch_standings")
    evidence = models.FloatField(help_text="Cumulative attribution in units of one judgment's noise.")
    judgments = models.PositiveBigIntegerField(help_text="Scored judgments in the epochs counted.")
    credited = models.FloatField(help_text="Highest confidence bound already paid (or forfeited).")
    detail = models.JSONField(null=True, blank=True, help_text="The policy's figures for this epoch, if scored in it.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["epoch", "contributor"], name="ledger_one_standing_per_epoch"),
        ]
