"""Writes: Datanets, imports, assignment, judgments, snapshots.

Every service is keyword-only and atomic: it either does all of its work or raises a
`ServiceError` and leaves the database as it was.
"""

import logging
import random
import time
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify

from feedback_site.accounts.services import contributor_for

from . import errors
from .importing import ImportProblem, ParseResult, parse_jsonl
from .models import (
    Assignment,
    Choice,
    Comparison,
    Datanet,
    ImportBatch,
    Judgment,
    Prompt,
    Response,
    Side,
    Snapshot,
    Strength,
)

logger = logging.getLogger(__name__)

MAX_RATIONALE_CHARS = 10_000
MAX_EDITED_REPLY_CHARS = 50_000
# A client-measured time above this is a tab left open, not work: store the cap, not the outlier.
MAX_TIME_SPENT_MS = 6 * 3600 * 1000


def datanet_create(
    *,
    name: str,
    domain: str = "",
    guidelines: str = "",
    overlap: int = 3,
    gold_rate: float = 0.0,
    max_pending: int = 5,
    lock_minutes: int = 10,
    created_by=None,
) -> Datanet:
    name = (name or "").strip()
    if not name:
        raise errors.InvalidInput("name: a Datanet needs a name")
    slug = slugify(name)
    if not slug:
        raise errors.InvalidInput("name: must contain at least one letter or digit")
    if not 1 <= int(overlap) <= 50:
        raise errors.InvalidInput("overlap: must be between 1 and 50 annotators per comparison")
    if not 0.0 <= float(gold_rate) <= 1.0:
        raise errors.InvalidInput("gold_rate: must be between 0 and 1")
    if int(max_pending) < 1 or int(lock_minutes) < 1:
        raise errors.InvalidInput("max_pending and lock_minutes must be at least 1")
    if Datanet.objects.filter(Q(name=name) | Q(slug=slug)).exists():
        raise errors.InvalidInput(f"name: a Datanet named {name!r} already exists")
    return Datanet.objects.create(
        name=name,
        slug=slug,
        domain=domain.strip(),
        guidelines=guidelines,
        overlap=overlap,
        gold_rate=gold_rate,
        max_pending=max_pending,
        lock_minutes=lock_minutes,
        created_by=created_by,
    )


def datanet_member_add(*, datanet: Datanet, user) -> None:
    contributor_for(user=user)
    datanet.members.add(user)


def datanet_import(
    *, datanet: Datanet, stream, filename: str = "", origin: str, created_by=None, skip_invalid: bool = False
) -> ImportBatch:
    """Imports a JSONL stream (binary lines) into the Datanet, all or nothing.

    Raises `ImportRejected` listing every problem (line, field) and then nothing is stored. With
    `skip_invalid`, a line with a problem is left out instead and its problems are kept on the batch
    (`ImportBatch.skipped`); a problem of the whole file (too large, no valid line) still refuses it.
    """
    parsed = parse_jsonl(
        stream, max_line_bytes=settings.IMPORT_MAX_LINE_BYTES, max_bytes=settings.IMPORT_MAX_UPLOAD_BYTES
    )
    return _store_import(
        datanet=datanet, parsed=parsed, filename=filename, origin=origin, created_by=created_by,
        skip_invalid=skip_invalid,
    )


