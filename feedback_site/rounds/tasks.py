import os
import socket

from celery import shared_task


@shared_task(name="rounds.generate", acks_late=True, reject_on_worker_lost=True)
def generation_run(job_id: int) -> str | None:
    """Generates one job's replies. Delivered again if the worker dies (acks late); the run skips finished prompts."""
    from .services import generation_job_run

    job = generation_job_run(job_id=job_id, worker=f"{socket.gethostname()}:{os.getpid()}")
    return job.state if job else None


@shared_task(name="rounds.score_queue", acks_late=True, reject_on_worker_lost=True)
def queue_score_run(datanet_id: int, version_id: int) -> int:
    """Scores a Datanet's queue with a reward model version (idempotent: scoring again writes the same values)."""
    from feedback_site.annotation.models import Datanet
    from feedback_site.training.models import ModelVersion

    from .services import queue_score

    return queue_score(datanet=Datanet.objects.get(pk=datanet_id), model_version=ModelVersion.objects.get(pk=version_id))
