"""What the attribution pages read: an annotator's own scores, and a model version's attribution."""

import json
from pathlib import Path

from feedback_site.annotation.models import Judgment
from feedback_site.quality.charts import histogram_svg
from feedback_site.training.models import JobState, ModelVersion

from .models import AttributionJob, ContributorAttribution

EXTREME_JUDGMENTS = 8


def scores_of(*, contributor) -> list[ContributorAttribution]:
    """A contributor's scores from completed jobs, newest job first."""
    if contributor is None:
        return []
    return list(
        ContributorAttribution.objects.filter(contributor=contributor, job__state=JobState.COMPLETED)
        .select_related("job__model_version__job__snapshot__datanet")
        .order_by("-job_id")
    )


def methods_for(kind: str) -> list[str]:
    """The attribution methods that apply to a model of this kind."""
    from rlhf.attribution import method_get, method_names

    return [name for name in method_names() if kind in method_get(name).model_kinds]


def version_attribution(*, version: ModelVersion) -> dict:
    """A version's attribution jobs and, from its completed one, every contributor's score, the negative
    ones, their histogram and the most helpful and most harmful judgments."""
    jobs = list(version.attribution_jobs.all())
    job = next((j for j in jobs if j.state == JobState.COMPLETED), None)
    context = {"version": version, "jobs": jobs, "job": job, "methods": methods_for(version.kind)}
    if job is not None:
        scores = list(job.scores.select_related("contributor").order_by("score"))
        values = [s.score for s in scores]
        context.update(
            scores=scores,
            negative=[s for s in scores if s.score < 0],
            histogram=histogram_svg(values, lo=min(values), hi=max(values) + 1e-12, label="contributor attribution") if values else "",
            **_extreme_judgments(job),
        )
    return context


def _extreme_judgments(job: AttributionJob, count: int = EXTREME_JUDGMENTS) -> dict:
    report = json.loads(Path(job.report_path).read_text())
    ranked = sorted(((float(v["score"]), int(k)) for k, v in report["judgments"].items()))
    wanted = [jid for _, jid in ranked[:count]] + [jid for _, jid in ranked[-count:]]
    judgments = {
        j.id: j
        for j in Judgment.objects.filter(pk__in=wanted).select_related(
            "comparison__prompt", "comparison__response_a", "comparison__response_b", "annotator__contributor"
        )
    }

    def pick(items):
        return [(score, judgments[jid]) for score, jid in items if jid in judgments]

    return {"harmful": pick(ranked[:count]), "helpful": pick(list(reversed(ranked[-count:])))}
