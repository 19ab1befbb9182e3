"""The judging backend for PostgreSQL: each request is one call of a function of `sql/` (its newest version),
which does the reads, the locks and the writes in one round trip (most of what a judgment cost under load
was round trips, benchmarks/bench_load.py). What is not about rows stays in Python: validating the input,
drawing, turning a status into its error."""

import logging
import time

from django.db import connection

from feedback_site.accounts.authentication import refuse_token

from ..models import Assignment, Datanet, Judgment, Side
from . import outcomes, rules
from .rules import Draws, JudgmentFields

logger = logging.getLogger(__name__)

# How often, and after what pause, to ask again when every open comparison is locked by another request.
BUSY_RETRIES = 25
BUSY_PAUSE_SECONDS = 0.002


def assignment_next(*, annotator, datanet: Datanet, now, resume: bool, draws: Draws) -> Assignment | None:
    row = _busy_retried(
        "SELECT * FROM annotation_assign_next(%s::integer, %s::bigint, %s::timestamptz, %s, %s::double precision,"
        " %s::varchar, %s::double precision)",
        [annotator.pk, datanet.pk, now, resume, draws.gold, draws.shown_left, draws.strategy], who=annotator.pk,
        where=datanet.pk)
    return _served(row, annotator_id=annotator.pk, annotator=annotator, datanet=lambda: datanet)


def assignment_next_with_token(*, token: str, role: str, datanet_slug: str, now, resume: bool,
                               draws: Draws) -> Assignment | None:
    row = _busy_retried(
        "SELECT * FROM annotation_token_assign_next(%s::varchar, %s::varchar, %s::varchar, %s::timestamptz, %s,"
        " %s::double precision, %s::varchar, %s::double precision)",
        [token, role, datanet_slug, now, resume, draws.gold, draws.shown_left, draws.strategy],
        who="a token", where=datanet_slug, status_at=3)
    auth, user_id, datanet_id = row[:3]
    refuse_token(auth, role)
    outcomes.refuse_serving(auth, live=0, datanet=None)
    return _served(row[3:], annotator_id=user_id, annotator=None, datanet=lambda: Datanet.objects.get(pk=datanet_id))


def token_refused(token: str, role: str) -> None:
    """Raises TokenRejected or RoleMissing where the token or its role is refused: one extra round trip,
    paid only by a request that is refused for its body (`judging.token_checked_before`)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth FROM annotation_token_user(%s::varchar, %s::varchar)", [token, role])
        refuse_token(cursor.fetchone()[0], role)


def _busy_retried(sql: str, params: list, *, who, where, status_at: int = 0) -> tuple:
    """Runs an assignment function, asking again while it answers busy (every open comparison is locked by
    a request in flight, for milliseconds). Returns its row; still busy after the retries reads as nothing left."""
    with connection.cursor() as cursor:
        for attempt in range(1, BUSY_RETRIES + 1):
            cursor.execute(sql, params)
            row = cursor.fetchone()
            if row[status_at] != "busy":
                return row
            time.sleep(BUSY_PAUSE_SECONDS * attempt)
    logger.warning("assignment for %s in Datanet %s: every open comparison stayed locked", who, where)
    return row


def _served(row, *, annotator_id, annotator, datanet) -> Assignment | None:
    """The Assignment an assignment function's row describes, or the error it reports (`datanet()` gives the
    Datanet for the messages; None: nothing left, or still busy)."""
    status, live, assignment_id, comparison_id, left_side, served_at, expires_at, strategy, *texts = row
    outcomes.refuse_serving(status, live=live, datanet=datanet)
    if status in ("none", "busy"):
        return None
    assignment = Assignment(id=assignment_id, comparison_id=comparison_id, annotator_id=annotator_id,
                            shown_left=left_side, served_at=served_at, expires_at=expires_at, submitted_at=None,
                            strategy=strategy)
    if annotator is not None:
        assignment.annotator = annotator
    assignment._state.adding, assignment._state.db = False, connection.alias
    assignment.texts_shown = tuple(texts)  # (prompt, response a, response b): the display needs no query
    return assignment


def judgment_submit(*, annotator, assignment_id: int, fields: JudgmentFields, now) -> Judgment:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM annotation_submit(%s::bigint, %s::integer, %s::varchar, %s::varchar, %s::integer, %s::text,"
            " %s::text, %s::integer, %s::timestamptz, %s::varchar)",
            [assignment_id, annotator.pk, *_submit_arguments(fields, now)],
        )
        row = cursor.fetchone()
    judgment = _recorded(row, annotator_id=annotator.pk, assignment_id=assignment_id, fields=fields, now=now)
    judgment.annotator = annotator
    return judgment


def judgment_submit_with_token(*, token: str, role: str, assignment_id: int, fields: JudgmentFields,
                               now) -> Judgment:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM annotation_token_submit(%s::varchar, %s::varchar, %s::bigint, %s::varchar, %s::varchar,"
            " %s::integer, %s::text, %s::text, %s::integer, %s::timestamptz, %s::varchar)",
            [token, role, assignment_id, *_submit_arguments(fields, now)],
        )
        auth, user_id, *row = cursor.fetchone()
    refuse_token(auth, role)
    return _recorded(row, annotator_id=user_id, assignment_id=assignment_id, fields=fields, now=now)


def _submit_arguments(fields: JudgmentFields, now) -> list:
    """The arguments annotation_submit and annotation_token_submit both end with: the choice to store if
    response a or b was shown on the left, then the judgment's fields."""
    return [rules.stored_choice(fields.choice, Side.A), rules.stored_choice(fields.choice, Side.B), fields.strength,
            fields.rationale, fields.edited_reply, fields.time_spent_ms, now, fields.idempotency_key]


def _recorded(row, *, annotator_id, assignment_id, fields: JudgmentFields, now) -> Judgment:
    """The Judgment a submit function's row describes, or the error it reports."""
    status, judgment_id, comparison_id, datanet_id, stored_choice, shown_left = row
    outcomes.refuse_submission(status, key=fields.idempotency_key)
    judgment = Judgment(
        id=judgment_id, assignment_id=assignment_id, comparison_id=comparison_id, datanet_id=datanet_id,
        annotator_id=annotator_id, choice=stored_choice, strength=fields.strength, rationale=fields.rationale,
        edited_reply=fields.edited_reply, shown_left=shown_left, time_spent_ms=fields.time_spent_ms,
        submitted_at=now, revision_of=None, idempotency_key=fields.idempotency_key,
    )
    judgment._state.adding, judgment._state.db = False, connection.alias
    return judgment
