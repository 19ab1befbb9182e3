"""When Celery beat closes proposals whose deadline has passed. Settings import this (it imports no model):

    from feedback_site.governance.schedule import GOVERNANCE_BEAT_SCHEDULE
    CELERY_BEAT_SCHEDULE = {**LEDGER_BEAT_SCHEDULE, **GOVERNANCE_BEAT_SCHEDULE}

Every 5 minutes, so an accepted proposal is recorded as the policy of the next epoch well before
the daily settlement at 00:30 UTC. Closing twice is safe; a proposal page also closes its own
proposal when someone opens it after the deadline.
"""

from celery.schedules import crontab

GOVERNANCE_BEAT_SCHEDULE = {
    "governance-close-due-proposals": {
        "task": "governance.close_due_proposals",
        "schedule": crontab(minute="*/5"),
        "options": {"queue": "cpu"},
    },
}
