"""Serving pages: a consumer's balance, calls and spend; the ML engineer's view of each served version."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from feedback_site.accounts.permissions import role_required
from feedback_site.accounts.roles import Role
from feedback_site.core.errors import ServiceError
from feedback_site.training import selectors as training_selectors
from feedback_site.training.models import ModelVersion

from . import selectors, services


@login_required
def consumer(request):
    context = selectors.consumer_summary(user=request.user)
    context["price"] = selectors.prices()
    return render(request, "serving/consumer.html", context)


@role_required(Role.ML_ENGINEER)
def served(request):
    versions = selectors.served_versions()
    published = {row["version"].id for row in versions if row["publication"].unpublished_at is None}
    unpublished = [v for v in training_selectors.versions_registered() if v.id not in published
                   and v.kind in ("reward_model", "dpo_policy")]
    return render(request, "serving/served.html", {"versions": versions, "publishable": unpublished,
                                                   "price": selectors.prices()})


@require_POST
@role_required(Role.ML_ENGINEER)
def publish(request, version_id):
    version = get_object_or_404(ModelVersion, pk=version_id)
    try:
        services.model_publish(model_version=version, by=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{version.name} is served: consumers can call it.")
    return redirect("serving_versions")


@require_POST
@role_required(Role.ML_ENGINEER)
def unpublish(request, version_id):
    version = get_object_or_404(ModelVersion, pk=version_id)
    try:
        services.model_unpublish(model_version=version)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{version.name} is no longer served; its calls stay on record.")
    return redirect("serving_versions")
