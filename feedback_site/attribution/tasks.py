from celery import shared_task


@shared_task(name="attribution.run", acks_late=True, reject_on_worker_lost=True)
def attribution_run_task(job_id: int) -> str | None:
    """Scores one model version's contributors. Safe to run twice."""
    from .services import attribution_job_run

    job = attribution_job_run(job_id=job_id)
    return job.state if job else None
