from celery import shared_task


@shared_task(name="quality.recompute", acks_late=True)
def quality_recompute(datanet_id: int) -> int | None:
    """Recomputes a Datanet's quality report. Safe to run twice: an up-to-date report is kept as is."""
    from .services import quality_recompute_run

    report = quality_recompute_run(datanet_id=datanet_id)
    return report.id if report else None
