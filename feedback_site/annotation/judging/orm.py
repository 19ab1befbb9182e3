"""The judging backend for SQLite (and any database without the judging functions): the ORM, several
statements per request. The PostgreSQL backend runs the same rules in one round trip (`postgres.py`);
the tests of judging/ run both."""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from feedback_site.accounts.authentication import token_user
from rlhf import active

from ..models import Assignment, Comparison, Datanet, Judgment
from . import outcomes, rules
from .rules import Draws, JudgmentFields


def comparisons_open(*, annotator, datanet: Datanet, now) -> QuerySet:
    """Who may be served what: the Datanet's comparisons still open to `annotator` at `now` (fewer than k
    judgments plus live locks, none assigned to them before). Twin: annotation_comparisons_open in SQL."""
    k = datanet.overlap
    return (
        Comparison.objects.filter(datanet=datanet, judgment_count__lt=k)
        .exclude(Exists(Assignment.objects.filter(comparison=OuterRef("pk"), annotator=annotator)))
        .annotate(live=_live_locks(now))
        .filter(judgment_count__lt=k - F("live"))
    )


def _live_locks(now):
    """Subquery: live (unsubmitted, unexpired) assignments of the outer comparison."""
    return Coalesce(
        Subquery(
            Assignment.objects.filter(comparison=OuterRef("pk"), submitted_at__isnull=True, expires_at__gt=now)
            .order_by()
            .values("comparison")
            .annotate(n=Count("pk"))
            .values("n")
        ),
        Value(0),
    )


def assignment_next(*, annotator, datanet: Datanet, now, resume: bool, draws: Draws) -> Assignment | None:
    if not datanet.members.filter(pk=annotator.pk).exists():
        outcomes.refuse_serving("not_member", live=0, datanet=lambda: datanet)
    # One query for both the resume and the pending cap: the annotator's live locks, oldest first.
    live = list(
        Assignment.objects.filter(annotator=annotator, submitted_at__isnull=True, expires_at__gt=now)
        .select_related("comparison")
        .order_by("served_at", "id")[: datanet.max_pending + 1]
    )
    if resume:
        held = next((a for a in live if a.comparison.datanet_id == datanet.id), None)
        if held is not None:
            return held
    if len(live) >= datanet.max_pending:
        outcomes.refuse_serving("too_many_pending", live=len(live), datanet=lambda: datanet)
    first = rules.gold_first(gold_rate=datanet.gold_rate, draw=draws.gold)
    strategy = active.strategy_drawn(datanet.assignment_strategy, random_share=datanet.random_share,
                                     draw=draws.strategy)
    for gold in (first, not first):
        assignment = _assign_one(annotator=annotator, datanet=datanet, now=now, gold=gold, shown_left=draws.shown_left,
                                 strategy=strategy)
        if assignment is not None:
            return assignment
    return None


def queue_order(strategy: str) -> tuple:
    """The order a request drawn as `strategy` is served in: least-judged first, then by shuffle key (random) or by
    uncertainty, not scored first (uncertainty). As `rlhf.active.next_pick`; twin: annotation_assign_next's two
    scans. Each order has its index (`Comparison.Meta.indexes`)."""
    if strategy == active.UNCERTAINTY:
        return ("judgment_count", F("uncertainty").desc(nulls_first=True), "shuffle_key", "id")
    return ("judgment_count", "shuffle_key", "id")


