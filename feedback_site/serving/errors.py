"""Why a call to a served model was refused. Each is a ServiceError: the API answers with its status
and code, and a refused call is neither served nor charged."""

from feedback_site.core.errors import Conflict, InvalidInput, NotFound, ServiceError


class PaymentRequired(ServiceError):
    """The consumer's OPEN balance is short of the call's fee: 402, nothing served."""

    status = 402
    code = "payment_required"


class VersionNotServed(NotFound):
    """Unknown, or not published for serving."""

    code = "model_version_not_found"


class InvalidRequest(InvalidInput):
    code = "invalid_request"


class AdapterBaseMismatch(InvalidInput):
    code = "adapter_base_mismatch"


class KeyReused(Conflict):
    """The idempotency key was used for a different request."""

    code = "idempotency_key_reused"


class EngineUnavailable(ServiceError):
    status = 503
    code = "engine_unavailable"
