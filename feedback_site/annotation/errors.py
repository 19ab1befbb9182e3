"""Errors a service raises when a request cannot be honoured. Each maps to one HTTP status,
so views and API endpoints answer the same way and nothing is half-written."""


class ServiceError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(ServiceError):
    status = 400
    code = "invalid"


class TokenRejected(ServiceError):
    """An API token that names no user, or an inactive one (checked by the judging functions on PostgreSQL)."""

    status = 401
    code = "not_authenticated"


class RoleMissing(ServiceError):
    status = 403
    code = "permission_denied"


class NotAssigned(ServiceError):
    status = 403
    code = "not_assigned"


class NotMember(ServiceError):
    status = 403
    code = "not_member"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class DuplicateSubmission(ServiceError):
    status = 409
    code = "duplicate_submission"


class AlreadySubmitted(ServiceError):
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


class SnapshotEmpty(ServiceError):
    status = 409
    code = "snapshot_empty"