def _assign_one(*, annotator, datanet, now, gold: bool, shown_left: str, strategy: str) -> Assignment | None:
    open_here = comparisons_open(annotator=annotator, datanet=datanet, now=now)
    open_here = open_here.exclude(gold_choice="") if gold else open_here.filter(gold_choice="")
    for _attempt in range(8):
        with transaction.atomic():
            picked = list(
                open_here.order_by(*queue_order(strategy))
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", "judgment_count")[:1]
            )
            if not picked:
                return None
            # The row is locked now (and a locked row is read at its latest version). Re-count the live
            # locks under it: every writer of assignments for this comparison holds this lock first.
            comparison_id, judged = picked[0]
            live = Assignment.objects.filter(comparison_id=comparison_id, submitted_at__isnull=True, expires_at__gt=now).count()
            if judged + live >= datanet.overlap:
                continue
            try:
                with transaction.atomic():
                    return Assignment.objects.create(
                        comparison_id=comparison_id,
                        annotator=annotator,
                        shown_left=shown_left,
                        served_at=now,
                        expires_at=now + timedelta(minutes=datanet.lock_minutes),
                        strategy=strategy,
                    )
            except IntegrityError:
                continue  # the same annotator asked twice at once: the other request won
    return None


def judgment_submit(*, annotator, assignment_id: int, fields: JudgmentFields, now) -> Judgment:
    with transaction.atomic():
        # Locks the assignment and its comparison in one statement. No deadlock with assignment_next:
        # it holds only comparison locks and never waits for an existing assignment row.
        assignment = (
            Assignment.objects.select_for_update(of=("self", "comparison"))
            .select_related("comparison__datanet")
            .filter(pk=assignment_id, annotator=annotator)
            .first()
        )
        outcomes.refuse_submission(_submit_status(assignment, now), key=fields.idempotency_key)
        comparison = assignment.comparison
        try:
            with transaction.atomic():
                judgment = judgment_create(assignment=assignment, datanet_id=comparison.datanet_id, annotator=annotator,
                                           fields=fields, now=now)
        except IntegrityError:
            outcomes.refuse_submission("duplicate_key", key=fields.idempotency_key)
        Assignment.objects.filter(pk=assignment.pk).update(submitted_at=now)
        Comparison.objects.filter(pk=comparison.pk).update(judgment_count=F("judgment_count") + 1)
    return judgment


def judgment_create(*, assignment: Assignment, datanet_id: int, annotator, fields: JudgmentFields, now,
                    revision_of: Judgment | None = None) -> Judgment:
    """The judgment row, or a revision of one (`revision_of`): the choice stored in the comparison's terms."""
    return Judgment.objects.create(
        assignment=assignment,
        comparison_id=assignment.comparison_id,
        datanet_id=datanet_id,
        annotator=annotator,
        choice=rules.stored_choice(fields.choice, assignment.shown_left),
        strength=fields.strength,
        rationale=fields.rationale,
        edited_reply=fields.edited_reply,
        shown_left=assignment.shown_left,
        time_spent_ms=fields.time_spent_ms,
        submitted_at=now,
        revision_of=revision_of,
        idempotency_key=fields.idempotency_key,
    )


def _submit_status(assignment: Assignment | None, now) -> str:
    """The status annotation_submit answers for the same assignment (the order of the checks included)."""
    if assignment is None:
        return "not_assigned"
    if assignment.submitted_at is not None:
        return "already_submitted"
    if assignment.expires_at <= now:
        return "expired"
    if assignment.comparison.judgment_count >= assignment.comparison.datanet.overlap:
        return "full"
    return "ok"


def assignment_next_with_token(*, token: str, role: str, datanet_slug: str, now, resume: bool,
                               draws: Draws) -> Assignment | None:
    """The token, its role and the Datanet checked in that order, as annotation_token_assign_next does."""
    annotator = token_user(key=token, role=role)
    datanet = Datanet.objects.filter(slug=datanet_slug).first()
    if datanet is None:
        outcomes.refuse_serving("no_datanet", live=0, datanet=None)
    return assignment_next(annotator=annotator, datanet=datanet, now=now, resume=resume, draws=draws)


def judgment_submit_with_token(*, token: str, role: str, assignment_id: int, fields: JudgmentFields,
                               now) -> Judgment:
    return judgment_submit(annotator=token_user(key=token, role=role), assignment_id=assignment_id, fields=fields, now=now)


def token_refused(token: str, role: str) -> None:
    """Raises TokenRejected or RoleMissing where the token or its role is refused."""
    token_user(key=token, role=role)
