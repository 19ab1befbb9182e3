"""Training jobs: create (validated config, queued on commit), run (what the Celery task does), cancel, retry.

A run always asks `rlhf` to resume from the newest checkpoint in the job's folder, so a job retried
after its worker was lost continues where it stopped, and a task delivered twice finds the job
finished (or running elsewhere) and does nothing.
"""

import os
import socket
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from feedback_site.annotation.exports import snapshot_export
from feedback_site.annotation.models import Snapshot
from feedback_site.core import errors

from .models import BaseModel, JobState, Method, ModelVersion, TrainingJob

# The few settings a form offers; everything else keeps rlhf's defaults.
PARAMS = {
    "num_epochs": float,
    "max_steps": int,
    "learning_rate": float,
    "batch_size": int,
    "max_length": int,
    "seed": int,
    "eval_fraction": float,
    "lora": bool,
    "save_steps": int,
    "device": str,
    "beta": float,
    "loss_type": str,
    "l2": float,  # linear head; left out, cross-validation chooses it
    "head_features": str,
}
METHOD_FAMILIES = {Method.REWARD: ("causal_lm", "encoder"), Method.REWARD_LINEAR: ("encoder",), Method.DPO: ("causal_lm",)}
PROGRESS_WRITE_SECONDS = 1.0


def _clean_params(method: str, params: dict) -> dict:
    clean = {}
    for name, value in params.items():
        if value in (None, ""):
            continue
        if name not in PARAMS:
            raise errors.InvalidInput(f"{name}: not a setting of a training job (known: {', '.join(sorted(PARAMS))})")
        kind = PARAMS[name]
        try:
            clean[name] = (str(value).lower() in ("1", "true", "on", "yes")) if kind is bool else kind(value)
        except (TypeError, ValueError):
            raise errors.InvalidInput(f"{name}: {value!r} is not a valid {kind.__name__}") from None
    if method != Method.DPO:
        for dpo_only in ("beta", "loss_type"):
            if dpo_only in clean:
                raise errors.InvalidInput(f"{dpo_only}: only DPO jobs take it")
    if method != Method.REWARD_LINEAR:
        for linear_only in ("l2", "head_features"):
            if linear_only in clean:
                raise errors.InvalidInput(f"{linear_only}: only linear reward-model jobs take it")
    return clean


def training_config(*, method: str, base_model: BaseModel, params: dict, data_path: str, output_dir: str):
    """The rlhf config of a job; its own validation (with the field's name) is the one users see."""
    from rlhf.config import ConfigError, DPOTrainingConfig, RewardTrainingConfig

    common = {"data_path": data_path, "output_dir": output_dir, "model_path": base_model.path or None, **params}
    try:
        if method == Method.DPO:
            return DPOTrainingConfig(**common)
        return RewardTrainingConfig(head="linear" if method == Method.REWARD_LINEAR else "full", **common)
    except ConfigError as exc:
        raise errors.InvalidInput(str(exc)) from None
    except TypeError as exc:
        raise errors.InvalidInput(f"bad setting: {exc}") from None


def training_job_create(*, snapshot: Snapshot, method: str, base_model: BaseModel, params: dict | None = None, created_by=None) -> TrainingJob:
    if method not in Method.values:
        raise errors.InvalidInput(f"method: must be one of {', '.join(Method.values)}")
    if base_model.family not in METHOD_FAMILIES[method]:
        raise errors.InvalidInput(
            f"base_model: {base_model.name} is a {base_model.get_family_display()}; {Method(method).label} needs a "
            + " or ".join(METHOD_FAMILIES[method])
        )
    if not snapshot.counts.get("trl_rows"):
        raise errors.InvalidInput(f"snapshot: snapshot {snapshot.id} has no preference rows to train on")
    clean = _clean_params(method, params or {})
    training_config(method=method, base_model=base_model, params=clean, data_path="validate.jsonl", output_dir="validate")
    with transaction.atomic():
        job = TrainingJob.objects.create(
            snapshot=snapshot, snapshot_hash=snapshot.content_hash, method=method, base_model=base_model, config=clean,
            queue="gpu" if clean.get("device") == "cuda" else "cpu", created_by=created_by,
        )
        job.artifacts_dir = str(Path(settings.TRAINING_ARTIFACTS_DIR) / f"job-{job.id}")
        job.save(update_fields=["artifacts_dir"])
        _enqueue(job)
    return job


def _enqueue(job: TrainingJob) -> None:
    from .tasks import training_run

    job_id, queue = job.id, job.queue
    transaction.on_commit(lambda: training_run.apply_async(args=[job_id], queue=queue))


def training_job_cancel(*, job: TrainingJob) -> TrainingJob:
    if job.finished:
        raise errors.Conflict(f"Job {job.id} already {job.state}.")
    TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    # A queued job is cancelled at once; a running one stops at the end of its current step.
    TrainingJob.objects.filter(pk=job.pk, state=JobState.QUEUED).update(state=JobState.CANCELLED, finished_at=timezone.now())
    job.refresh_from_db()
    return job


def training_job_worker_lost(job: TrainingJob) -> bool:
    if job.state != JobState.RUNNING or job.heartbeat_at is None:
        return False
    return timezone.now() - job.heartbeat_at > timedelta(seconds=settings.TRAINING_HEARTBEAT_STALE_SECONDS)


