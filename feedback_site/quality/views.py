"""Quality pages: the ML engineer's dashboard per Datanet, and each annotator's own figures."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from feedback_site.accounts.permissions import role_required
from feedback_site.accounts.roles import Role
from feedback_site.annotation.models import Datanet
from feedback_site.core import errors

from . import selectors, services


@role_required(Role.ML_ENGINEER)
def dashboard(request, slug):
    datanet = get_object_or_404(Datanet, slug=slug)
    return render(request, "quality/dashboard.html", selectors.dashboard(datanet=datanet))


@require_POST
@role_required(Role.ML_ENGINEER)
def recompute(request, slug):
    """Queues the recomputation; a worker computes it (a report over many judgments takes long)."""
    datanet = get_object_or_404(Datanet, slug=slug)
    try:
        services.quality_recompute_now(datanet_id=datanet.id)
    except errors.ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Recomputation queued: a worker computes it, and this page shows it when done.")
    return redirect("quality_dashboard", slug=slug)


@role_required(Role.ML_ENGINEER)
def annotator_review(request, slug, pseudonym):
    datanet = get_object_or_404(Datanet, slug=slug)
    return render(request, "quality/annotator_review.html", selectors.annotator_review(datanet=datanet, pseudonym=pseudonym))


@require_POST
@role_required(Role.ML_ENGINEER)
def exclusion_add(request, slug, pseudonym):
    datanet = get_object_or_404(Datanet, slug=slug)
    try:
        services.exclusion_add(datanet=datanet, pseudonym=pseudonym, reason=request.POST.get("reason", ""), by=request.user)
    except errors.ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{pseudonym} will be left out of new snapshots of {datanet.name}.")
    return redirect("quality_annotator", slug=slug, pseudonym=pseudonym)


@require_POST
@role_required(Role.ML_ENGINEER)
def exclusion_revoke(request, slug, exclusion_id):
    exclusion = selectors.exclusion_of(slug=slug, exclusion_id=exclusion_id)
    if exclusion is None:
        raise Http404("No such exclusion in this Datanet.")
    try:
        services.exclusion_revoke(exclusion=exclusion, by=request.user)
    except errors.ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{exclusion.contributor.pseudonym} is included in new snapshots again.")
    return redirect("quality_annotator", slug=slug, pseudonym=exclusion.contributor.pseudonym)


@require_POST
@role_required(Role.ML_ENGINEER)
def gold_mark(request, slug):
    datanet = get_object_or_404(Datanet, slug=slug)
    try:
        if request.POST.get("fraction"):
            count = services.gold_from_reference(datanet=datanet, fraction=float(request.POST["fraction"]))
            messages.success(request, f"{count} comparisons with a reference answer are now gold items.")
        else:
            comparison = selectors.comparison_of(datanet=datanet, comparison_id=int(request.POST.get("comparison", 0)))
            if comparison is None:
                raise Http404("No such comparison in this Datanet.")
            services.comparison_mark_gold(comparison=comparison, choice=request.POST.get("choice", ""))
            messages.success(request, f"Comparison {comparison.id} is now a gold item.")
    except (errors.ServiceError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    return redirect("quality_dashboard", slug=slug)


@login_required
def my_quality(request):
    """An annotator's own figures per Datanet: never anyone else's identity or answers."""
    return render(request, "quality/my_quality.html", selectors.my_quality(user=request.user))
