"""What each outcome of serving or submitting answers the annotator. Both backends name their outcomes
with the status words of the PostgreSQL functions (`sql/v2/judging.sql`) and raise through here, so a
refusal reads the same on every database."""

from .. import errors
from ..models import Judgment

NOT_ASSIGNED_MESSAGE = "This comparison is not assigned to you."
LOCK_EXPIRED_MESSAGE = (
    "Your lock on this comparison expired, so it may have gone to someone else; nothing was saved. Load the next one."
)
COMPARISON_FULL_MESSAGE = "This comparison already has all its judgments."
DUPLICATE_KEY_MESSAGE = "This judgment was already submitted (same idempotency key)."
NO_DATANET_MESSAGE = "No Datanet matches the given query."


def refuse_serving(status: str, *, live: int, datanet) -> None:
    """Raises for a refusal to serve (`datanet()` gives the Datanet, read only for the message)."""
    if status == "not_member":
        raise errors.NotMember(f"You are not a member of Datanet {datanet().name!r}.")
    if status == "too_many_pending":
        raise errors.TooManyPending(
            f"You hold {live} unfinished comparisons (the limit is {datanet().max_pending}): "
            "submit or wait for them to expire."
        )
    if status == "no_datanet":
        raise errors.NotFound(NO_DATANET_MESSAGE)


def refuse_submission(status: str, *, key: str | None) -> None:
    """Raises for a refused submission; "ok" passes."""
    if status == "not_assigned":
        raise errors.NotAssigned(NOT_ASSIGNED_MESSAGE)
    if status == "already_submitted":
        if key and Judgment.objects.filter(idempotency_key=key).exists():
            raise errors.DuplicateSubmission(
                "This judgment was already submitted (same idempotency key): nothing changed.")
        raise errors.AlreadySubmitted("You already judged this comparison; revise your judgment instead.")
    if status == "expired":
        raise errors.LockExpired(LOCK_EXPIRED_MESSAGE)
    if status == "full":
        raise errors.ComparisonFull(COMPARISON_FULL_MESSAGE)
    if status == "duplicate_key":
        raise errors.DuplicateSubmission(DUPLICATE_KEY_MESSAGE)
