"""Why the ledger refused a request. Each error is a ServiceError, so pages show its message and
the API answers with its status and code; a refused request leaves the ledger unchanged."""

from feedback_site.core.errors import InvalidInput, ServiceError


class InvalidAmount(InvalidInput):
    code = "invalid_amount"


class UnknownAccount(ServiceError):
    status = 400
    code = "unknown_account"


class UnknownModel(ServiceError):
    status = 400
    code = "unknown_model"


class NoConsumerAccount(ServiceError):
    status = 403
    code = "no_consumer_account"


class InsufficientFunds(ServiceError):
    status = 409
    code = "insufficient_funds"


class AllocationLocked(ServiceError):
    """A transfer out of the team or investor allocation would move more than has vested."""

    status = 409
    code = "allocation_locked"


class InsufficientStake(ServiceError):
    status = 409
    code = "insufficient_stake"


class NothingToWithdraw(ServiceError):
    status = 409
    code = "nothing_to_withdraw"


class DuplicateRequest(ServiceError):
    """The request id was used before with different content."""

    status = 409
    code = "duplicate_request"


class GenesisMissing(ServiceError):
    status = 409
    code = "genesis_missing"


class EpochAlreadySettled(ServiceError):
    status = 409
    code = "epoch_already_settled"


class EpochOutOfOrder(ServiceError):
    status = 409
    code = "epoch_out_of_order"


class MissingAttribution(ServiceError):
    status = 409
    code = "missing_attribution"


class PolicyRejected(InvalidInput):
    code = "invalid_policy"


class EpochNotSettled(ServiceError):
    status = 404
    code = "epoch_not_settled"


class NoPayout(ServiceError):
    status = 404
    code = "no_payout"


class LedgerInconsistent(ServiceError):
    """An invariant the ledger relies on does not hold: stop and run verify_ledger."""

    status = 500
    code = "ledger_inconsistent"
