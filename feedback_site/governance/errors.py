"""Why governance refused a request; each is a ServiceError, so pages show its message."""

from feedback_site.core.errors import InvalidInput, ServiceError


class ProposalInvalid(InvalidInput):
    code = "proposal_invalid"


class VoteRefused(ServiceError):
    status = 403
    code = "vote_refused"


class VotingClosed(ServiceError):
    status = 409
    code = "voting_closed"


class ProposalNotDue(ServiceError):
    status = 409
    code = "proposal_not_due"


class ReportInvalid(InvalidInput):
    code = "report_invalid"
