"""The judging rules that touch no row: what a judgment may say, the three draws of a request, the gold
decision, the strategy a request is served by (`rlhf.active.strategy_drawn`), and how a choice shown on screen is
stored. Pure functions, read by both backends; where the PostgreSQL functions need one of them (the gold decision,
the strategy), their twin in `sql/` says so and the same tests run both."""

import random
from dataclasses import dataclass

from .. import errors
from ..models import Choice, Side, Strength

MAX_RATIONALE_CHARS = 10_000
MAX_EDITED_REPLY_CHARS = 50_000
# A client-measured time above this is a tab left open, not work: store the cap, not the outlier.
MAX_TIME_SPENT_MS = 6 * 3600 * 1000
# What an annotator may answer, as shown: A is the response on the left.
CHOICE_SHOWN = ("A", "B", "tie", "both_bad")


@dataclass(frozen=True)
class Draws:
    """The chance in one request for a comparison, drawn before the backend runs: `gold` (uniform in
    [0, 1)) decides whether gold items come first, `shown_left` which response is shown on the left, `strategy`
    (uniform in [0, 1)) whether a request under the uncertainty strategy is one of its random share."""

    gold: float
    shown_left: str
    strategy: float


def draws_from(rng: random.Random | None) -> Draws:
    """The three draws, in this order, on every path and backend: a seeded `rng` serves the same sequence
    whichever database runs it (the strategy's draw comes last, so a seed still gives the gold and side draws it
    gave before strategies existed)."""
    rng = rng or random
    return Draws(gold=rng.random(), shown_left=rng.choice((Side.A, Side.B)), strategy=rng.random())


def gold_first(*, gold_rate: float, draw: float) -> bool:
    """Whether this request looks among gold items first (twin: annotation_gold_first in SQL)."""
    return gold_rate > 0 and draw < gold_rate


@dataclass(frozen=True)
class JudgmentFields:
    """A judgment as the annotator gave it, validated: `choice` as shown (A, B, tie, both_bad)."""

    choice: str
    strength: int
    rationale: str
    edited_reply: str
    time_spent_ms: int
    idempotency_key: str | None


def judgment_fields(*, choice, strength, rationale, edited_reply, time_spent_ms, idempotency_key) -> JudgmentFields:
    """Validates what a judgment says; InvalidInput names the first field that is wrong."""
    if choice not in CHOICE_SHOWN:
        raise errors.InvalidInput(f"choice: must be one of A, B, tie, both_bad (got {choice!r})")
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
    if idempotency_key == "":
        idempotency_key = None
    if idempotency_key is not None and len(idempotency_key) > 64:
        raise errors.InvalidInput("idempotency_key: at most 64 characters")
    return JudgmentFields(choice=choice, strength=strength, rationale=rationale, edited_reply=edited_reply,
                          time_spent_ms=min(time_spent_ms, MAX_TIME_SPENT_MS), idempotency_key=idempotency_key)


def stored_choice(choice_shown: str, shown_left: str) -> str:
    """The UI labels the left response A and the right one B; storage names the comparison's own a/b."""
    if choice_shown == "A":
        return shown_left
    if choice_shown == "B":
        return Side.B if shown_left == Side.A else Side.A
    return Choice.TIE if choice_shown == "tie" else Choice.BOTH_BAD
