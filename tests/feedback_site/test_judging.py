from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from feedback_site.annotation import errors, selectors, services
from feedback_site.annotation.models import AppendOnlyError, Assignment, Comparison, Judgment

from .conftest import judge


def test_each_comparison_gets_exactly_k_judgments_and_never_twice_from_one_person(datanet_with, make_annotator):
    people = [make_annotator(f"a{i}") for i in range(4)]
    datanet = datanet_with(n=3, annotators=people, overlap=2)
    served = {p.id: [] for p in people}
    for _round in range(5):
        for person in people:
            assignment = services.assignment_next(annotator=person, datanet=datanet)
            if assignment is None:
                continue
            served[person.id].append(assignment.comparison_id)
            services.judgment_submit(annotator=person, assignment_id=assignment.id, choice="A", strength=1, time_spent_ms=10)
    assert sorted(Comparison.objects.values_list("judgment_count", flat=True)) == [2, 2, 2]
    assert Judgment.objects.count() == 6
    for comparisons in served.values():
        assert len(comparisons) == len(set(comparisons))


def test_least_judged_first(datanet_with, make_annotator):
    first, second = make_annotator("first"), make_annotator("second")
    datanet = datanet_with(n=3, annotators=[first, second], overlap=3)
    judged = judge(first, datanet).comparison_id
    assert services.assignment_next(annotator=second, datanet=datanet).comparison_id != judged


def test_a_live_lock_is_served_again_and_counts_against_k(datanet_with, make_annotator):
    a, b = make_annotator("a"), make_annotator("b")
    datanet = datanet_with(n=1, annotators=[a, b], overlap=1)
    held = services.assignment_next(annotator=a, datanet=datanet)
    assert services.assignment_next(annotator=a, datanet=datanet).id == held.id  # a reload shows the same one
    assert services.assignment_next(annotator=b, datanet=datanet) is None  # k=1 slot is locked by a


def test_an_expired_lock_frees_the_slot_and_refuses_the_late_submit(datanet_with, make_annotator):
    a, b = make_annotator("a"), make_annotator("b")
    datanet = datanet_with(n=1, annotators=[a, b], overlap=1, lock_minutes=10)
    held = services.assignment_next(annotator=a, datanet=datanet)
    later = timezone.now() + timedelta(minutes=11)
    taken = services.assignment_next(annotator=b, datanet=datanet, now=later)
    assert taken is not None and taken.comparison_id == held.comparison_id
    with pytest.raises(errors.LockExpired):
        services.judgment_submit(annotator=a, assignment_id=held.id, choice="A", strength=1, time_spent_ms=5, now=later)
    assert Judgment.objects.count() == 0
    services.judgment_submit(annotator=b, assignment_id=taken.id, choice="B", strength=1, time_spent_ms=5, now=later)
    assert Comparison.objects.get().judgment_count == 1


def test_pending_cap(datanet_with, make_annotator):
    a = make_annotator("a")
    datanet = datanet_with(n=5, annotators=[a], max_pending=2)
    services.assignment_next(annotator=a, datanet=datanet, resume=False)
    services.assignment_next(annotator=a, datanet=datanet, resume=False)
    with pytest.raises(errors.TooManyPending) as caught:
        services.assignment_next(annotator=a, datanet=datanet, resume=False)
    assert caught.value.status == 409


def test_submitting_someone_elses_assignment_is_refused(datanet_with, make_annotator):
    a, b = make_annotator("a"), make_annotator("b")
    datanet = datanet_with(n=2, annotators=[a, b])
    held = services.assignment_next(annotator=a, datanet=datanet)
    with pytest.raises(errors.NotAssigned) as caught:
        services.judgment_submit(annotator=b, assignment_id=held.id, choice="A", strength=1, time_spent_ms=5)
    assert caught.value.status == 403
    assert Judgment.objects.count() == 0


def test_double_submit_with_the_same_key_changes_nothing(datanet_with, make_annotator):
    a = make_annotator("a")
    datanet = datanet_with(n=3, annotators=[a])
    first = judge(a, datanet, idempotency_key="key-1")
    other = services.assignment_next(annotator=a, datanet=datanet)
    with pytest.raises(errors.DuplicateSubmission) as caught:
        services.judgment_submit(annotator=a, assignment_id=other.id, choice="B", strength=1, time_spent_ms=5, idempotency_key="key-1")
    assert caught.value.status == 409
    assert list(Judgment.objects.values_list("id", flat=True)) == [first.id]
    assert Assignment.objects.get(pk=other.pk).submitted_at is None
    with pytest.raises(errors.AlreadySubmitted):
        services.judgment_submit(annotator=a, assignment_id=first.assignment_id, choice="B", strength=1, time_spent_ms=5)


