"""The life of a job a Celery worker runs (training, generation): the one set of rules for cancel, retry, a lost
worker and a duplicate delivery, for any model with the job fields (state, cancel_requested, attempts, worker,
heartbeat_at, error, started_at, finished_at).

A job is queued on commit of the transaction that created it; a task delivered twice, or while another worker
holds the job, finds it finished or running and does nothing; a worker whose heartbeat is older than
TRAINING_HEARTBEAT_STALE_SECONDS is lost, and its job may be retried (it resumes where it stopped)."""

import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from feedback_site.core import errors


class JobState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = JobState.values
FINISHED = (COMPLETED, FAILED, CANCELLED)


class Job(models.Model):
    """What every job records: its state, why it failed, who asked for it and when it ran."""

    state = models.CharField(max_length=12, choices=JobState.choices, default=JobState.QUEUED)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-id"]

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


class WorkerJob(Job):
    """A job a Celery worker runs under the rules of this module: cancellable, retried, watched by a heartbeat."""

    queue = models.CharField(max_length=10, default="cpu")
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    versions = models.JSONField(default=dict)

    class Meta(Job.Meta):
        abstract = True


def _rows(job: models.Model):
    return type(job)._default_manager.filter(pk=job.pk)


def job_worker_lost(job) -> bool:
    if job.state != RUNNING or job.heartbeat_at is None:
        return False
    return timezone.now() - job.heartbeat_at > timedelta(seconds=settings.TRAINING_HEARTBEAT_STALE_SECONDS)


def job_cancel(job):
    """A queued job is cancelled at once; a running one stops at its next check."""
    if job.state in FINISHED:
        raise errors.Conflict(f"Job {job.id} already {job.state}.")
    _rows(job).update(cancel_requested=True)
    _rows(job).filter(state=QUEUED).update(state=CANCELLED, finished_at=timezone.now())
    job.refresh_from_db()
    return job


def job_enqueue(job, task) -> None:
    """Sends the job to its worker queue once the transaction that wrote it commits (a worker never reads a job
    that a rollback took back)."""
    job_id, queue = job.id, job.queue
    transaction.on_commit(lambda: task.apply_async(args=[job_id], queue=queue))


def job_retry(job, task, *, completed_hint: str):
    """Queues a failed, cancelled or lost job again (`task` on commit); it resumes where it stopped."""
    if job.state == COMPLETED:
        raise errors.Conflict(f"Job {job.id} completed; {completed_hint}.")
    if job.state == QUEUED or (job.state == RUNNING and not job_worker_lost(job)):
        raise errors.Conflict(f"Job {job.id} is {job.state}; retry a failed, cancelled or lost job.")
    with transaction.atomic():
        _rows(job).update(state=QUEUED, cancel_requested=False, error="", finished_at=None)
        job.refresh_from_db()
        job_enqueue(job, task)
    return job


def job_start(job, worker: str = "") -> bool:
    """Marks the job running in this worker, or says False when there is nothing to run: it is finished, held by a
    live worker (a duplicate delivery), or its cancel was asked for (then it is cancelled now)."""
    if job.state in FINISHED:
        return False
    if job.state == RUNNING and not job_worker_lost(job):
        return False
    if job.cancel_requested:
        _rows(job).update(state=CANCELLED, finished_at=timezone.now())
        return False
    now = timezone.now()
    _rows(job).update(state=RUNNING, attempts=job.attempts + 1, worker=worker or f"{socket.gethostname()}:{os.getpid()}",
                      started_at=job.started_at or now, heartbeat_at=now, error="")
    return True


def job_fail(job, reason: str) -> None:
    _rows(job).update(state=FAILED, error=reason[:5000], finished_at=timezone.now())


def failure_reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if "out of memory" in text.lower() or type(exc).__name__ == "OutOfMemoryError":
        return f"out of memory: {exc}. Try a smaller batch size or max_length, LoRA, or a GPU worker."
    return text
