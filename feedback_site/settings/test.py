"""Tests: SQLite by default, PostgreSQL when DATABASE_URL is set (CI sets it)."""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import DATABASES, os

# Without a real broker, queued tasks go nowhere (an in-memory transport); the integration tests
# that need a worker set CELERY_BROKER_URL to Redis.
if not os.environ.get("CELERY_BROKER_URL"):
    CELERY_BROKER_URL = "memory://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="ledgerloop-media-"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": None}