def _store_import(*, datanet, parsed: ParseResult, filename, origin, created_by, skip_invalid: bool) -> ImportBatch:
    problems = list(parsed.problems)
    ids = [p.external_id for p in parsed.prompts]
    existing = set()
    for start in range(0, len(ids), 5000):
        existing.update(
            Prompt.objects.filter(datanet=datanet, external_id__in=ids[start : start + 5000]).values_list(
                "external_id", flat=True
            )
        )
    for p in parsed.prompts:
        if p.external_id in existing:
            problems.append(
                ImportProblem(p.line, "id", f"prompt id {p.external_id!r} already exists in Datanet {datanet.name!r}")
            )
    problems.sort(key=lambda p: p.line)
    bad_lines = {p.line for p in problems}
    accepted = [p for p in parsed.prompts if p.line not in bad_lines]
    if problems and (not skip_invalid or 0 in bad_lines):
        raise errors.ImportRejected(problems, filename)
    if not accepted:
        raise errors.ImportRejected(
            [*problems, ImportProblem(0, "", "no valid line is left to import once the invalid ones are skipped")],
            filename,
        )
    parsed = ParseResult(prompts=accepted, problems=[], sha256=parsed.sha256)
    skipped = [p.as_dict() for p in problems]

    with transaction.atomic():
        batch = ImportBatch.objects.create(
            datanet=datanet, origin=origin, filename=filename[:255], sha256=parsed.sha256, created_by=created_by,
            skipped=skipped,
        )
        prompts = Prompt.objects.bulk_create(
            [Prompt(datanet=datanet, external_id=p.external_id, text=p.text, import_batch=batch) for p in parsed.prompts],
            batch_size=2000,
        )
        responses = Response.objects.bulk_create(
            [
                Response(prompt=row, text=r.text, source_model=r.source_model, position=i)
                for row, p in zip(prompts, parsed.prompts, strict=True)
                for i, r in enumerate(p.responses)
            ],
            batch_size=2000,
        )
        comparisons = []
        cursor = 0
        for row, p in zip(prompts, parsed.prompts, strict=True):
            stored = responses[cursor : cursor + len(p.responses)]
            cursor += len(p.responses)
            for i, j, reference, gold in p.pairs:
                comparisons.append(
                    Comparison(
                        datanet=datanet,
                        prompt=row,
                        response_a=stored[i],
                        response_b=stored[j],
                        reference_choice=reference,
                        gold_choice=gold,
                    )
                )
        Comparison.objects.bulk_create(comparisons, batch_size=2000)
        batch.prompts_created = len(prompts)
        batch.comparisons_created = len(comparisons)
        batch.save(update_fields=["prompts_created", "comparisons_created"])
    if connection.vendor == "postgresql" and len(comparisons) >= 1000:
        # A bulk load leaves the planner's statistics stale until autovacuum comes by; with them, the
        # assignment query sorts the whole queue (~100 ms) instead of walking its index (~0.1 ms).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE annotation_comparison, annotation_prompt, annotation_response")
    return batch


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


def assignment_next(
    *, annotator, datanet: Datanet, now=None, resume: bool = True, rng: random.Random | None = None
) -> Assignment | None:
    """Serves the annotator a comparison to judge, locked for them, or None when nothing is left for them.

    With `resume`, a live assignment the annotator already holds in this Datanet is served again
    (a reload shows the same comparison). Least-judged comparisons first; gold items at the
    Datanet's gold rate. Never the same comparison twice to one person, and never more than k
    judgments plus live locks per comparison, however many annotators ask at once: the chosen
    comparison row is locked (SKIP LOCKED on PostgreSQL; SQLite serialises writers) and the count
    is checked again under that lock before the assignment is written. `rng` draws the side shown on
    the left and the gold mixing (a seeded one makes a simulation reproducible).
    """
    rng = rng or random
    now = now or timezone.now()
    want_gold = datanet.gold_rate > 0 and rng.random() < datanet.gold_rate
    if connection.vendor == "postgresql":
        return _assignment_next_postgres(annotator=annotator, datanet=datanet, now=now, resume=resume,
                                         gold_first=want_gold, shown_left=rng.choice((Side.A, Side.B)))
    if not datanet.members.filter(pk=annotator.pk).exists():
        raise errors.NotMember(_not_member_message(datanet))
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
        raise errors.TooManyPending(_too_many_pending_message(len(live), datanet))
    for gold_pass in ([True, False] if want_gold else [False, True]):
        assignment = _assign_one(annotator=annotator, datanet=datanet, now=now, gold=gold_pass, rng=rng)
        if assignment is not None:
            return assignment
    return None


def _not_member_message(datanet) -> str:
    return f"You are not a member of Datanet {datanet.name!r}."


def _too_many_pending_message(live: int, datanet) -> str:
    return (
        f"You hold {live} unfinished comparisons (the limit is {datanet.max_pending}): "
        "submit or wait for them to expire."
    )


# How often, and after what pause, to ask again when every open comparison is locked by another request.
BUSY_RETRIES = 25
BUSY_PAUSE_SECONDS = 0.002


def _assignment_next_postgres(*, annotator, datanet, now, resume, gold_first, shown_left) -> Assignment | None:
    """The same rules in one round trip: `annotation_assign_next` (migration 0003) does the reads and the lock."""
    row = _busy_retried(
        "SELECT * FROM annotation_assign_next(%s::integer, %s::bigint, %s::timestamptz, %s, %s, %s::varchar)",
        [annotator.pk, datanet.pk, now, resume, gold_first, shown_left], who=annotator.pk, where=datanet.pk)
    return _served(row, annotator_id=annotator.pk, annotator=annotator, datanet=lambda: datanet)


