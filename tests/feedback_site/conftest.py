import io
import json

import pytest

from feedback_site.accounts.roles import Role
from feedback_site.accounts.services import user_create
from feedback_site.annotation import services


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
