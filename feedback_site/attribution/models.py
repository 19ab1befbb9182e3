"""Attribution jobs over registered model versions, and the per-contributor scores they measured."""

from django.db import models

from feedback_site.accounts.models import Contributor
from feedback_site.core.jobs import Job
from feedback_site.training.models import ModelVersion


class AttributionJob(Job):
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="attribution_jobs")
    method = models.CharField(max_length=40)
    epoch = models.PositiveIntegerField(help_text="The settlement epoch these scores feed.")
    stage = models.CharField(max_length=200, blank=True, help_text="What the job is doing now.")
    report_path = models.CharField(max_length=500, blank=True)
    summary = models.JSONField(default=dict, help_text="Method, settings, seed, data and model hashes, versions, cost.")


class ContributorAttribution(models.Model):
    job = models.ForeignKey(AttributionJob, on_delete=models.CASCADE, related_name="scores")
    contributor = models.ForeignKey(Contributor, on_delete=models.PROTECT, related_name="attributions")
    score = models.FloatField()
    judgments = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "contributor"], name="one_score_per_contributor_and_job")]
