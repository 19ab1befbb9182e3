"""Training jobs: create (validated config, queued on commit), run (what the Celery task does), cancel, retry.

A run always asks `rlhf` to resume from the newest checkpoint in the job's folder, so a job retried
after its worker was lost continues where it stopped, and a task delivered twice finds the job
finished (or running elsewhere) and does nothing.
"""

import dataclasses
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from feedback_site.annotation.exports import snapshot_export
from feedback_site.annotation.models import Snapshot
from feedback_site.core import errors, jobs
from rlhf.config import LINEAR_HEAD_SETTINGS, DPOTrainingConfig, RewardTrainingConfig, TrainingConfig
from rlhf.fields import ConfigError, field_parse

from .models import BaseModel, JobState, Method, ModelVersion, TrainingJob

# The settings a job may set; everything else keeps rlhf's defaults. What each one is (type, default, help,
# range) is rlhf's declaration (rlhf.fields), read from the method's config class.
JOB_SETTINGS = ("num_epochs", "max_steps", "learning_rate", "batch_size", "max_length", "seed", "eval_fraction",
                "lora", "save_steps", "device", "beta", "loss_type", "l2", "head_features")
JOB_CONFIG_CLASSES: dict[str, type[TrainingConfig]] = {
    Method.REWARD: RewardTrainingConfig, Method.REWARD_LINEAR: RewardTrainingConfig, Method.DPO: DPOTrainingConfig}
_JOB_KIND_WORDS: dict[str, str] = {Method.REWARD: "reward-model", Method.REWARD_LINEAR: "linear reward-model", Method.DPO: "DPO"}
METHOD_FAMILIES: dict[str, tuple[str, ...]] = {Method.REWARD: ("causal_lm", "encoder"), Method.REWARD_LINEAR: ("encoder",), Method.DPO: ("causal_lm",)}
PROGRESS_WRITE_SECONDS = 1.0


def setting_methods(name: str) -> list[str]:
    """The job methods whose config reads setting `name` (the linear head's settings: linear jobs only)."""
    return [method for method, config_class in JOB_CONFIG_CLASSES.items()
            if name in {f.name for f in dataclasses.fields(config_class)}
            and (name not in LINEAR_HEAD_SETTINGS or method == Method.REWARD_LINEAR)]


def _clean_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    clean = {}
    for name, value in params.items():
        if value in (None, ""):
            continue
        if name not in JOB_SETTINGS:
            raise errors.InvalidInput(f"{name}: not a setting of a training job (known: {', '.join(sorted(JOB_SETTINGS))})")
        methods = setting_methods(name)
        if method not in methods:
            raise errors.InvalidInput(f"{name}: only {' or '.join(_JOB_KIND_WORDS[m] for m in methods)} jobs take it")
        try:
            clean[name] = field_parse(JOB_CONFIG_CLASSES[method], name, value, source="training job")
        except ConfigError as exc:
            raise errors.InvalidInput(str(exc)) from None
    return clean


def training_config(*, method: str, base_model: BaseModel, params: dict[str, Any], data_path: str,
                    output_dir: str) -> TrainingConfig:
    """The rlhf config of a job; its own validation (with the field's name) is the one users see."""
    common = {"data_path": data_path, "output_dir": output_dir, "model_path": base_model.path or None, **params}
    try:
        if method == Method.DPO:
            return DPOTrainingConfig(**common)
        return RewardTrainingConfig(head="linear" if method == Method.REWARD_LINEAR else "full", **common)
    except ConfigError as exc:
        raise errors.InvalidInput(str(exc)) from None
    except TypeError as exc:
        raise errors.InvalidInput(f"bad setting: {exc}") from None


def training_job_create(*, snapshot: Snapshot, method: str, base_model: BaseModel, params: dict | None = None, created_by=None,
                        enqueue: bool = True) -> TrainingJob:
    """Validates the job and queues it on commit (`enqueue=False`: the caller runs it, as `train --run-here` does)."""
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
        if enqueue:
            _enqueue(job)
    return job


def _enqueue(job: TrainingJob) -> None:
    from .tasks import training_run

    jobs.job_enqueue(job, training_run)


def training_job_cancel(*, job: TrainingJob) -> TrainingJob:
    """A queued job is cancelled at once; a running one stops at the end of its current step."""
    return jobs.job_cancel(job)


def training_job_worker_lost(job: TrainingJob) -> bool:
    return jobs.job_worker_lost(job)


def training_job_retry(*, job: TrainingJob) -> TrainingJob:
    """Queues the job again; it resumes from its last checkpoint."""
    from .tasks import training_run

    return jobs.job_retry(job, training_run, completed_hint="launch a new one to train again")


def _fail(job_id: int, reason: str) -> None:
    jobs.job_fail(TrainingJob(pk=job_id), reason)


def training_job_run(*, job_id: int, worker: str = "") -> TrainingJob | None:
    """Runs the job in this process (the Celery task calls this). Safe to call twice."""
    job = TrainingJob.objects.select_related("snapshot", "base_model").filter(pk=job_id).first()
    if job is None or not jobs.job_start(job, worker):
        return TrainingJob.objects.get(pk=job_id) if job else None
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
        _fail(job.pk, jobs.failure_reason(exc))
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
            if created:
                _queue_rescore(job.snapshot.datanet, version)
    return TrainingJob.objects.get(pk=job.pk)


def _queue_rescore(datanet, version: ModelVersion) -> None:
    """A new reward model scores its Datanet's queue when the Datanet serves by uncertainty, so that the next
    requests ask what this model is least sure of."""
    from rlhf.active import UNCERTAINTY
    from rlhf.scoring import SCORING_KINDS

    if datanet.assignment_strategy == UNCERTAINTY and version.kind in SCORING_KINDS:
        from feedback_site.rounds.services import queue_score_enqueue

        queue_score_enqueue(datanet=datanet, model_version=version)


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
