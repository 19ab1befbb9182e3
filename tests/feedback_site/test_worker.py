"""A real Celery worker process, on Redis and PostgreSQL: judgments queue a quality recomputation
that the worker runs against the same database."""

import time

import pytest
from django.test import override_settings

from feedback_site.quality.models import QualityReport

from .conftest import judge

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@override_settings(QUALITY_RECOMPUTE_DELAY_SECONDS=1)
def test_judgments_queue_a_recompute_that_a_worker_runs(celery_worker_process, datanet_with, make_annotator):
    people = [make_annotator(f"w{i}") for i in range(3)]
    datanet = datanet_with(n=3, annotators=people, overlap=3)
    for person in people:
        judge(person, datanet)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not QualityReport.objects.filter(datanet=datanet).exists():
        assert celery_worker_process.poll() is None, "the worker died"
        time.sleep(0.5)
    report = QualityReport.objects.filter(datanet=datanet).first()
    assert report is not None, "the worker did not compute the report in 90 s"
    assert report.judgments == 3 and report.report["counts"]["annotators"] == 3
