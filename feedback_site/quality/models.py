"""Stored quality reports, the debounce state of their recomputation, and exclusions of annotators from snapshots."""

from django.conf import settings
from django.db import models

from feedback_site.accounts.models import Contributor
from feedback_site.annotation.models import Datanet


class QualityReport(models.Model):
    """One computation of `rlhf.quality.quality_report` over a Datanet's judgments up to a cutoff.

    Kept, not overwritten: the series of reports is the Datanet's alpha over time.
    """

    datanet = models.ForeignKey(Datanet, on_delete=models.CASCADE, related_name="quality_reports")
    cutoff_judgment_id = models.BigIntegerField()
    judgments = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    report = models.JSONField()
    seconds = models.FloatField()
    computed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]


class QualityState(models.Model):
    """Debounce: set when a recomputation is queued, cleared when it starts, so a burst of judgments queues one."""

    datanet = models.OneToOneField(Datanet, on_delete=models.CASCADE, related_name="quality_state")
    scheduled_at = models.DateTimeField(null=True, blank=True)


class Exclusion(models.Model):
    """An annotator left out of a Datanet's future snapshots. Revoking keeps the row (who, when, why)."""

    datanet = models.ForeignKey(Datanet, on_delete=models.CASCADE, related_name="exclusions")
    contributor = models.ForeignKey(Contributor, on_delete=models.PROTECT, related_name="exclusions")
    reason = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["datanet", "contributor"], condition=models.Q(revoked_at__isnull=True), name="one_active_exclusion"
            )
        ]
