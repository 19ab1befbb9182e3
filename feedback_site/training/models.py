"""Training jobs run by Celery workers, the base models they start from, and the model registry."""

from django.db import models

from feedback_site.annotation.models import Snapshot
from feedback_site.core.jobs import JobState, WorkerJob  # noqa: F401  (JobState: the apps read it here)


class BaseModel(models.Model):
    """A model a job may start from: a local folder (or a hub id where a network exists)."""

    name = models.CharField(max_length=100, unique=True)
    path = models.CharField(max_length=500, blank=True, help_text="Empty: the packaged MiniLM encoder (linear heads only).")
    family = models.CharField(max_length=20, choices=[("causal_lm", "causal LM"), ("encoder", "sentence encoder")])
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Method(models.TextChoices):
    REWARD = "reward", "reward model (TRL RewardTrainer)"
    REWARD_LINEAR = "reward_linear", "reward model: frozen encoder + linear head"
    DPO = "dpo", "DPO policy (TRL DPOTrainer)"


class TrainingJob(WorkerJob):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.PROTECT, related_name="training_jobs")
    snapshot_hash = models.CharField(max_length=64)
    method = models.CharField(max_length=20, choices=Method.choices)
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="jobs")
    config = models.JSONField(default=dict)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    loss_history = models.JSONField(default=list)
    metrics = models.JSONField(default=dict)
    artifacts_dir = models.CharField(max_length=500, blank=True)

    @property
    def percent(self) -> int:
        return round(100 * self.step / self.total_steps) if self.total_steps else 0


class ModelVersion(models.Model):
    """A finished run, registered with its lineage: snapshot, base model, config, metrics and artifacts."""

    job = models.OneToOneField(TrainingJob, on_delete=models.PROTECT, related_name="model_version")
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20)  # run.json kind: reward_model, linear_head, dpo_policy
    metrics = models.JSONField(default=dict)
    artifacts_dir = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name