def assignment_next_with_token(*, token: str, role: str, datanet_slug: str, now=None, resume: bool = True,
                               rng: random.Random | None = None) -> Assignment | None:
    """`assignment_next` for an API token, on PostgreSQL: the token, the role it needs and the Datanet are
    checked in the same round trip as the assignment (`annotation_token_assign_next`, migration 0004).

    Raises TokenRejected (no such token, or its user is inactive), RoleMissing, NotFound (no such Datanet),
    then what `assignment_next` raises."""
    rng = rng or random
    now = now or timezone.now()
    row = _busy_retried(
        "SELECT * FROM annotation_token_assign_next(%s::varchar, %s::varchar, %s::varchar, %s::timestamptz, %s,"
        " %s::double precision, %s::varchar)",
        [token, role, datanet_slug, now, resume, rng.random(), rng.choice((Side.A, Side.B))],
        who="a token", where=datanet_slug, status_at=3)
    auth, user_id, datanet_id = row[:3]
    _refuse_token(auth, role)
    if auth == "no_datanet":
        raise errors.NotFound("No Datanet matches the given query.")
    return _served(row[3:], annotator_id=user_id, annotator=None, datanet=lambda: Datanet.objects.get(pk=datanet_id))


@contextmanager
def token_checked_before(*refusals: type[Exception], token: str, role: str):
    """Lets one of `refusals` (a malformed request) through only once the token and its role have passed, so that
    a bad token answers 401 and a missing role 403 before anything about the body, as where REST framework checks
    the token first. Only a refused request pays for the extra round trip (`annotation_token_user`, migration 0004)."""
    try:
        yield
    except refusals:
        with connection.cursor() as cursor:
            cursor.execute("SELECT auth FROM annotation_token_user(%s::varchar, %s::varchar)", [token, role])
            _refuse_token(cursor.fetchone()[0], role)
        raise


def _refuse_token(auth: str, role: str) -> None:
    if auth == "bad_token":
        raise errors.TokenRejected("Invalid token.")
    if auth == "inactive":
        raise errors.TokenRejected("User inactive or deleted.")
    if auth == "forbidden":
        raise errors.RoleMissing(f"This endpoint needs the role: {role}.")


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
    status, live, assignment_id, comparison_id, left_side, served_at, expires_at, *texts = row
    if status == "not_member":
        raise errors.NotMember(_not_member_message(datanet()))
    if status == "too_many_pending":
        raise errors.TooManyPending(_too_many_pending_message(live, datanet()))
    if status in ("none", "busy"):
        return None
    assignment = Assignment(id=assignment_id, comparison_id=comparison_id, annotator_id=annotator_id,
                            shown_left=left_side, served_at=served_at, expires_at=expires_at, submitted_at=None)
    if annotator is not None:
        assignment.annotator = annotator
    assignment._state.adding, assignment._state.db = False, connection.alias
    assignment.texts_shown = tuple(texts)  # (prompt, response a, response b): the display needs no query
    return assignment


def _assign_one(*, annotator, datanet, now, gold: bool, rng) -> Assignment | None:
    k = datanet.overlap
    for _attempt in range(8):
        with transaction.atomic():
            candidates = (
                Comparison.objects.filter(datanet=datanet, judgment_count__lt=k)
                .filter(~Q(gold_choice="") if gold else Q(gold_choice=""))
                .exclude(_assigned_to(annotator))
                .annotate(live=_live_locks(now))
                .filter(judgment_count__lt=k - F("live"))
                .order_by("judgment_count", "id")
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", "judgment_count")[:1]
            )
            picked = list(candidates)
            if not picked:
                return None
            # The row is locked now (and a locked row is read at its latest version). Re-count the live
            # locks under it: every writer of assignments for this comparison holds this lock first.
            comparison_id, judged = picked[0]
            live = Assignment.objects.filter(comparison_id=comparison_id, submitted_at__isnull=True, expires_at__gt=now).count()
            if judged + live >= k:
                continue
            try:
                with transaction.atomic():
                    return Assignment.objects.create(
                        comparison_id=comparison_id,
                        annotator=annotator,
                        shown_left=rng.choice((Side.A, Side.B)),
                        served_at=now,
                        expires_at=now + timedelta(minutes=datanet.lock_minutes),
                    )
            except IntegrityError:
                continue  # the same annotator asked twice at once: the other request won
    return None


