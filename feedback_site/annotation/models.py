"""Datanets, the comparisons in them, who was served what, and the judgments people gave.

Judgments and snapshots are append-only: a revision is a new judgment row pointing at the one it
revises, and the database itself refuses UPDATE (and DELETE on PostgreSQL) on judgments
(see migration 0002), so the provenance of every judgment survives any bug in this code.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from rlhf import active


class Side(models.TextChoices):
    A = "a", "A"
    B = "b", "B"


class Choice(models.TextChoices):
    A = "a", "A better"
    B = "b", "B better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both bad"


class Strength(models.IntegerChoices):
    SLIGHTLY = 1, "slightly"
    CLEARLY = 2, "clearly"
    MUCH = 3, "much"


class AppendOnlyError(Exception):
    pass


class Datanet(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    domain = models.CharField(max_length=100, blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to annotators before they judge.")
    overlap = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="k: how many distinct annotators judge each comparison.",
    )
    gold_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of served comparisons drawn from gold items, when there are any.",
    )
    max_pending = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1)], help_text="N: most comparisons one annotator may hold locked."
    )
    lock_minutes = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1)], help_text="A served comparison is released after this long."
    )
    assignment_strategy = models.CharField(
        max_length=20, choices=[(name, name) for name in active.STRATEGIES], default=active.RANDOM,
        help_text="Which open comparison a request is served: " + "; ".join(
            f"{name}: {text}" for name, text in active.STRATEGY_HELP.items()) + ".",
    )
    random_share = models.FloatField(
        default=active.DEFAULT_RANDOM_SHARE,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Under uncertainty: the share of requests still served at random, an unbiased sample for "
                  "evaluating the reward model.",
    )
    # The reward model version whose margins set the comparisons' uncertainty, and when (a scoring job sets both).
    scored_by = models.CharField(max_length=200, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="datanets", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportBatch(models.Model):
    """One accepted import: where it came from and what it created."""

    datanet = models.ForeignKey(Datanet, on_delete=models.PROTECT, related_name="imports")
    origin = models.CharField(max_length=20)  # upload, cli, api
    filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)
    prompts_created = models.PositiveIntegerField(default=0)
    comparisons_created = models.PositiveIntegerField(default=0)
    # Lines left out because the importer asked to skip invalid ones: each {"line", "field", "message"},
    # so what a file lost stays on record beside what it created.
    skipped = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)


class Prompt(models.Model):
    datanet = models.ForeignKey(Datanet, on_delete=models.PROTECT, related_name="prompts")
    external_id = models.CharField(max_length=200)
    text = models.TextField()
    import_batch = models.ForeignKey(ImportBatch, null=True, on_delete=models.PROTECT, related_name="prompts")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["datanet", "external_id"], name="prompt_unique_external_id")]


class Response(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="responses")
    text = models.TextField()
    source_model = models.CharField(max_length=200, blank=True)
    position = models.PositiveSmallIntegerField()
    # Where a generated reply came from (the generation job, model version, sampling settings and prompt seed that
    # produced it); null for a reply that was imported. Exported with the comparisons it is part of.
    generation = models.JSONField(null=True, blank=True)


class Comparison(models.Model):
    datanet = models.ForeignKey(Datanet, on_delete=models.PROTECT, related_name="comparisons")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="comparisons")
    response_a = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="+")
    response_b = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="+")
    # The preference recorded in an imported preference file: kept as a reference (usable as a
    # gold answer), never counted as anyone's judgment.
    reference_choice = models.CharField(max_length=8, choices=Side.choices, blank=True)
    gold_choice = models.CharField(max_length=8, choices=Choice.choices, blank=True)
    # Submitted judgments (revisions not counted). Kept on the row so that assignment can lock the
    # row and compare against the overlap k without counting judgments.
    judgment_count = models.PositiveIntegerField(default=0)
    # Its place in the random order (`rlhf.active.shuffle_key` of its texts), and how unsure the Datanet's scoring
    # reward model is of it (`rlhf.active.pair_uncertainty`; null: not scored, served as the most uncertain).
    shuffle_key = models.FloatField(default=0.0)
    uncertainty = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # One index per strategy's queue order, so that a request walks its index instead of sorting the queue.
        indexes = [
            models.Index(fields=["datanet", "judgment_count", "shuffle_key", "id"], name="comparison_queue_random"),
            # DESC is NULLS FIRST on PostgreSQL, the order the uncertainty queue reads (SQLite cannot say so in an
            # index, and sorts its smaller queues either way).
            models.Index(fields=["datanet", "judgment_count", "-uncertainty", "shuffle_key", "id"],
                         name="comparison_queue_uncertain"),
        ]

    @property
    def is_gold(self) -> bool:
        return bool(self.gold_choice)


class Assignment(models.Model):
    """A comparison served to one annotator: the lock, and the order it was shown in."""

    comparison = models.ForeignKey(Comparison, on_delete=models.PROTECT, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    shown_left = models.CharField(max_length=1, choices=Side.choices)
    served_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    # The strategy this request was served by (`rlhf.active.strategy_drawn`): under `uncertainty`, the judgments
    # of `random` assignments are the unbiased sample.
    strategy = models.CharField(max_length=20, default=active.RANDOM)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["comparison", "annotator"], name="assignment_once_per_annotator")
        ]
        indexes = [
            models.Index(fields=["comparison", "submitted_at", "expires_at"], name="assignment_live_locks"),
            models.Index(fields=["annotator", "submitted_at", "expires_at"], name="assignment_pending"),
        ]

    def is_live(self, now=None) -> bool:
        return self.submitted_at is None and self.expires_at > (now or timezone.now())

    @property
    def shown_right(self) -> str:
        return Side.B if self.shown_left == Side.A else Side.A


class Judgment(models.Model):
    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, related_name="judgments")
    comparison = models.ForeignKey(Comparison, on_delete=models.PROTECT, related_name="judgments")
    datanet = models.ForeignKey(Datanet, on_delete=models.PROTECT, related_name="judgments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judgments")
    choice = models.CharField(max_length=8, choices=Choice.choices)
    strength = models.PositiveSmallIntegerField(choices=Strength.choices)
    rationale = models.TextField(blank=True)
    edited_reply = models.TextField(blank=True)
    shown_left = models.CharField(max_length=1, choices=Side.choices)
    time_spent_ms = models.PositiveIntegerField()
    submitted_at = models.DateTimeField(default=timezone.now)
    revision_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="revised_by"
    )
    idempotency_key = models.CharField(max_length=64, unique=True, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["datanet", "comparison", "id"], name="judgment_export_order")]

    @property
    def choice_as_shown(self) -> str:
        """The choice as the annotator saw it: A is the response shown on the left."""
        if self.choice in (Side.A, Side.B):
            return "A" if self.choice == self.shown_left else "B"
        return self.choice

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("Judgments are append-only: submit a revision instead of editing.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Judgments are append-only and cannot be deleted.")


class Snapshot(models.Model):
    """An immutable dataset version: every judgment of the Datanet up to `cutoff_judgment_id`.

    Judgments are append-only, so the cutoff alone fixes the content; `content_hash` proves it.
    """

    datanet = models.ForeignKey(Datanet, on_delete=models.PROTECT, related_name="snapshots")
    cutoff_judgment_id = models.BigIntegerField()
    content_hash = models.CharField(max_length=64)
    counts = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("Snapshots are immutable: create a new one.")
        super().save(*args, **kwargs)
