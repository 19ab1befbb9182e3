from celery import shared_task


@shared_task(name="governance.build_report", acks_late=True)
def build_report(report_id: int) -> str:
    """Run a report's sweep and build its page; a finished report is left as it is."""
    from django.conf import settings

    from .services import report_run

    report = report_run(report_id=report_id, output_root=settings.VAR_DIR / "sweeps")
    return report.state


@shared_task(name="governance.close_due_proposals")
def close_due_proposals() -> list[int]:
    from .services import proposals_close_due

    return [proposal.id for proposal in proposals_close_due()]


@shared_task(name="simulator.run_one", acks_late=True, ignore_result=False)
def simulation_run_one(spec: dict) -> tuple[bytes, float]:
    """One simulation run of a sweep, on whichever worker takes it; returns its metrics as Parquet bytes."""
    from simulator.sweep import RunSpec, _timed_run_one

    return _timed_run_one(RunSpec.from_dict({**spec, "out_dir": None}))
