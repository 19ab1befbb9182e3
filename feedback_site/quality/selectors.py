"""What the quality pages read: the latest reports and what an annotator's entry says. Reads only; the
reports themselves are computed by a worker (`services.quality_recompute_run`), never in a request."""

from feedback_site.annotation.models import Comparison, Datanet, Judgment

from .charts import histogram_svg, line_chart_svg
from .models import Exclusion, QualityReport, QualityState

CHART_REPORTS = 30


def report_latest(*, datanet: Datanet) -> QualityReport | None:
    return QualityReport.objects.filter(datanet=datanet).first()


def recompute_pending(*, datanet: Datanet) -> bool:
    """Whether a recomputation is queued and not yet started (the task clears the flag when it starts)."""
    return QualityState.objects.filter(datanet=datanet, scheduled_at__isnull=False).exists()


def annotator_entry(report: QualityReport | None, pseudonym: str | None) -> dict | None:
    if report is None or not pseudonym:
        return None
    return next((a for a in report.report["annotators"] if a["annotator_id"] == pseudonym), None)


def dashboard(*, datanet: Datanet) -> dict:
    """Everything the engineer's dashboard shows, from the stored reports."""
    reports = list(QualityReport.objects.filter(datanet=datanet).order_by("-id")[:CHART_REPORTS])[::-1]
    latest = reports[-1] if reports else None
    annotators = latest.report["annotators"] if latest else []
    reliabilities = [a["reliability"]["value"] for a in annotators if a["reliability"]["value"] is not None]
    comparisons = Comparison.objects.filter(datanet=datanet)
    return {
        "datanet": datanet,
        "latest": latest,
        "report": latest.report if latest else None,
        "recompute_pending": recompute_pending(datanet=datanet),
        "flagged": [a for a in annotators if a["flags"]],
        "pairs": sorted(latest.report["pairwise_agreement"], key=lambda p: -p["shared_comparisons"])[:50] if latest else [],
        "annotators": annotators,
        "alpha_chart": line_chart_svg(
            [(r.computed_at.strftime("%Y-%m-%d %H:%M"), r.report["alpha"]["value"]) for r in reports],
            label="Krippendorff's alpha over time",
        ),
        "reliability_chart": histogram_svg(reliabilities, label="Annotator reliability"),
        "exclusions": Exclusion.objects.filter(datanet=datanet).select_related("contributor")[:50],
        "gold_count": comparisons.exclude(gold_choice="").count(),
        "reference_count": comparisons.exclude(reference_choice="").count(),
    }


def annotator_review(*, datanet: Datanet, pseudonym: str) -> dict:
    """One annotator's latest judgments, report entry and active exclusion in one Datanet."""
    judgments = (
        Judgment.objects.filter(datanet=datanet, annotator__contributor__pseudonym=pseudonym)
        .select_related("comparison__prompt", "comparison__response_a", "comparison__response_b")
        .order_by("-id")[:200]
    )
    exclusion = Exclusion.objects.filter(
        datanet=datanet, contributor__pseudonym=pseudonym, revoked_at__isnull=True
    ).first()
    return {"datanet": datanet, "pseudonym": pseudonym, "judgments": judgments,
            "entry": annotator_entry(report_latest(datanet=datanet), pseudonym), "exclusion": exclusion}


def my_quality(*, user) -> dict:
    """An annotator's own figures per Datanet: never anyone else's identity or answers."""
    pseudonym = getattr(getattr(user, "contributor", None), "pseudonym", None)
    rows = []
    for datanet in user.datanets.all():
        latest = report_latest(datanet=datanet)
        rows.append({"datanet": datanet, "entry": annotator_entry(latest, pseudonym),
                     "computed_at": latest.computed_at if latest else None})
    return {"rows": rows, "pseudonym": pseudonym}


def exclusion_of(*, slug: str, exclusion_id: int) -> Exclusion | None:
    return Exclusion.objects.filter(pk=exclusion_id, datanet__slug=slug).select_related("contributor").first()


def comparison_of(*, datanet: Datanet, comparison_id: int) -> Comparison | None:
    return Comparison.objects.filter(pk=comparison_id, datanet=datanet).first()
