"""What the training pages read: jobs, the model registry, and versions side by side."""

from .models import ModelVersion, TrainingJob

RECENT_JOBS = 50


def jobs_recent(*, limit: int = RECENT_JOBS) -> list[TrainingJob]:
    return list(TrainingJob.objects.select_related("snapshot__datanet", "base_model")[:limit])


def job_get(*, job_id: int) -> TrainingJob | None:
    return TrainingJob.objects.select_related("snapshot__datanet", "base_model").filter(pk=job_id).first()


def versions_registered():
    return ModelVersion.objects.select_related("job__snapshot__datanet", "job__base_model")


def version_get(*, version_id: int) -> ModelVersion | None:
    return ModelVersion.objects.select_related("job__snapshot__datanet", "job__base_model").filter(pk=version_id).first()


def versions_compared(*, version_ids: list[int]) -> dict:
    """The versions asked for, and their held-out metrics as rows: (metric, [value per version])."""
    versions = list(versions_registered().filter(pk__in=version_ids))
    keys = sorted({k for v in versions for k in (v.metrics.get("heldout") or {})})
    rows = [(k, [(v.metrics.get("heldout") or {}).get(k) for v in versions]) for k in keys]
    return {"versions": versions, "rows": rows}
