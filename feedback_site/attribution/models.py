"""Attribution jobs over registered model versions, and the per-contributor scores they measured."""

from django.conf import settings
from django.db import models

from feedback_site.accounts.models import Contributor
from feedback_site.training.models import JobState, ModelVersion


class AttributionJob(models.Model):
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="attribution_jobs")
    method = models.CharField(max_length=40)
    epoch = models.PositiveIntegerField(help_text="The settlement epoch these scores feed.")
    state = models.CharField(max_length=12, choices=JobState.choices, default=JobState.QUEUED)
    stage = models.CharField(max_length=200, blank=True, help_text="What the job is doing now.")
    report_path = models.CharField(max_length=500, blank=True)
    summary = models.JSONField(default=dict, help_text="Method, settings, seed, data and model hashes, versions, cost.")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    @property
    def finished(self) -> bool:
        return self.state in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


class ContributorAttribution(models.Model):
    job = models.ForeignKey(AttributionJob, on_delete=models.CASCADE, related_name="scores")
    contributor = models.ForeignKey(Contributor, on_delete=models.PROTECT, related_name="attributions")
    score = models.FloatField()
    judgments = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "contributor"], name="one_score_per_contributor_and_job")]
