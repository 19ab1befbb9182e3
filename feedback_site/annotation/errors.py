"""The judging loop's own refusals: membership, locks, duplicates, imports, snapshots. The kinds
every app shares (invalid input, not found, role missing...) live in `feedback_site.core.errors`
and are re-exported here, so `errors.NotFound` reads the same in this app's modules."""

from feedback_site.core.errors import (  # noqa: F401  (re-exported for this app's modules)
    Conflict,
    InvalidInput,
    NotFound,
    RoleMissing,
    ServiceError,
    TokenRejected,
)


class NotAssigned(ServiceError):
    status = 403
    code = "not_assigned"


class NotMember(ServiceError):
    status = 403
    code = "not_member"


class DuplicateSubmission(ServiceError):
    status = 409
    code = "duplicate_submission"


class AlreadySubmitted(Conflict):
    status = 409
    code = "already_submitted"


class ComparisonFull(ServiceError):
    status = 409
    code = "comparison_full"


class TooManyPending(ServiceError):
    status = 409
    code = "too_many_pending"


class LockExpired(ServiceError):
    status = 410
    code = "lock_expired"


class ImportRejected(ServiceError):
    """The whole import was refused; `problems` lists every problem found, each with its line and field."""

    status = 400
    code = "import_rejected"

    def __init__(self, problems: list, filename: str = ""):
        self.problems = problems
        self.filename = filename
        shown = "\n".join(p.describe(filename) for p in problems[:50])
        more = f"\n... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"Import refused, nothing was stored: {len(problems)} problem(s)\n{shown}{more}")

    def as_body(self) -> dict:
        return {"error": self.code, "detail": f"Import refused, nothing was stored: {len(self.problems)} problem(s).",
                "problems": [p.as_dict() for p in self.problems[:1000]]}


class SnapshotEmpty(ServiceError):
    status = 409
    code = "snapshot_empty"