def test_non_members_cannot_get_work(datanet_with, make_annotator):
    outsider = make_annotator("outsider")
    datanet = datanet_with(n=1)
    with pytest.raises(errors.NotMember):
        services.assignment_next(annotator=outsider, datanet=datanet)


@pytest.mark.parametrize(
    "field,value",
    [("choice", "left"), ("strength", 7), ("time_spent_ms", -1), ("rationale", "x" * 10_001)],
)
def test_invalid_judgment_fields(datanet_with, make_annotator, field, value):
    a = make_annotator("a")
    datanet = datanet_with(n=1, annotators=[a])
    held = services.assignment_next(annotator=a, datanet=datanet)
    payload = {"choice": "A", "strength": 1, "time_spent_ms": 5, field: value}
    with pytest.raises(errors.InvalidInput) as caught:
        services.judgment_submit(annotator=a, assignment_id=held.id, **payload)
    assert caught.value.message.startswith(field)
    assert Judgment.objects.count() == 0


def test_choice_is_stored_in_the_comparisons_terms_with_the_order_shown(datanet_with, make_annotator):
    a = make_annotator("a")
    datanet = datanet_with(n=1, annotators=[a])
    held = services.assignment_next(annotator=a, datanet=datanet)
    judgment = services.judgment_submit(annotator=a, assignment_id=held.id, choice="A", strength=3, time_spent_ms=5)
    assert judgment.shown_left == held.shown_left
    assert judgment.choice == held.shown_left  # "A" is whatever was on the left
    assert judgment.choice_as_shown == "A"


def test_revision_is_a_new_row_and_history_is_kept(datanet_with, make_annotator):
    a = make_annotator("a")
    datanet = datanet_with(n=2, annotators=[a], overlap=1)
    original = judge(a, datanet, choice="A")
    revision = services.judgment_revise(annotator=a, judgment_id=original.id, choice="B", strength=3, time_spent_ms=9)
    assert revision.revision_of_id == original.id and revision.id != original.id
    assert Judgment.objects.get(pk=original.pk).choice == original.choice  # untouched
    assert Comparison.objects.get(pk=original.comparison_id).judgment_count == 1  # a revision is not a new judgment
    assert selectors.judgment_latest_for(annotator=a, datanet=datanet) == revision
    assert [j.id for j in selectors.judgment_history(judgment=revision)] == [original.id, revision.id]
    with pytest.raises(errors.AlreadySubmitted):
        services.judgment_revise(annotator=a, judgment_id=original.id, choice="tie", strength=1, time_spent_ms=1)


def test_cannot_revise_someone_elses_judgment(datanet_with, make_annotator):
    a, b = make_annotator("a"), make_annotator("b")
    datanet = datanet_with(n=1, annotators=[a, b])
    theirs = judge(a, datanet)
    with pytest.raises(errors.NotAssigned):
        services.judgment_revise(annotator=b, judgment_id=theirs.id, choice="B", strength=1, time_spent_ms=1)


def test_judgments_are_append_only_in_code_and_in_the_database(datanet_with, make_annotator):
    a = make_annotator("a")
    datanet = datanet_with(n=1, annotators=[a])
    judgment = judge(a, datanet)
    with pytest.raises(AppendOnlyError):
        judgment.save()
    with pytest.raises(AppendOnlyError):
        judgment.delete()
    # Behind the application's back: the database trigger refuses it.
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE annotation_judgment SET choice = 'tie' WHERE id = %s", [judgment.id])
    assert Judgment.objects.get(pk=judgment.pk).choice == judgment.choice


def test_one_assignment_per_annotator_and_comparison_in_the_schema(datanet_with, make_annotator):
    a = make_annotator("a")
    datanet = datanet_with(n=1, annotators=[a])
    held = services.assignment_next(annotator=a, datanet=datanet)
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(comparison=held.comparison, annotator=a, shown_left="a", expires_at=held.expires_at)