def _assigned_to(annotator):
    return Exists(Assignment.objects.filter(comparison=OuterRef("pk"), annotator=annotator))


CHOICE_SHOWN = {"A", "B", "tie", "both_bad"}


def _validated_judgment_fields(*, choice_shown, strength, rationale, edited_reply, time_spent_ms):
    if choice_shown not in CHOICE_SHOWN:
        raise errors.InvalidInput(f"choice: must be one of A, B, tie, both_bad (got {choice_shown!r})")
    try:
        strength = int(strength)
    except (TypeError, ValueError):
        strength = 0
    if strength not in Strength.values:
        raise errors.InvalidInput("strength: must be 1 (slightly), 2 (clearly) or 3 (much)")
    rationale = (rationale or "").strip()
    edited_reply = (edited_reply or "").strip()
    if len(rationale) > MAX_RATIONALE_CHARS:
        raise errors.InvalidInput(f"rationale: longer than {MAX_RATIONALE_CHARS} characters")
    if len(edited_reply) > MAX_EDITED_REPLY_CHARS:
        raise errors.InvalidInput(f"edited_reply: longer than {MAX_EDITED_REPLY_CHARS} characters")
    try:
        time_spent_ms = int(time_spent_ms)
    except (TypeError, ValueError):
        raise errors.InvalidInput("time_spent_ms: must be a whole number of milliseconds") from None
    if time_spent_ms < 0:
        raise errors.InvalidInput("time_spent_ms: must not be negative")
    return strength, rationale, edited_reply, min(time_spent_ms, MAX_TIME_SPENT_MS)


def _canonical_choice(choice_shown: str, shown_left: str) -> str:
    """The UI labels the left response A and the right one B; storage names the comparison's own a/b."""
    if choice_shown == "A":
        return shown_left
    if choice_shown == "B":
        return Side.B if shown_left == Side.A else Side.A
    return Choice.TIE if choice_shown == "tie" else Choice.BOTH_BAD


def _check_idempotency_key(key: str | None) -> str | None:
    if key is None or key == "":
        return None
    if len(key) > 64:
        raise errors.InvalidInput("idempotency_key: at most 64 characters")
    return key


def _refuse_resubmission(key: str | None) -> None:
    if key and Judgment.objects.filter(idempotency_key=key).exists():
        raise errors.DuplicateSubmission("This judgment was already submitted (same idempotency key): nothing changed.")
    raise errors.AlreadySubmitted("You already judged this comparison; revise your judgment instead.")


def judgment_submit(
    *,
    annotator,
    assignment_id: int,
    choice: str,
    strength,
    time_spent_ms,
    rationale: str = "",
    edited_reply: str = "",
    idempotency_key: str | None = None,
    now=None,
) -> Judgment:
    """Records the annotator's judgment on a comparison served to them. `choice` is as shown: A (left), B (right), tie, both_bad."""
    strength, rationale, edited_reply, time_spent_ms = _validated_judgment_fields(
        choice_shown=choice, strength=strength, rationale=rationale, edited_reply=edited_reply, time_spent_ms=time_spent_ms
    )
    now = now or timezone.now()
    key = _check_idempotency_key(idempotency_key)
    if connection.vendor == "postgresql":
        judgment = _judgment_submit_postgres(
            annotator=annotator, assignment_id=assignment_id, choice=choice, strength=strength, rationale=rationale,
            edited_reply=edited_reply, time_spent_ms=time_spent_ms, now=now, key=key)
        _judgments_changed(judgment.datanet_id)
        return judgment
    with transaction.atomic():
        # Locks the assignment and its comparison in one statement. No deadlock with assignment_next:
        # it holds only comparison locks and never waits for an existing assignment row.
        assignment = (
            Assignment.objects.select_for_update(of=("self", "comparison"))
            .select_related("comparison__datanet")
            .filter(pk=assignment_id, annotator=annotator)
            .first()
        )
        if assignment is None:
            raise errors.NotAssigned(NOT_ASSIGNED_MESSAGE)
        comparison = assignment.comparison
        if assignment.submitted_at is not None:
            _refuse_resubmission(key)
        if assignment.expires_at <= now:
            raise errors.LockExpired(LOCK_EXPIRED_MESSAGE)
        if comparison.judgment_count >= comparison.datanet.overlap:
            raise errors.ComparisonFull(COMPARISON_FULL_MESSAGE)
        try:
            with transaction.atomic():
                judgment = Judgment.objects.create(
                    assignment=assignment,
                    comparison=comparison,
                    datanet_id=comparison.datanet_id,
                    annotator=annotator,
                    choice=_canonical_choice(choice, assignment.shown_left),
                    strength=strength,
                    rationale=rationale,
                    edited_reply=edited_reply,
                    shown_left=assignment.shown_left,
                    time_spent_ms=time_spent_ms,
                    submitted_at=now,
                    idempotency_key=key,
                )
        except IntegrityError:
            raise errors.DuplicateSubmission(DUPLICATE_KEY_MESSAGE) from None
        Assignment.objects.filter(pk=assignment.pk).update(submitted_at=now)
        Comparison.objects.filter(pk=comparison.pk).update(judgment_count=F("judgment_count") + 1)
        _judgments_changed(comparison.datanet_id)
    return judgment


