"""The judging hot path: serving an annotator a comparison and recording their judgment, behind one
interface with a backend per database.

The interface (re-exported by `annotation.services`, which views, the API and the simulation call):
`assignment_next`, `judgment_submit`, and for an API token not checked yet (an `UncheckedToken`, see
`accounts.authentication`) `assignment_next_with_token`, `judgment_submit_with_token` and
`token_checked_before`. Every one of them validates its input and draws its chance here, once, then hands
the rows to the backend of the connection's database:

- `orm.py`: SQLite (the embedded default), and any database without the judging functions;
- `postgres.py`: one call of a PL/pgSQL function per request, token check included (speed under load).

Where each rule lives:

- what a judgment may say, the draws, the gold decision, how a choice is stored: `rules.py`;
- what each refusal answers: `outcomes.py`, read by both backends, which name their outcomes alike;
- who may be served what: `orm.comparisons_open`, and its SQL twin `annotation_comparisons_open`;
- in what order (the Datanet's assignment strategy): `rlhf.active`, read by `rules`, `orm.queue_order` and its SQL
  twins `annotation_strategy_drawn` and the scans of `annotation_assign_next`;
- who may use a token for a role: `accounts.authentication.token_outcome`, SQL twin `annotation_token_user`.

A rule that PostgreSQL runs in SQL for speed has a Python twin that SQLite runs; each pair names the other
and the tests of judging/ run against both databases (tests marked `postgres` when DATABASE_URL is set).

The SQL lives in versioned files that migrations load, one file per function and version
(`sql/v1/assign_next.sql`); a version directory holds only the functions it changed (`sql.VERSIONS`), and
what a migrated database holds is each function's newest file (`sql.current()`). `v1/` is what migrations
0003 and 0004 created, moved out of them unchanged: those migrations keep their meaning on a database that
applied them, and a fresh one still runs them. `v2/` is loaded by migration 0006 (CREATE OR REPLACE, the
replaced signature dropped), so a fresh database (v1, then v2) and an upgraded one end with the same
functions, which a test checks. Why files and not SQL inline in each migration: the current rule is then one
file per function, and a rule change is the next version's file (the current one copied, then edited: the
diff between the two is the change) plus a migration that loads it; an applied migration never changes.
"""

import random
from contextlib import contextmanager

from django.db import connection
from django.utils import timezone

from .. import errors
from ..models import Assignment, Datanet, Judgment
from . import orm, postgres, rules
from .rules import MAX_EDITED_REPLY_CHARS, MAX_RATIONALE_CHARS, MAX_TIME_SPENT_MS  # noqa: F401  (the interface's limits)


def _backend():
    return postgres if connection.vendor == "postgresql" else orm


def assignment_next(
    *, annotator, datanet: Datanet, now=None, resume: bool = True, rng: random.Random | None = None
) -> Assignment | None:
    """Serves the annotator a comparison to judge, locked for them, or None when nothing is left for them.

    With `resume`, a live assignment the annotator already holds in this Datanet is served again
    (a reload shows the same comparison). Least-judged comparisons first, then in the order of the strategy
    the request is drawn (`rlhf.active`: random, or the most uncertain first, recorded on the assignment); gold
    items first at the Datanet's gold rate. Never the same comparison twice to one person, and never more than k
    judgments plus live locks per comparison, however many annotators ask at once: the chosen
    comparison row is locked (SKIP LOCKED on PostgreSQL; SQLite serialises writers) and the count
    is checked again under that lock before the assignment is written. `rng` draws the gold decision
    and the side shown on the left (a seeded one makes a simulation reproducible, on either database).
    Raises NotMember, TooManyPending.
    """
    return _backend().assignment_next(annotator=annotator, datanet=datanet, now=now or timezone.now(),
                                      resume=resume, draws=rules.draws_from(rng))


def assignment_next_with_token(*, token: str, role: str, datanet_slug: str, now=None, resume: bool = True,
                               rng: random.Random | None = None) -> Assignment | None:
    """`assignment_next` for an API token not checked yet: the token (TokenRejected: no such token, or its
    user is inactive), the role it needs (RoleMissing) and the Datanet (NotFound) are checked in that order,
    on PostgreSQL in the same round trip as the assignment; then what `assignment_next` raises."""
    return _backend().assignment_next_with_token(token=token, role=role, datanet_slug=datanet_slug,
                                                 now=now or timezone.now(), resume=resume, draws=rules.draws_from(rng))


def judgment_submit(*, annotator, assignment_id: int, choice: str, strength, time_spent_ms, rationale: str = "",
                    edited_reply: str = "", idempotency_key: str | None = None, now=None) -> Judgment:
    """Records the annotator's judgment on a comparison served to them. `choice` is as shown: A (left), B
    (right), tie, both_bad. Raises InvalidInput (naming the field), NotAssigned, AlreadySubmitted,
    DuplicateSubmission, LockExpired, ComparisonFull."""
    fields = rules.judgment_fields(choice=choice, strength=strength, rationale=rationale, edited_reply=edited_reply,
                                   time_spent_ms=time_spent_ms, idempotency_key=idempotency_key)
    judgment = _backend().judgment_submit(annotator=annotator, assignment_id=assignment_id, fields=fields,
                                          now=now or timezone.now())
    judgments_changed(judgment.datanet_id)
    return judgment


def judgment_submit_with_token(*, token: str, role: str, assignment_id: int, choice: str, strength, time_spent_ms,
                               rationale: str = "", edited_reply: str = "", idempotency_key: str | None = None,
                               now=None) -> Judgment:
    """`judgment_submit` for an API token not checked yet: TokenRejected or RoleMissing first (before a field
    is refused), on PostgreSQL in the same round trip as the judgment is recorded."""
    backend = _backend()
    with token_checked_before(errors.InvalidInput, token=token, role=role):
        fields = rules.judgment_fields(choice=choice, strength=strength, rationale=rationale,
                                       edited_reply=edited_reply, time_spent_ms=time_spent_ms,
                                       idempotency_key=idempotency_key)
    judgment = backend.judgment_submit_with_token(token=token, role=role, assignment_id=assignment_id, fields=fields,
                                                  now=now or timezone.now())
    judgments_changed(judgment.datanet_id)
    return judgment


@contextmanager
def token_checked_before(*refusals: type[Exception], token: str, role: str):
    """Lets one of `refusals` (a malformed request) through only once the token and its role have passed, so that
    a bad token answers 401 and a missing role 403 before anything about the body, as where REST framework checks
    the token first. Only a refused request pays for the extra check."""
    try:
        yield
    except refusals:
        _backend().token_refused(token, role)
        raise


def judgments_changed(datanet_id: int) -> None:
    # Quality figures are recomputed by a debounced Celery task, never in the request.
    from feedback_site.quality.services import quality_recompute_request

    quality_recompute_request(datanet_id=datanet_id)
