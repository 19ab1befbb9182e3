"""Training jobs in real Celery worker processes (Redis broker, PostgreSQL): progress, cancel, and a
worker killed mid-run whose job, retried, continues from its checkpoint."""

import json
import os
import signal
import time
from pathlib import Path

import pytest
from django.test import override_settings

from feedback_site.training import services as training
from feedback_site.training.models import BaseModel, JobState, TrainingJob

from .conftest import start_worker, stop_worker
from .test_training import REWARD, marker_snapshot

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def artifacts(tmp_path, settings, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings.TRAINING_ARTIFACTS_DIR = tmp_path / "artifacts"
    # the worker must write where the test looks
    return {"TRAINING_ARTIFACTS_DIR": str(tmp_path / "artifacts"), "HF_HUB_OFFLINE": "1"}


def wait_for(predicate, timeout=480, what="condition", worker=None, poll=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = predicate()
        if job:
            return job
        if worker is not None:
            assert worker.poll() is None, "the worker died"
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


def test_launch_progress_and_cancel_in_a_worker(make_annotator, artifacts, tiny_model_for_workers):
    snapshot = marker_snapshot(make_annotator)
    base = BaseModel.objects.create(name="tiny", path=str(tiny_model_for_workers), family="causal_lm")
    worker = start_worker(env_extra=artifacts)
    try:
        done = training.training_job_create(snapshot=snapshot, method="reward", base_model=base, params={**REWARD, "num_epochs": 1})
        finished = wait_for(lambda: TrainingJob.objects.filter(pk=done.pk, state=JobState.COMPLETED).first(), what="the job", worker=worker)
        assert finished.worker and finished.step == finished.total_steps and finished.metrics["heldout"]["accuracy"] > 0.5
        assert finished.loss_history and finished.attempts == 1

        long = training.training_job_create(snapshot=snapshot, method="reward", base_model=base, params={**REWARD, "num_epochs": 200})
        running = wait_for(lambda: TrainingJob.objects.filter(pk=long.pk, state=JobState.RUNNING, step__gte=2).first(), what="progress", worker=worker)
        assert running.total_steps > running.step and running.eta_seconds is not None
        training.training_job_cancel(job=running)
        cancelled = wait_for(lambda: TrainingJob.objects.filter(pk=long.pk, state=JobState.CANCELLED).first(), what="the cancel", worker=worker)
        assert cancelled.step < cancelled.total_steps
    finally:
        stop_worker(worker)


@override_settings(TRAINING_HEARTBEAT_STALE_SECONDS=2)
def test_a_killed_worker_s_job_resumes_from_its_checkpoint(make_annotator, artifacts, tiny_model_for_workers):
    snapshot = marker_snapshot(make_annotator)
    base = BaseModel.objects.create(name="tiny", path=str(tiny_model_for_workers), family="causal_lm")
    params = {**REWARD, "num_epochs": 12, "save_steps": 3}  # 96 steps: still running when its first checkpoint appears
    worker = start_worker(env_extra=artifacts)
    job = training.training_job_create(snapshot=snapshot, method="reward", base_model=base, params=params)
    try:
        model_dir = Path(artifacts["TRAINING_ARTIFACTS_DIR"]) / f"job-{job.id}" / "model"
        wait_for(lambda: any(model_dir.glob("checkpoint-*/trainer_state.json")), what="a checkpoint", worker=worker, poll=0.1)
        os.kill(worker.pid, signal.SIGKILL)  # the worker is lost mid-run, without a chance to clean up
        worker.wait(10)
    finally:
        stop_worker(worker)
    checkpoint_steps = sorted(int(p.name.split("-")[1]) for p in model_dir.glob("checkpoint-*"))
    time.sleep(2.5)
    lost = TrainingJob.objects.get(pk=job.pk)
    assert lost.state == JobState.RUNNING and training.training_job_worker_lost(lost)
    worker = start_worker(env_extra=artifacts)
    try:
        training.training_job_retry(job=lost)
        finished = wait_for(lambda: TrainingJob.objects.filter(pk=job.pk, state=JobState.COMPLETED).first(), what="the retried job", worker=worker)
    finally:
        stop_worker(worker)
    record = json.loads((model_dir / "run.json").read_text())
    assert record["resumed_from"] and int(str(record["resumed_from"]).rsplit("-", 1)[1]) in checkpoint_steps
    assert finished.attempts == 2 and finished.step == finished.total_steps
    assert finished.metrics["heldout"]["accuracy"] > 0.9


@pytest.fixture(scope="session")
def tiny_model_for_workers(tmp_path_factory):
    from rlhf.tiny import tiny_model_build

    return tiny_model_build(tmp_path_factory.mktemp("tiny-worker"), seed=0)