NOT_ASSIGNED_MESSAGE = "This comparison is not assigned to you."
LOCK_EXPIRED_MESSAGE = (
    "Your lock on this comparison expired, so it may have gone to someone else; nothing was saved. Load the next one."
)
COMPARISON_FULL_MESSAGE = "This comparison already has all its judgments."
DUPLICATE_KEY_MESSAGE = "This judgment was already submitted (same idempotency key)."


def _judgment_submit_postgres(*, annotator, assignment_id, choice, strength, rationale, edited_reply, time_spent_ms,
                              now, key) -> Judgment:
    """The same checks and writes in one round trip: `annotation_submit` (migration 0003)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM annotation_submit(%s::bigint, %s::integer, %s::varchar, %s::varchar, %s::integer, %s::text,"
            " %s::text, %s::integer, %s::timestamptz, %s::varchar)",
            [assignment_id, annotator.pk,
             *_submit_arguments(choice, strength, rationale, edited_reply, time_spent_ms, now, key)],
        )
        row = cursor.fetchone()
    judgment = _recorded(row, annotator_id=annotator.pk, assignment_id=assignment_id, strength=strength,
                         rationale=rationale, edited_reply=edited_reply, time_spent_ms=time_spent_ms, now=now, key=key)
    judgment.annotator = annotator
    return judgment


def judgment_submit_with_token(*, token: str, role: str, assignment_id: int, choice: str, strength, time_spent_ms,
                               rationale: str = "", edited_reply: str = "", idempotency_key: str | None = None,
                               now=None) -> Judgment:
    """`judgment_submit` for an API token, on PostgreSQL: the token and its role are checked in the same round
    trip as the judgment is recorded (`annotation_token_submit`, migration 0004). Raises TokenRejected or
    RoleMissing, then what `judgment_submit` raises."""
    with token_checked_before(errors.InvalidInput, token=token, role=role):
        strength, rationale, edited_reply, time_spent_ms = _validated_judgment_fields(
            choice_shown=choice, strength=strength, rationale=rationale, edited_reply=edited_reply,
            time_spent_ms=time_spent_ms)
        key = _check_idempotency_key(idempotency_key)
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM annotation_token_submit(%s::varchar, %s::varchar, %s::bigint, %s::varchar, %s::varchar,"
            " %s::integer, %s::text, %s::text, %s::integer, %s::timestamptz, %s::varchar)",
            [token, role, assignment_id,
             *_submit_arguments(choice, strength, rationale, edited_reply, time_spent_ms, now, key)],
        )
        auth, user_id, *row = cursor.fetchone()
    _refuse_token(auth, role)
    judgment = _recorded(row, annotator_id=user_id, assignment_id=assignment_id, strength=strength,
                         rationale=rationale, edited_reply=edited_reply, time_spent_ms=time_spent_ms, now=now, key=key)
    _judgments_changed(judgment.datanet_id)
    return judgment


def _submit_arguments(choice, strength, rationale, edited_reply, time_spent_ms, now, key) -> list:
    """The arguments `annotation_submit` and `annotation_token_submit` both end with: the choice to store if
    response a or b was shown on the left, then the judgment's fields."""
    return [_canonical_choice(choice, Side.A), _canonical_choice(choice, Side.B), strength, rationale, edited_reply,
            time_spent_ms, now, key]


