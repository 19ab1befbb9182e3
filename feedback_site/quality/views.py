"""Quality pages: the ML engineer's dashboard per Datanet, and each annotator's own figures."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from feedback_site.accounts.permissions import role_required
from feedback_site.accounts.roles import Role
from feedback_site.annotation.models import Comparison, Datanet, Judgment
from feedback_site.core import errors

from . import services
from .charts import histogram_svg, line_chart_svg
from .models import Exclusion, QualityReport


@role_required(Role.ML_ENGINEER)
def dashboard(request, slug):
    datanet = get_object_or_404(Datanet, slug=slug)
    reports = list(QualityReport.objects.filter(datanet=datanet).order_by("-id")[:30])[::-1]
    latest = reports[-1] if reports else None
    annotators = latest.report["annotators"] if latest else []
    reliabilities = [a["reliability"]["value"] for a in annotators if a["reliability"]["value"] is not None]
    context = {
        "datanet": datanet,
        "latest": latest,
        "report": latest.report if latest else None,
        "flagged": [a for a in annotators if a["flags"]],
        "pairs": sorted(latest.report["pairwise_agreement"], key=lambda p: -p["shared_comparisons"])[:50] if latest else [],
        "annotators": annotators,
        "alpha_chart": line_chart_svg(
            [(r.computed_at.strftime("%Y-%m-%d %H:%M"), r.report["alpha"]["value"]) for r in reports], label="Krippendorff's alpha over time"
        ),
        "reliability_chart": histogram_svg(reliabilities, label="Annotator reliability"),
        "exclusions": Exclusion.objects.filter(datanet=datanet).select_related("contributor")[:50],
        "gold_count": Comparison.objects.filter(datanet=datanet).exclude(gold_choice="").count(),
        "reference_count": Comparison.objects.filter(datanet=datanet).exclude(reference_choice="").count(),
    }
    return render(request, "quality/dashboard.html", context)


@require_POST
@role_required(Role.ML_ENGINEER)
def recompute(request, slug):
    datanet = get_object_or_404(Datanet, slug=slug)
    report = services.quality_report_compute(datanet=datanet)
    messages.success(request, f"Quality recomputed over {report.judgments} judgments in {report.seconds:.1f} s.")
    return redirect("quality_dashboard", slug=slug)


@role_required(Role.ML_ENGINEER)
def annotator_review(request, slug, pseudonym):
    datanet = get_object_or_404(Datanet, slug=slug)
    judgments = (
        Judgment.objects.filter(datanet=datanet, annotator__contributor__pseudonym=pseudonym)
        .select_related("comparison__prompt", "comparison__response_a", "comparison__response_b")
        .order_by("-id")[:200]
    )
    latest = QualityReport.objects.filter(datanet=datanet).first()
    entry = next((a for a in latest.report["annotators"] if a["annotator_id"] == pseudonym), None) if latest else None
    exclusion = Exclusion.objects.filter(datanet=datanet, contributor__pseudonym=pseudonym, revoked_at__isnull=True).first()
    return render(
        request,
        "quality/annotator_review.html",
        {"datanet": datanet, "pseudonym": pseudonym, "judgments": judgments, "entry": entry, "exclusion": exclusion},
    )


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
    exclusion = get_object_or_404(Exclusion, pk=exclusion_id, datanet__slug=slug)
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
            comparison = get_object_or_404(Comparison, pk=int(request.POST.get("comparison", 0)), datanet=datanet)
            services.comparison_mark_gold(comparison=comparison, choice=request.POST.get("choice", ""))
            messages.success(request, f"Comparison {comparison.id} is now a gold item.")
    except (errors.ServiceError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    return redirect("quality_dashboard", slug=slug)


@login_required
def my_quality(request):
    """An annotator's own figures per Datanet: never anyone else's identity or answers."""
    pseudonym = getattr(getattr(request.user, "contributor", None), "pseudonym", None)
    rows = []
    for datanet in request.user.datanets.all():
        latest = QualityReport.objects.filter(datanet=datanet).first()
        entry = None
        if latest and pseudonym:
            entry = next((a for a in latest.report["annotators"] if a["annotator_id"] == pseudonym), None)
        rows.append({"datanet": datanet, "entry": entry, "computed_at": latest.computed_at if latest else None})
    return render(request, "quality/my_quality.html", {"rows": rows, "pseudonym": pseudonym})
