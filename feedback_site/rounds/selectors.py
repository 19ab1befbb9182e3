"""What the rounds page reads: a Datanet's rounds of the online loop (generation -> judging -> training ->
attribution), and its generation jobs.

A round opens when a generation job is created and lasts until the next one is; round 0 is the Datanet's
imported comparisons, before any generation job. What a round produced is what happened in its window: the
comparisons that entered the queue, the judgments submitted (revisions not counted), the training jobs started
and the model versions they registered (with held-out accuracy), and the attribution of those versions."""

from dataclasses import dataclass, field
from datetime import datetime

from feedback_site.annotation.models import Comparison, Datanet, Judgment
from feedback_site.attribution.models import AttributionJob
from feedback_site.training.models import TrainingJob

from .models import GenerationJob

RECENT_ROUNDS = 50


@dataclass
class TrainingStep:
    job: TrainingJob
    version_name: str | None
    # The registered version's held-out accuracy: the reward model's pairwise accuracy, or a DPO policy's implicit
    # reward accuracy (both: how often it prefers what people preferred on pairs it did not train on).
    heldout_accuracy: float | None
    attribution: list[AttributionJob] = field(default_factory=list)


@dataclass
class Round:
    number: int
    generation: GenerationJob | None
    started_at: datetime
    ended_at: datetime | None
    comparisons: int
    judgments: int
    training: list[TrainingStep]

    @property
    def last_accuracy(self) -> float | None:
        scores = [step.heldout_accuracy for step in self.training if step.heldout_accuracy is not None]
        return scores[-1] if scores else None


def heldout_accuracy(metrics: dict) -> float | None:
    heldout = metrics.get("heldout") or {}
    value = heldout.get("accuracy", heldout.get("implicit_reward_accuracy"))
    return float(value) if isinstance(value, int | float) else None


def generation_jobs_of(*, datanet: Datanet) -> list[GenerationJob]:
    return list(GenerationJob.objects.filter(datanet=datanet).select_related("policy", "second_version", "reference")
                .order_by("created_at", "id"))


def generation_job_get(*, job_id: int) -> GenerationJob | None:
    return (GenerationJob.objects.select_related("datanet", "policy", "second_version", "reference")
            .filter(pk=job_id).first())


def _training_steps(datanet: Datanet, start: datetime, end: datetime | None) -> list[TrainingStep]:
    jobs = TrainingJob.objects.filter(snapshot__datanet=datanet, created_at__gte=start).select_related("model_version")
    if end is not None:
        jobs = jobs.filter(created_at__lt=end)
    steps = []
    for job in jobs.order_by("created_at", "id"):
        version = getattr(job, "model_version", None)
        steps.append(TrainingStep(
            job=job, version_name=version.name if version else None,
            heldout_accuracy=heldout_accuracy(version.metrics) if version else None,
            attribution=list(AttributionJob.objects.filter(model_version=version).order_by("id")) if version else [],
        ))
    return steps


def _in_window(queryset, name: str, start: datetime, end: datetime | None):
    queryset = queryset.filter(**{f"{name}__gte": start})
    return queryset.filter(**{f"{name}__lt": end}) if end is not None else queryset


def rounds_of(*, datanet: Datanet, limit: int = RECENT_ROUNDS) -> list[Round]:
    """The Datanet's rounds, oldest first (the last `limit` of them)."""
    generations = generation_jobs_of(datanet=datanet)
    starts: list[tuple[GenerationJob | None, datetime]] = [(job, job.created_at) for job in generations]
    if not generations or Comparison.objects.filter(datanet=datanet, created_at__lt=generations[0].created_at).exists():
        starts.insert(0, (None, datanet.created_at))
    rounds = []
    first_number = 0 if starts and starts[0][0] is None else 1
    for index, (job, start) in enumerate(starts):
        end = starts[index + 1][1] if index + 1 < len(starts) else None
        if job is not None:
            comparisons = job.comparisons_created
        else:
            comparisons = _in_window(Comparison.objects.filter(datanet=datanet), "created_at", start, end).count()
        judgments = _in_window(Judgment.objects.filter(datanet=datanet, revision_of__isnull=True), "submitted_at",
                               start, end).count()
        rounds.append(Round(number=first_number + index, generation=job, started_at=start, ended_at=end,
                            comparisons=comparisons, judgments=judgments,
                            training=_training_steps(datanet, start, end)))
    return rounds[-limit:]
