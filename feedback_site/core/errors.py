"""Errors a service of any app raises when a request cannot be honoured. Each maps to one HTTP
status and a stable code, so pages, API endpoints and commands answer the same way (the API's
exception handler and the views read `status`, `code` and `message`), and nothing is half-written.

An app's own refusals subclass these (`annotation.errors`, `ledger.errors`, `governance.errors`),
so a caller that only knows the kind of failure catches the base class here."""


class ServiceError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def as_body(self) -> dict:
        """The JSON answer of the API: a stable code and the message; subclasses add their details."""
        return {"error": self.code, "detail": self.message}


class InvalidInput(ServiceError):
    status = 400
    code = "invalid"


class TokenRejected(ServiceError):
    """An API token that names no user, or an inactive one."""

    status = 401
    code = "not_authenticated"


class RoleMissing(ServiceError):
    status = 403
    code = "permission_denied"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    """The request is well formed but the object's state does not allow it (a job already running,
    an exclusion already revoked)."""

    status = 409
    code = "conflict"
