import os
import socket

from celery import shared_task


@shared_task(name="training.run", acks_late=True, reject_on_worker_lost=True)
def training_run(job_id: int) -> str | None:
    """Trains one job. Delivered again if the worker dies (acks late); the run resumes from its checkpoint."""
    from .services import training_job_run

    job = training_job_run(job_id=job_id, worker=f"{socket.gethostname()}:{os.getpid()}")
    return job.state if job else None
