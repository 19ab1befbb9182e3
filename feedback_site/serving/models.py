"""What serving keeps: which model versions are published, and one record per metered call."""

from django.conf import settings
from django.db import models

from feedback_site.ledger.fields import BaseUnitsField


class Operation(models.TextChoices):
    SCORE = "score"
    GENERATE = "generate"


class Publication(models.Model):
    """A model version consumers may call. Publishing registers it with the ledger (its fees go to its
    contributors and owner at settlement); unpublishing stops new calls and keeps every record."""

    model_version = models.OneToOneField(
        "training.ModelVersion", on_delete=models.PROTECT, related_name="publication"
    )
    ledger_model_id = models.CharField(max_length=200, help_text="The ledger's RegisteredModel id fees are paid to.")
    base_model = models.CharField(max_length=500, help_text="The base model the version's weights or adapter belong to.")
    adapter = models.BooleanField(default=False, help_text="A LoRA adapter served on a shared loaded base.")
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    published_at = models.DateTimeField(auto_now_add=True)
    unpublished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]


class InferenceCall(models.Model):
    """One metered call: stored in the same transaction as its fee's ledger entry, so a call is charged
    once or not at all; the response is kept so that a retry with the same key gets it back uncharged."""

    consumer = models.ForeignKey("ledger.LedgerAccount", on_delete=models.PROTECT, related_name="inference_calls")
    idempotency_key = models.CharField(max_length=100)
    request_digest = models.CharField(max_length=64, help_text="sha256 of the request, to refuse a reused key.")
    model_version = models.ForeignKey("training.ModelVersion", on_delete=models.PROTECT, related_name="calls")
    operation = models.CharField(max_length=10, choices=Operation.choices)
    tokens_in = models.PositiveIntegerField()
    tokens_out = models.PositiveIntegerField(default=0)
    fee = BaseUnitsField()
    latency_ms = models.PositiveIntegerField(help_text="Time the engine took to serve the call.")
    response = models.JSONField()
    usage = models.OneToOneField("ledger.FeeUsage", on_delete=models.PROTECT, related_name="inference_call")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["consumer", "idempotency_key"], name="serving_call_idempotent"),
        ]
        indexes = [models.Index(fields=["model_version", "created_at"], name="serving_call_version_time")]
