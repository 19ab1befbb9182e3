"""A generation job in real Celery worker processes (Redis broker, PostgreSQL): the worker is SIGKILLed mid-run,
and the job, retried in a new worker, finishes the prompts that were left without writing any prompt's
replies twice."""

import os
import signal
import time

import pytest
from django.test import override_settings

from feedback_site.annotation.models import Comparison, Response
from feedback_site.core import jobs
from feedback_site.rounds import services as rounds
from feedback_site.rounds.models import GeneratedPrompt, GenerationJob
from feedback_site.training.models import JobState

from .conftest import registered, start_worker, stop_worker
from .test_training_worker import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("offline_artifacts")]

# Long enough replies that the run is still going when its first prompt is stored.
SAMPLING = {"replies_per_prompt": 3, "max_new_tokens": 24, "temperature": 1.0, "seed": 7}


@override_settings(TRAINING_HEARTBEAT_STALE_SECONDS=2)
def test_a_generation_job_killed_in_its_worker_resumes_without_duplicates(
        datanet_with, make_annotator, policy_dir, offline_artifacts):
    datanet = datanet_with(n=40, overlap=1, name="Rounds in a worker")
    policy = registered(datanet, make_annotator, policy_dir, "dpo_policy", "policy-w")
    imported = Comparison.objects.filter(datanet=datanet).count()
    environment = {"TRAINING_ARTIFACTS_DIR": str(offline_artifacts), "HF_HUB_OFFLINE": "1"}
    worker = start_worker(env_extra=environment)
    try:
        job = rounds.generation_job_create(datanet=datanet, policy=policy, settings=SAMPLING)
        wait_for(lambda: GenerationJob.objects.filter(pk=job.pk, prompts_done__gte=1).first(),
                 what="the first prompt", worker=worker, poll=0.02)
        os.kill(worker.pid, signal.SIGKILL)  # lost mid-run, without a chance to clean up
        worker.wait(10)
    finally:
        stop_worker(worker)
    cut = GenerationJob.objects.get(pk=job.pk)
    assert cut.state == JobState.RUNNING and 1 <= cut.prompts_done < cut.prompts_total == 40
    assert GeneratedPrompt.objects.filter(job=job).count() == cut.prompts_done
    time.sleep(2.5)
    assert jobs.job_worker_lost(GenerationJob.objects.get(pk=job.pk))

    worker = start_worker(env_extra=environment)
    try:
        rounds.generation_job_retry(job=cut)
        finished = wait_for(lambda: GenerationJob.objects.filter(pk=job.pk, state=JobState.COMPLETED).first(),
                            what="the retried job", worker=worker)
    finally:
        stop_worker(worker)
    assert finished.attempts == 2 and finished.prompts_done == 40
    assert GeneratedPrompt.objects.filter(job=job).count() == 40
    generated = Comparison.objects.filter(datanet=datanet, response_a__generation__job=job.id)
    assert generated.count() == finished.comparisons_created == Comparison.objects.filter(datanet=datanet).count() - imported
    # Each prompt's replies were written once (the killed attempt's prompts were skipped, not redone): at most three
    # distinct replies per prompt (a reply sampled twice is kept once), and its comparisons are those its record counts.
    texts: dict[int, list[str]] = {}
    for prompt_id, text in Response.objects.filter(generation__job=job.id).values_list("prompt_id", "text"):
        texts.setdefault(prompt_id, []).append(text)
    assert len(texts) == 40 and all(len(t) == len(set(t)) <= 3 for t in texts.values())
    for record in GeneratedPrompt.objects.filter(job=job):
        assert generated.filter(prompt_id=record.prompt_id).count() == record.comparisons
