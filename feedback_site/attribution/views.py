"""Attribution pages: each annotator's own scores per model version; the engineer's view of a version."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from feedback_site.accounts.permissions import role_required
from feedback_site.accounts.roles import Role
from feedback_site.core import errors
from feedback_site.training import selectors as training_selectors

from . import selectors, services

EXPLANATION = (
    "Your attribution for a model is how much your judgments moved it: we measure how the model's error on "
    "comparisons it never trained on would change without each of your judgments. Positive means your "
    "judgments made the model better at predicting what people prefer; negative means they pulled it the "
    "wrong way; near zero means they changed little. Copies of the same judgment share one credit. "
    "Payouts are in proportion to positive attribution."
)


@login_required
def my_attribution(request):
    scores = selectors.scores_of(contributor=getattr(request.user, "contributor", None))
    return render(request, "attribution/mine.html", {"scores": scores, "explanation": EXPLANATION})


@role_required(Role.ML_ENGINEER)
def version_attribution(request, version_id):
    version = _version(version_id)
    return render(request, "attribution/version.html", selectors.version_attribution(version=version))


def _version(version_id: int):
    version = training_selectors.version_get(version_id=version_id)
    if version is None:
        raise Http404("No such model version.")
    return version


@require_POST
@role_required(Role.ML_ENGINEER)
def version_attribution_launch(request, version_id):
    version = _version(version_id)
    try:
        job = services.attribution_job_create(model_version=version, method=request.POST.get("method") or None, created_by=request.user)
    except errors.ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Attribution job {job.id} ({job.method}) queued for epoch {job.epoch}.")
    return redirect("version_attribution", version_id=version.id)
