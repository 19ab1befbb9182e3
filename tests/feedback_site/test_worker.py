"""A real Celery worker process, on Redis and PostgreSQL: judgments queue a quality recomputation
that the worker runs against the same database."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from feedback_site.quality.models import QualityReport

from .conftest import judge

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def worker_database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def worker():
    env = dict(os.environ, DATABASE_URL=worker_database_url(), DJANGO_SETTINGS_MODULE="feedback_site.settings.test")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "feedback_site", "worker", "-Q", "cpu", "--pool", "solo", "--loglevel", "INFO",
         "--hostname", f"test-{os.getpid()}@localhost"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    yield process
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


@override_settings(QUALITY_RECOMPUTE_DELAY_SECONDS=1)
def test_judgments_queue_a_recompute_that_a_worker_runs(worker, datanet_with, make_annotator):
    people = [make_annotator(f"w{i}") for i in range(3)]
    datanet = datanet_with(n=3, annotators=people, overlap=3)
    for person in people:
        judge(person, datanet)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not QualityReport.objects.filter(datanet=datanet).exists():
        assert worker.poll() is None, worker.stdout.read()
        time.sleep(0.5)
    report = QualityReport.objects.filter(datanet=datanet).first()
    assert report is not None, "the worker did not compute the report in 90 s"
    assert report.judgments == 3 and report.report["counts"]["annotators"] == 3
