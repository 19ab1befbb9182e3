"""Sweeps from the site: the site's own feedback log as calibration, and runs fanned out over Celery
workers when a broker with a result backend is configured (else local processes). A run's numbers
depend only on its spec, so both give the same sweep."""

import time
from pathlib import Path

from django.conf import settings

from feedback_site.annotation.exports import feedback_log_rows, write_jsonl
from feedback_site.annotation.models import Datanet, Judgment, Snapshot


class CeleryExecutor:
    """`run_sweep`'s executor: one Celery task per run, results gathered in order."""

    def __init__(self, timeout_s: float = 3600):
        self.timeout_s = timeout_s

    def map(self, fn, specs):
        from celery import group

        from .tasks import simulation_run_one

        result = group(simulation_run_one.s(spec.to_dict()) for spec in specs).apply_async()
        return iter([tuple(item) for item in result.get(timeout=self.timeout_s, disable_sync_subtasks=False)])


def workers_available() -> bool:
    return bool(getattr(settings, "CELERY_RESULT_BACKEND", None)) and settings.CELERY_BROKER_URL.startswith("redis")


def site_feedback_log_write(*, out: Path, datanet: Datanet | None = None) -> tuple[Path, int]:
    """Writes the feedback log of every Datanet (or one) as it stands now; returns the file and its rows."""
    out.parent.mkdir(parents=True, exist_ok=True)
    datanets = [datanet] if datanet else list(Datanet.objects.order_by("id"))
    rows = 0
    with out.open("wb") as handle:
        for target in datanets:
            cutoff = Judgment.objects.filter(datanet=target).order_by("-id").values_list("id", flat=True).first()
            if cutoff is None:
                continue
            probe = Snapshot(datanet=target, cutoff_judgment_id=cutoff, metadata={})
            chunk = list(feedback_log_rows(probe))
            rows += len(chunk)
            write_jsonl(chunk, handle)
    return out, rows


def site_simulate(*, scenarios: tuple[str, ...], policies: tuple[str, ...], seeds: int, root_seed: int, out: Path,
                  datanet: Datanet | None = None, epochs: int | None = None, processes: int = 1, local: bool = False,
                  progress=print) -> Path:
    from simulator.calibration import calibrate, save_calibration
    from simulator.sweep import PolicyVariant, SweepConfig, run_sweep

    out = Path(out)
    log, rows = site_feedback_log_write(out=out / "feedback_log.jsonl", datanet=datanet)
    if rows == 0:
        raise ValueError("the site has no judgments yet: there is no feedback log to calibrate from")
    progress(f"feedback log: {rows} judgment events -> {log}")
    calibration = save_calibration(calibrate(log), out / "calibration.json")
    progress(f"calibration: {calibration}")
    config = SweepConfig(
        name="site",
        scenarios=scenarios,
        policies=tuple(PolicyVariant(p, p) for p in policies),
        seeds=seeds,
        root_seed=root_seed,
        processes=processes,
        output=str(out / "sweep"),
        epochs=epochs,
        calibration=str(calibration),
    )
    executor = CeleryExecutor() if workers_available() and not local else None
    started = time.perf_counter()
    progress(f"{len(scenarios) * len(policies) * seeds} runs on {'Celery workers' if executor else f'{processes} local process(es)'} ...")
    folder = run_sweep(config, executor=executor)
    progress(f"done in {time.perf_counter() - started:.1f} s -> {folder}")
    return folder
