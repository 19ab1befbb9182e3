"""When Celery beat settles epochs. Settings import this (it imports no model), with one line:

    from feedback_site.ledger.schedule import LEDGER_BEAT_SCHEDULE
    CELERY_BEAT_SCHEDULE = {**LEDGER_BEAT_SCHEDULE}

Every day at 00:30 UTC the task settles the next unsettled epoch if its attribution has been
written (the attribution job writes an epoch's rows in one transaction, so a reader sees all of
them or none); otherwise it does nothing and the next run tries again. Running it twice is safe.
"""

from celery.schedules import crontab

LEDGER_BEAT_SCHEDULE = {
    "ledger-settle-next-epoch": {
        "task": "ledger.settle_epoch",
        "schedule": crontab(minute=30, hour=0),
        "options": {"queue": "cpu"},
    },
}
