"""Attribution pages: each annotator's own scores per model version; the engineer's view of a version."""

import json
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from feedback_site.accounts.permissions import role_required
from feedback_site.accounts.roles import Role
from feedback_site.annotation.models import Judgment
from feedback_site.core import errors
from feedback_site.quality.charts import histogram_svg
from feedback_site.training.models import JobState, ModelVersion

from . import services
from .models import AttributionJob, ContributorAttribution

EXPLANATION = (
    "Your attribution for a model is how much your judgments moved it: we measure how the model's error on "
    "comparisons it never trained on would change without each of your judgments. Positive means your "
    "judgments made the model better at predicting what people prefer; negative means they pulled it the "
    "wrong way; near zero means they changed little. Copies of the same judgment share one credit. "
    "Payouts are in proportion to positive attribution."
)


@login_required
def my_attribution(request):
    contributor = getattr(request.user, "contributor", None)
    scores = (
        ContributorAttribution.objects.filter(contributor=contributor, job__state=JobState.COMPLETED)
        .select_related("job__model_version__job__snapshot__datanet")
        .order_by("-job_id")
        if contributor
        else []
    )
    return render(request, "attribution/mine.html", {"scores": scores, "explanation": EXPLANATION})


@role_required(Role.ML_ENGINEER)
def version_attribution(request, version_id):
    version = get_object_or_404(ModelVersion.objects.select_related("job__snapshot__datanet"), pk=version_id)
    jobs = list(version.attribution_jobs.all())
    job = next((j for j in jobs if j.state == JobState.COMPLETED), None)
    context = {"version": version, "jobs": jobs, "job": job, "methods": _methods_for(version.kind)}
    if job is not None:
        scores = list(job.scores.select_related("contributor").order_by("score"))
        values = [s.score for s in scores]
        context.update(
            scores=scores,
            negative=[s for s in scores if s.score < 0],
            histogram=histogram_svg(values, lo=min(values), hi=max(values) + 1e-12, label="contributor attribution") if values else "",
            **_extreme_judgments(job),
        )
    return render(request, "attribution/version.html", context)


def _methods_for(kind: str) -> list[str]:
    from rlhf.attribution import method_get, method_names

    return [name for name in method_names() if kind in method_get(name).model_kinds]


def _extreme_judgments(job: AttributionJob, count: int = 8) -> dict:
    report = json.loads(Path(job.report_path).read_text())
    ranked = sorted(((float(v["score"]), int(k)) for k, v in report["judgments"].items()))
    wanted = [jid for _, jid in ranked[:count]] + [jid for _, jid in ranked[-count:]]
    judgments = {
        j.id: j
        for j in Judgment.objects.filter(pk__in=wanted).select_related(
            "comparison__prompt", "comparison__response_a", "comparison__response_b", "annotator__contributor"
        )
    }
    pick = lambda items: [(score, judgments[jid]) for score, jid in items if jid in judgments]  # noqa: E731
    return {"harmful": pick(ranked[:count]), "helpful": pick(list(reversed(ranked[-count:])))}


@require_POST
@role_required(Role.ML_ENGINEER)
def version_attribution_launch(request, version_id):
    version = get_object_or_404(ModelVersion, pk=version_id)
    try:
        job = services.attribution_job_create(model_version=version, method=request.POST.get("method") or None, created_by=request.user)
    except errors.ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Attribution job {job.id} ({job.method}) queued for epoch {job.epoch}.")
    return redirect("version_attribution", version_id=version.id)
