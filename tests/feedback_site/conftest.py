import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from feedback_site.accounts.roles import Role
from feedback_site.accounts.services import user_create
from feedback_site.annotation import services
from feedback_site.training.models import BaseModel, JobState, ModelVersion, TrainingJob


def jsonl(rows) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode())


def own_rows(n: int, responses: int = 2, prefix: str = "q") -> list[dict]:
    return [
        {
            "id": f"{prefix}{i}",
            "prompt": f"Question {prefix}{i}: how do I reset my password?",
            "responses": [{"text": f"Answer {j} to {prefix}{i}", "model": f"model-{j}"} for j in range(responses)],
        }
        for i in range(n)
    ]


@pytest.fixture(autouse=True)
def _fresh_debounce():
    """The quality debounce remembers queued Datanets per process; ids repeat across tests."""
    from feedback_site.quality import services as quality_services

    quality_services._queued_ahead_until.clear()


@pytest.fixture
def offline_artifacts(monkeypatch, settings, tmp_path):
    """Training and generation read no hub, and write their artifacts under this test's folder."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings.TRAINING_ARTIFACTS_DIR = tmp_path / "artifacts"
    return settings.TRAINING_ARTIFACTS_DIR


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """The tiny local causal LM (rlhf.tiny), built once per session."""
    from rlhf.tiny import tiny_model_build

    return tiny_model_build(tmp_path_factory.mktemp("tiny"), seed=0)


def _tiny_run(tmp_path_factory, tiny_dir, name: str, config_class, train):
    """A real training run of the tiny model (two steps: what matters here is that it is one), in a folder `name`
    (messages about the model name it)."""
    from rlhf.tiny import marker_preference_rows

    out = tmp_path_factory.mktemp(name) / name
    train(config_class(model_path=str(tiny_dir), output_dir=str(out), max_steps=2, device="cpu", eval_fraction=0.0),
          rows=marker_preference_rows(16, seed=1))
    return out


@pytest.fixture(scope="session")
def policy_dir(tmp_path_factory, tiny_dir):
    """A DPO policy run of the tiny model."""
    from rlhf.config import DPOTrainingConfig
    from rlhf.dpo import dpo_train

    return _tiny_run(tmp_path_factory, tiny_dir, "dpo", DPOTrainingConfig, dpo_train)


@pytest.fixture(scope="session")
def reward_dir(tmp_path_factory, tiny_dir):
    """A reward-model run of the tiny model."""
    from rlhf.config import RewardTrainingConfig
    from rlhf.reward import reward_train

    return _tiny_run(tmp_path_factory, tiny_dir, "rm", RewardTrainingConfig, reward_train)


@pytest.fixture
def engineer(db):
    return user_create(username="eng", password="pw-eng-123", roles=[Role.ML_ENGINEER])


@pytest.fixture
def make_annotator(db):
    def make(name: str):
        return user_create(username=name, password=f"pw-{name}-123", roles=[Role.ANNOTATOR])

    return make


@pytest.fixture
def datanet_with(db, engineer):
    """A Datanet with `n` two-response prompts (n comparisons) and the given annotators as members."""

    def make(n=5, annotators=(), overlap=2, name="Support", **kwargs):
        datanet = services.datanet_create(name=name, overlap=overlap, created_by=engineer, **kwargs)
        if n:
            services.datanet_import(datanet=datanet, stream=jsonl(own_rows(n)), origin="test")
        for a in annotators:
            services.datanet_member_add(datanet=datanet, user=a)
        return datanet

    return make


def judge(annotator, datanet, choice="A", strength=2, **kwargs):
    assignment = services.assignment_next(annotator=annotator, datanet=datanet)
    assert assignment is not None
    return services.judgment_submit(
        annotator=annotator, assignment_id=assignment.id, choice=choice, strength=strength, time_spent_ms=1500, **kwargs
    )


ROOT = Path(__file__).resolve().parents[2]


def worker_database_url() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


# Every worker a test starts, so that one left running by a failed test is stopped before the next test begins
# (a stray worker would take the next test's tasks and hold the test database open).
_started: list[subprocess.Popen] = []


def start_worker(queues: str = "cpu", env_extra: dict | None = None) -> subprocess.Popen:
    """A real Celery worker process on the test database (PostgreSQL) and the configured broker (Redis)."""
    env = dict(os.environ, DATABASE_URL=worker_database_url(), DJANGO_SETTINGS_MODULE="feedback_site.settings.test", **(env_extra or {}))
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"ledgerloop-worker-{os.getpid()}.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "feedback_site", "worker", "-Q", queues, "--pool", "solo",
         "--loglevel", "INFO", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    _started.append(process)
    return process


def stop_worker(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@pytest.fixture(autouse=True)
def no_worker_outlives_its_test():
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            stop_worker(process)


@pytest.fixture
def celery_worker_process():
    process = start_worker()
    yield process
    stop_worker(process)


def registered(datanet, make_annotator, folder, kind: str, name: str) -> ModelVersion:
    """A model version registered from a finished run folder, as a completed training job registers it."""
    annotator = make_annotator(f"{name}-trainer")
    services.datanet_member_add(datanet=datanet, user=annotator)
    if not datanet.snapshots.exists():
        judge(annotator, datanet)
    snapshot = services.snapshot_create(datanet=datanet)
    base, _ = BaseModel.objects.get_or_create(name="tiny", defaults={"path": str(folder), "family": "causal_lm"})
    job = TrainingJob.objects.create(snapshot=snapshot, snapshot_hash=snapshot.content_hash, method="dpo",
                                     base_model=base, state=JobState.COMPLETED)
    return ModelVersion.objects.create(job=job, name=name, kind=kind, artifacts_dir=str(folder),
                                       metrics={"heldout": {"accuracy": 0.75}})
