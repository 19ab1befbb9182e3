"""The Celery app. Workers: `celery -A feedback_site worker -Q cpu` (and `-Q gpu --concurrency 1` on GPU machines)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feedback_site.settings.local")

app = Celery("feedback_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
