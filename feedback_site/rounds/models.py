"""Generation jobs: a registered policy version's candidate replies to a Datanet's prompts, which become the
comparisons of the Datanet's queue. Each generation job opens a round of the online loop (generation, judging,
training, attribution; `selectors.rounds_of`)."""

from django.db import models

from feedback_site.annotation.models import Datanet, Prompt
from feedback_site.core.jobs import WorkerJob
from feedback_site.training.models import BaseModel, ModelVersion


class GenerationJob(WorkerJob):
    datanet = models.ForeignKey(Datanet, on_delete=models.PROTECT, related_name="generation_jobs")
    policy = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="generation_jobs")
    # What the policy's replies are compared against, if anything: another version, or a reference model. Without
    # either, the policy's own replies to a prompt are compared with one another.
    second_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reference = models.ForeignKey(BaseModel, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    settings = models.JSONField(default=dict)  # rlhf.generation.GenerationSettings, seed included
    # The prompts it answers: the Datanet's prompts up to this id when it was created (prompts imported later
    # belong to a later job), the first `prompt_limit` of them by id when a limit is set.
    prompt_cutoff_id = models.BigIntegerField(default=0)
    prompt_limit = models.PositiveIntegerField(null=True, blank=True)
    prompts_total = models.PositiveIntegerField(default=0)
    prompts_done = models.PositiveIntegerField(default=0)
    comparisons_created = models.PositiveIntegerField(default=0)
    prompts_cut = models.PositiveIntegerField(default=0)
    # Pairs that made no comparison: the same text twice, or a text no preference pair may hold (rlhf.data).
    pairs_left_out = models.PositiveIntegerField(default=0)

    @property
    def percent(self) -> int:
        return round(100 * self.prompts_done / self.prompts_total) if self.prompts_total else 0

    @property
    def sources(self) -> list[str]:
        """The names of the models whose replies are compared, in the order of rlhf.generation.pairs_of."""
        second = self.second_version.name if self.second_version else self.reference.name if self.reference else None
        return [self.policy.name] + ([second] if second else [])


class GeneratedPrompt(models.Model):
    """A prompt a job has finished, written in the same transaction as its replies and comparisons: a job that
    resumes skips these, and the unique pair makes a second writer of the same prompt fail instead of duplicating."""

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="prompts_generated")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="+")
    comparisons = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "prompt"], name="generated_prompt_once_per_job")]
