"""Many annotators asking for work and submitting at once, on PostgreSQL (SQLite serialises writers,
so it cannot show a race): no comparison gets more than k judgments, nobody judges one twice,
and nothing submitted is lost."""

import random
import threading
from collections import Counter

import pytest
from django.db import connection, connections
from rest_framework.authtoken.models import Token

from feedback_site.annotation import errors, services
from feedback_site.annotation.models import Comparison, Judgment

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ANNOTATORS = 24
COMPARISONS = 40
OVERLAP = 3


def serve_and_submit(path: str, person, datanet):
    """The judging services as a signed-in page calls them, or as the API calls them for a token."""
    if path == "session":
        return (lambda: services.assignment_next(annotator=person, datanet=datanet),
                lambda **fields: services.judgment_submit(annotator=person, **fields))
    token = Token.objects.create(user=person).key
    return (lambda: services.assignment_next_with_token(token=token, role="annotator", datanet_slug=datanet.slug),
            lambda **fields: services.judgment_submit_with_token(token=token, role="annotator", **fields))


@pytest.mark.parametrize("path", ["session", "token"])
def test_many_annotators_at_once(datanet_with, make_annotator, path):
    assert connection.vendor == "postgresql"
    people = [make_annotator(f"p{i}") for i in range(ANNOTATORS)]
    datanet = datanet_with(n=COMPARISONS, annotators=people, overlap=OVERLAP)
    calls = {person.id: serve_and_submit(path, person, datanet) for person in people}
    accepted: list[tuple[int, int]] = []  # (judgment, who submitted it)
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(ANNOTATORS)

    def work(person, seed):
        rng = random.Random(seed)
        serve, submit = calls[person.id]
        try:
            start.wait()
            while True:
                assignment = serve()
                if assignment is None:
                    return
                try:
                    judgment = submit(
                        assignment_id=assignment.id,
                        choice=rng.choice(["A", "B", "tie"]),
                        strength=rng.randint(1, 3),
                        time_spent_ms=rng.randint(100, 5000),
                        idempotency_key=f"{person.id}-{assignment.id}",
                    )
                except errors.ServiceError as exc:  # a refusal is allowed; a lost write is not
                    failures.append(exc)
                    continue
                with lock:
                    accepted.append((judgment.id, person.id))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(p, i)) for i, p in enumerate(people)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "workers hung"
    assert failures == []
    stored = list(Judgment.objects.values_list("id", "comparison_id", "annotator_id"))
    assert sorted(accepted) == sorted((j, a) for j, _, a in stored)  # nothing submitted is lost, nor misattributed
    per_comparison = Counter(c for _, c, _ in stored)
    assert set(per_comparison.values()) == {OVERLAP} and len(per_comparison) == COMPARISONS  # exactly k each
    assert len({(c, a) for _, c, a in stored}) == len(stored)  # nobody judged one twice
    assert set(Comparison.objects.values_list("judgment_count", flat=True)) == {OVERLAP}


def test_a_comparison_locked_for_a_moment_is_waited_for_not_reported_as_none(datanet_with, make_annotator):
    """SKIP LOCKED passes over a comparison another request holds; when that was the last open one,
    the annotator must get it once it is free, not be told there is nothing left."""
    import psycopg
    from django.conf import settings

    first, second = make_annotator("first"), make_annotator("second")
    datanet = datanet_with(n=1, annotators=[first, second], overlap=2)
    comparison = Comparison.objects.get(datanet=datanet)
    db = settings.DATABASES["default"]
    holder = psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"] or None,
                             dbname=connection.settings_dict["NAME"])
    holder.execute("SELECT id FROM annotation_comparison WHERE id = %s FOR UPDATE", [comparison.pk])
    release = threading.Timer(0.15, holder.commit)  # a submit in flight, finishing after 150 ms
    release.start()
    try:
        assignment = services.assignment_next(annotator=second, datanet=datanet)
    finally:
        release.join()
        holder.close()
    assert assignment is not None and assignment.comparison_id == comparison.pk
