"""Reads for views and the API."""

from functools import cache

from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from feedback_site.accounts.roles import Role, user_has_role

from .models import Assignment, Comparison, Datanet, Judgment, Prompt, Response, Side


def datanets_visible_to(*, user):
    """ML engineers, governance members and admins see every Datanet; annotators their own."""
    if user_has_role(user, Role.ML_ENGINEER) or user_has_role(user, Role.GOVERNANCE):
        return Datanet.objects.all()
    return Datanet.objects.filter(members=user)


def datanet_can_view(*, user, datanet: Datanet) -> bool:
    return datanets_visible_to(user=user).filter(pk=datanet.pk).exists()


def datanet_by_slug(*, slug: str) -> Datanet | None:
    # Raw: every judging request looks its Datanet up, and the ORM's query building cost more than the lookup.
    return next(iter(Datanet.objects.raw(f"SELECT * FROM {Datanet._meta.db_table} WHERE slug = %s", [slug])), None)


def datanet_is_member(*, user, datanet: Datanet) -> bool:
    return datanet.members.filter(pk=user.pk).exists()


def datanet_engineer_view(*, datanet: Datanet) -> dict:
    """What an ML engineer sees of a Datanet besides the annotators' view: its progress, snapshots,
    latest imports (with the lines each left out) and members."""
    return {
        "progress": datanet_progress(datanet=datanet),
        "snapshots": list(datanet.snapshots.all()[:20]),
        "imports": list(datanet.imports.order_by("-id")[:10]),
        "members": list(datanet.members.order_by("username")),
    }


def snapshots_of(*, datanet: Datanet):
    return datanet.snapshots.all()


def user_by_username(*, username: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=username).first()


def judgments_of(*, annotator, limit: int = 100) -> list[Judgment]:
    """An annotator's own latest judgments, newest first."""
    return list(Judgment.objects.filter(annotator=annotator).select_related("datanet").order_by("-id")[:limit])


def datanet_progress(*, datanet: Datanet) -> dict:
    totals = Comparison.objects.filter(datanet=datanet).aggregate(
        comparisons=Count("id"),
        complete=Count("id", filter=Q(judgment_count__gte=datanet.overlap)),
    )
    judgments = Judgment.objects.filter(datanet=datanet, revision_of__isnull=True).count()
    needed = totals["comparisons"] * datanet.overlap
    return {
        **totals,
        "judgments": judgments,
        "judgments_needed": needed,
        "percent": round(100 * judgments / needed) if needed else 0,
        "annotators": datanet.members.count(),
    }


def annotator_progress(*, annotator, datanet: Datanet) -> dict:
    done = Judgment.objects.filter(datanet=datanet, annotator=annotator, revision_of__isnull=True).count()
    available = (
        Comparison.objects.filter(datanet=datanet, judgment_count__lt=datanet.overlap)
        .exclude(assignments__annotator=annotator)
        .count()
    )
    return {"done": done, "available": available}


def judgment_latest_for(*, annotator, datanet: Datanet) -> Judgment | None:
    """The head (latest revision) of the annotator's most recent judgment in the Datanet."""
    last = (
        Judgment.objects.filter(datanet=datanet, annotator=annotator, revision_of__isnull=True)
        .order_by("-id")
        .first()
    )
    if last is None:
        return None
    head = last
    while True:
        following = Judgment.objects.filter(revision_of=head).first()
        if following is None:
            return head
        head = following


def judgment_history(*, judgment: Judgment) -> list[Judgment]:
    chain = [judgment]
    while chain[-1].revision_of_id:
        chain.append(Judgment.objects.get(pk=chain[-1].revision_of_id))
    return list(reversed(chain))


def assignment_for_display(*, assignment: Assignment) -> dict:
    """What the judging page shows: left/right in the order recorded on the assignment."""
    # On PostgreSQL the texts come back with the assignment itself. Otherwise plain SQL: this runs on every
    # "next comparison", and building the three-join ORM query cost more CPU than the database spent
    # answering it (benchmarks/bench_load.py).
    texts = getattr(assignment, "texts_shown", None)
    if texts is None:
        with connection.cursor() as cursor:
            cursor.execute(_display_sql(), [assignment.comparison_id])
            texts = cursor.fetchone()
    prompt, text_a, text_b = texts
    by_side: dict[str, str] = {Side.A: text_a, Side.B: text_b}
    return {
        "assignment": assignment,
        "prompt": prompt,
        "left": by_side[assignment.shown_left],
        "right": by_side[assignment.shown_right],
        "expires_in_s": max(0, int((assignment.expires_at - timezone.now()).total_seconds())),
    }


@cache
def _display_sql() -> str:
    comparisons, prompts, responses = (model._meta.db_table for model in (Comparison, Prompt, Response))
    return (
        f"SELECT p.text, ra.text, rb.text FROM {comparisons} c"
        f" JOIN {prompts} p ON p.id = c.prompt_id"
        f" JOIN {responses} ra ON ra.id = c.response_a_id"
        f" JOIN {responses} rb ON rb.id = c.response_b_id"
        f" WHERE c.id = %s"
    )
