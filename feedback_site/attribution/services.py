"""Attribution jobs: after a training run (or on demand) score every contributor's influence on the
model's held-out preference loss, store it per contributor, and hand it to the epoch's settlement.

The measurement is `rlhf.attribution`; the held-out set is the training run's own held-out split.
"""

import json
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from feedback_site.accounts.models import Contributor
from feedback_site.core import errors
from feedback_site.ledger import selectors as ledger_selectors
from feedback_site.ledger import services as ledger_services
from feedback_site.training.models import JobState, ModelVersion

from .models import AttributionJob, ContributorAttribution

# The method each kind of model gets when nobody chooses: exact where it exists, TracIn otherwise.
DEFAULT_METHOD = {"linear_head": "influence-exact", "reward_model": "tracin", "dpo_policy": "tracin"}


def attribution_job_create(*, model_version: ModelVersion, method: str | None = None, epoch: int | None = None, created_by=None) -> AttributionJob:
    from rlhf.attribution import method_get

    method = method or DEFAULT_METHOD.get(model_version.kind, "tracin")
    try:
        chosen = method_get(method)
    except (KeyError, ValueError) as exc:
        raise errors.InvalidInput(f"method: {exc}") from None
    if model_version.kind not in chosen.model_kinds:
        raise errors.InvalidInput(f"method: {method} scores {', '.join(chosen.model_kinds)} models, not a {model_version.kind}")
    next_epoch = ledger_selectors.epoch_next()
    if epoch is not None and epoch < next_epoch:
        raise errors.InvalidInput(f"epoch: epoch {epoch} is already settled; attribution can only feed epoch {next_epoch} or later")
    with transaction.atomic():
        job = AttributionJob.objects.create(
            model_version=model_version, method=method, epoch=next_epoch if epoch is None else epoch, created_by=created_by
        )
        from .tasks import attribution_run_task

        transaction.on_commit(lambda: attribution_run_task.apply_async(args=[job.id]))
    return job


def _stage(job_id: int, text: str) -> None:
    AttributionJob.objects.filter(pk=job_id).update(stage=text[:200])


def attribution_job_run(*, job_id: int) -> AttributionJob | None:
    """What the Celery task does. Safe to run twice: a finished job is left as it is."""
    from rlhf.attribution import attribution_run, attribution_write
    from rlhf.data import preference_rows_load
    from rlhf.runs import run_json_read

    job = AttributionJob.objects.select_related("model_version__job").filter(pk=job_id).first()
    if job is None or job.finished:
        return job
    AttributionJob.objects.filter(pk=job.pk).update(state=JobState.RUNNING, started_at=timezone.now(), error="")
    version = job.model_version
    try:
        _stage(job.pk, "loading the training data and the held-out split")
        model_dir = Path(version.artifacts_dir)
        record = run_json_read(model_dir)
        rows = preference_rows_load(Path(version.job.artifacts_dir) / "data.jsonl")
        heldout = set(record["data"].get("heldout_row_ids") or [])
        eval_rows = [row for row in rows if row.row_id in heldout]
        if not eval_rows:
            raise errors.InvalidInput("the training run held no rows out (eval_fraction 0): there is nothing to measure influence on")
        _stage(job.pk, f"scoring {len(rows) - len(eval_rows)} training rows against {len(eval_rows)} held-out rows with {job.method}")
        report = attribution_run(model_dir, rows, eval_rows, method=job.method)
        path = attribution_write(report, model_dir.parent / f"attribution-{job.pk}.json")
    except Exception as exc:  # noqa: BLE001 - recorded on the job and shown
        message = exc.message if isinstance(exc, errors.ServiceError) else f"{type(exc).__name__}: {exc}"
        return _fail(job, message)
    try:
        _store_scores(job, report, path)
    except errors.ServiceError as exc:  # e.g. the epoch was settled while the job ran: nothing stored
        return _fail(job, f"scores measured but not recorded: {exc.message}")
    return AttributionJob.objects.get(pk=job.pk)


def _fail(job: AttributionJob, message: str) -> AttributionJob:
    AttributionJob.objects.filter(pk=job.pk).update(state=JobState.FAILED, error=message[:5000], finished_at=timezone.now())
    return AttributionJob.objects.get(pk=job.pk)


def _store_scores(job: AttributionJob, report: dict, path: Path) -> None:
    """The job's scores, per contributor, and the epoch's attribution through the ledger's
    ``epoch_inputs_record``: the latest recorded model version's set replaces an earlier one whole.
    Contributors the site does not know are listed in the summary, not recorded."""
    judgments_per: dict[str, int] = {}
    for entry in report["judgments"].values():
        judgments_per[entry["contributor"]] = judgments_per.get(entry["contributor"], 0) + 1
    known = {c.pseudonym: c for c in Contributor.objects.filter(pseudonym__in=list(report["contributors"]))}
    summary = {key: report[key] for key in ("method", "settings", "seed", "model", "data", "eval", "versions", "cost", "totals")}
    summary["unknown_contributors"] = sorted(set(report["contributors"]) - set(known))
    scored = [(known[p], score, judgments_per.get(p, 0)) for p, score in report["contributors"].items() if p in known]
    with transaction.atomic():
        ContributorAttribution.objects.bulk_create(
            [ContributorAttribution(job=job, contributor=contributor, score=score, judgments=judgments) for contributor, score, judgments in scored]
        )
        ledger_services.epoch_inputs_record(
            epoch=job.epoch,
            source="attribution",
            rows=[{"contributor": contributor, "score": score, "judgments": judgments} for contributor, score, judgments in scored],
            model_version=job.model_version,
            source_run_id=f"attribution-{job.pk}",
        )
        AttributionJob.objects.filter(pk=job.pk).update(
            state=JobState.COMPLETED, stage="done", report_path=str(path), summary=json.loads(json.dumps(summary, default=str)),
            finished_at=timezone.now(),
        )