def _recorded(row, *, annotator_id, assignment_id, strength, rationale, edited_reply, time_spent_ms, now,
              key) -> Judgment:
    """The Judgment a submit function's row describes, or the error it reports."""
    status, judgment_id, comparison_id, datanet_id, stored_choice, shown_left = row
    if status == "not_assigned":
        raise errors.NotAssigned(NOT_ASSIGNED_MESSAGE)
    if status == "already_submitted":
        _refuse_resubmission(key)
    if status == "expired":
        raise errors.LockExpired(LOCK_EXPIRED_MESSAGE)
    if status == "full":
        raise errors.ComparisonFull(COMPARISON_FULL_MESSAGE)
    if status == "duplicate_key":
        raise errors.DuplicateSubmission(DUPLICATE_KEY_MESSAGE)
    judgment = Judgment(
        id=judgment_id, assignment_id=assignment_id, comparison_id=comparison_id, datanet_id=datanet_id,
        annotator_id=annotator_id, choice=stored_choice, strength=strength, rationale=rationale,
        edited_reply=edited_reply, shown_left=shown_left, time_spent_ms=time_spent_ms, submitted_at=now,
        revision_of=None, idempotency_key=key,
    )
    judgment._state.adding, judgment._state.db = False, connection.alias
    return judgment


def judgment_revise(
    *,
    annotator,
    judgment_id: int,
    choice: str,
    strength,
    time_spent_ms,
    rationale: str = "",
    edited_reply: str = "",
    idempotency_key: str | None = None,
    now=None,
) -> Judgment:
    """Adds a revision of one of the annotator's own judgments: a new row, the old one kept as history."""
    strength, rationale, edited_reply, time_spent_ms = _validated_judgment_fields(
        choice_shown=choice, strength=strength, rationale=rationale, edited_reply=edited_reply, time_spent_ms=time_spent_ms
    )
    now = now or timezone.now()
    with transaction.atomic():
        previous = (
            Judgment.objects.select_for_update().filter(pk=judgment_id, annotator=annotator).select_related("assignment").first()
        )
        if previous is None:
            raise errors.NotAssigned("You can only revise your own judgments.")
        key = _check_idempotency_key(idempotency_key)
        if key and Judgment.objects.filter(idempotency_key=key).exists():
            raise errors.DuplicateSubmission("This revision was already submitted (same idempotency key).")
        if Judgment.objects.filter(revision_of=previous).exists():
            raise errors.AlreadySubmitted("This judgment was already revised: revise its latest revision.")
        _judgments_changed(previous.datanet_id)
        try:
            with transaction.atomic():
                return Judgment.objects.create(
                    assignment=previous.assignment,
                    comparison_id=previous.comparison_id,
                    datanet_id=previous.datanet_id,
                    annotator=annotator,
                    choice=_canonical_choice(choice, previous.shown_left),
                    strength=strength,
                    rationale=rationale,
                    edited_reply=edited_reply,
                    shown_left=previous.shown_left,
                    time_spent_ms=time_spent_ms,
                    submitted_at=now,
                    revision_of=previous,
                    idempotency_key=key,
                )
        except IntegrityError:
            raise errors.DuplicateSubmission("This revision was already submitted.") from None


def _judgments_changed(datanet_id: int) -> None:
    # Quality figures are recomputed by a debounced Celery task, never in the request.
    from feedback_site.quality.services import quality_recompute_request

    quality_recompute_request(datanet_id=datanet_id)


def snapshot_create(*, datanet: Datanet, created_by=None, note: str = "", aggregation: str = "majority") -> Snapshot:
    """Freezes every judgment of the Datanet so far into an immutable, content-hashed snapshot.

    Annotators excluded from the Datanet at this moment are left out, and the exclusions (who, why,
    since when) and the aggregation of the preference export are recorded in its metadata.
    """
    from feedback_site.quality.services import exclusions_active

    from .exports import AGGREGATIONS, snapshot_digest

    if aggregation not in AGGREGATIONS:
        raise errors.InvalidInput(f"aggregation: must be one of {', '.join(AGGREGATIONS)}")
    exclusions = exclusions_active(datanet_id=datanet.id)
    cutoff = Judgment.objects.filter(datanet=datanet).order_by("-id").values_list("id", flat=True).first()
    if cutoff is None:
        raise errors.SnapshotEmpty(f"Datanet {datanet.name!r} has no judgments yet: nothing to snapshot.")
    digest = snapshot_digest(
        datanet=datanet, cutoff_judgment_id=cutoff, excluded=[e["contributor"] for e in exclusions], aggregation=aggregation
    )
    return Snapshot.objects.create(
        datanet=datanet,
        cutoff_judgment_id=cutoff,
        content_hash=digest.content_hash,
        counts=digest.counts,
        metadata={**digest.metadata, "exclusions": exclusions, "note": note},
        created_by=created_by,
    )