def training_job_retry(*, job: TrainingJob) -> TrainingJob:
    """Queues the job again; it resumes from its last checkpoint."""
    if job.state == JobState.COMPLETED:
        raise errors.Conflict(f"Job {job.id} completed; launch a new one to train again.")
    if job.state in (JobState.QUEUED,) or (job.state == JobState.RUNNING and not training_job_worker_lost(job)):
        raise errors.Conflict(f"Job {job.id} is {job.state}; retry a failed, cancelled or lost job.")
    with transaction.atomic():
        TrainingJob.objects.filter(pk=job.pk).update(state=JobState.QUEUED, cancel_requested=False, error="", finished_at=None)
        job.refresh_from_db()
        _enqueue(job)
    return job


def _fail(job_id: int, reason: str) -> None:
    TrainingJob.objects.filter(pk=job_id).update(state=JobState.FAILED, error=reason[:5000], finished_at=timezone.now())


def _failure_reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if "out of memory" in text.lower() or type(exc).__name__ == "OutOfMemoryError":
        return f"out of memory: {exc}. Try a smaller batch size or max_length, LoRA, or a GPU worker."
    return text


def training_job_run(*, job_id: int, worker: str = "") -> TrainingJob | None:
    """Runs the job in this process (the Celery task calls this). Safe to call twice."""
    job = TrainingJob.objects.select_related("snapshot", "base_model").filter(pk=job_id).first()
    if job is None or job.finished:
        return job
    if job.state == JobState.RUNNING and not training_job_worker_lost(job):
        return job  # a duplicate delivery while another worker is on it
    if job.cancel_requested:
        TrainingJob.objects.filter(pk=job.pk).update(state=JobState.CANCELLED, finished_at=timezone.now())
        return job
    now = timezone.now()
    TrainingJob.objects.filter(pk=job.pk).update(
        state=JobState.RUNNING, attempts=job.attempts + 1, worker=worker or f"{socket.gethostname()}:{os.getpid()}",
        started_at=job.started_at or now, heartbeat_at=now, error="",
    )
    folder = Path(job.artifacts_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data_path = folder / "data.jsonl"
    if not data_path.exists():
        partial = folder / "data.jsonl.partial"
        snapshot_export(snapshot=job.snapshot, export_format="trl", out=partial)
        partial.rename(data_path)  # a crash mid-export never leaves a truncated data file behind
    try:
        config = training_config(
            method=job.method, base_model=job.base_model, params=job.config, data_path=str(data_path), output_dir=str(folder / "model")
        )
        result = _train(job, config)
    except errors.InvalidInput as exc:
        _fail(job.pk, f"bad config: {exc.message}")
        return TrainingJob.objects.get(pk=job.pk)
    except Exception as exc:  # noqa: BLE001 - recorded on the job, shown to the user
        _fail(job.pk, _failure_reason(exc))
        return TrainingJob.objects.get(pk=job.pk)
    record = result.record
    updates = {
        "metrics": {**result.metrics, "dropped_rows": record.get("dropped_rows"), "timings": record.get("timings")},
        "versions": record.get("versions", {}),
        "finished_at": timezone.now(),
        "step": result.global_step,
    }
    if result.status == "cancelled":
        TrainingJob.objects.filter(pk=job.pk).update(state=JobState.CANCELLED, **updates)
    else:
        with transaction.atomic():
            TrainingJob.objects.filter(pk=job.pk).update(state=JobState.COMPLETED, **updates)
            version, created = ModelVersion.objects.get_or_create(
                job=job,
                defaults={
                    "name": f"{job.snapshot.datanet.slug}-{job.method}-{job.id}",
                    "kind": result.kind,
                    "metrics": updates["metrics"],
                    "artifacts_dir": str(result.output_dir),
                },
            )
            if created and record["data"].get("heldout_row_ids"):
                # Every trained model is attributed back to the people whose judgments made it.
                from feedback_site.attribution.services import attribution_job_create

                attribution_job_create(model_version=version)
    return TrainingJob.objects.get(pk=job.pk)


def _train(job: TrainingJob, config):
    from rlhf.dpo import dpo_train
    from rlhf.reward import reward_train

    last_write = [0.0]
    last_check = [0.0]

    def on_progress(step, total, loss, eta):
        now = time.monotonic()
        if now - last_write[0] < PROGRESS_WRITE_SECONDS and step < total:
            return
        last_write[0] = now
        history = TrainingJob.objects.filter(pk=job.pk).values_list("loss_history", flat=True).get()
        if loss is not None:
            history = [*history, [step, loss]][-500:]
        TrainingJob.objects.filter(pk=job.pk).update(
            step=step, total_steps=total, loss=loss, eta_seconds=eta, loss_history=history, heartbeat_at=timezone.now()
        )

    def should_stop() -> bool:
        now = time.monotonic()
        if now - last_check[0] < PROGRESS_WRITE_SECONDS:
            return False
        last_check[0] = now
        return TrainingJob.objects.filter(pk=job.pk, cancel_requested=True).exists()

    train = dpo_train if job.method == Method.DPO else reward_train
    return train(config, on_progress=on_progress, should_stop=should_stop, resume=True)
