import random
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from feedback_site.annotation import errors, judging, selectors, services
from feedback_site.annotation.judging import rules
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


def test_gold_items_come_first_as_the_draw_decides(datanet_with, make_annotator):
    """The gold decision is made from the request's draw by one rule, on every database: a seeded rng serves
    gold or not, and the side on the left, exactly as a replay of its draws says."""
    a = make_annotator("a")
    datanet = datanet_with(n=20, annotators=[a], overlap=1, gold_rate=0.5, max_pending=50)
    ids = list(Comparison.objects.order_by("id").values_list("id", flat=True))
    gold = set(ids[::2])
    Comparison.objects.filter(pk__in=gold).update(gold_choice="a")
    rng, replay = random.Random(7), random.Random(7)
    served_gold = []
    for _ in range(8):  # fewer than either pool holds, so both stay open
        held = services.assignment_next(annotator=a, datanet=datanet, rng=rng, resume=False)
        drawn = rules.draws_from(replay)
        served_gold.append(held.comparison_id in gold)
        assert served_gold[-1] == rules.gold_first(gold_rate=datanet.gold_rate, draw=drawn.gold)
        assert held.shown_left == drawn.shown_left
    assert set(served_gold) == {True, False}  # the seed exercises both outcomes


@pytest.mark.parametrize(("gold_rate", "gold_served"), [(0.0, False), (1.0, True)])
def test_the_gold_rate_orders_the_pools_and_an_empty_pool_falls_through(datanet_with, make_annotator, gold_rate,
                                                                        gold_served):
    a = make_annotator("a")
    datanet = datanet_with(n=4, annotators=[a], overlap=1, gold_rate=gold_rate, max_pending=10)
    gold = set(Comparison.objects.order_by("id").values_list("id", flat=True)[:2])
    Comparison.objects.filter(pk__in=gold).update(gold_choice="b")
    served = [services.assignment_next(annotator=a, datanet=datanet, resume=False).comparison_id for _ in range(4)]
    assert [c in gold for c in served] == [gold_served, gold_served, not gold_served, not gold_served]
    assert services.assignment_next(annotator=a, datanet=datanet, resume=False) is None


def open_states(datanet_with, make_annotator):
    """One comparison per case of who may be served what, for annotator `a` at `now` (k = 2): returns
    (a, datanet, now, {comparison id: open to a?})."""
    a, b, c = make_annotator("a"), make_annotator("b"), make_annotator("c")
    datanet = datanet_with(n=7, annotators=[a, b, c], overlap=2)
    datanet_with(n=1, annotators=[a], name="Elsewhere")  # another Datanet's comparison is never open here
    now = timezone.now()
    full, locked, expired_lock, judged_by_a, held_by_a, fresh, one_judged = Comparison.objects.filter(
        datanet=datanet).order_by("id")
    Comparison.objects.filter(pk__in=[full.pk]).update(judgment_count=2)
    Comparison.objects.filter(pk__in=[locked.pk, expired_lock.pk, one_judged.pk]).update(judgment_count=1)

    def lock(comparison, who, expires, submitted=None):
        Assignment.objects.create(comparison=comparison, annotator=who, shown_left="a", served_at=now - timedelta(
            minutes=20), expires_at=expires, submitted_at=submitted)

    lock(locked, b, now + timedelta(minutes=5))            # 1 judged + 1 live lock = k
    lock(expired_lock, b, now - timedelta(minutes=1))      # the lock expired: the slot is free again
    lock(judged_by_a, a, now - timedelta(minutes=1), submitted=now - timedelta(minutes=2))
    lock(held_by_a, a, now + timedelta(minutes=5))         # a holds it: never served to a twice
    lock(fresh, c, now + timedelta(minutes=5))             # 0 judged + 1 live lock < k
    expected = {full.pk: False, locked.pk: False, expired_lock.pk: True, judged_by_a.pk: False, held_by_a.pk: False,
                fresh.pk: True, one_judged.pk: True}
    return a, datanet, now, expected


def test_who_may_be_served_what(datanet_with, make_annotator):
    a, datanet, now, expected = open_states(datanet_with, make_annotator)
    served = set(judging.orm.comparisons_open(annotator=a, datanet=datanet, now=now).values_list("pk", flat=True))
    assert served == {pk for pk, is_open in expected.items() if is_open}


@pytest.mark.postgres
def test_the_sql_rules_read_as_their_python_twins(datanet_with, make_annotator):
    """Where PostgreSQL runs a rule in SQL (annotation_comparisons_open, annotation_gold_first), it answers
    what the Python rule answers for the same inputs."""
    a, datanet, now, expected = open_states(datanet_with, make_annotator)
    with connection.cursor() as cursor:
        cursor.execute("SELECT comparison_id FROM annotation_comparisons_open(%s, %s, %s, %s)",
                       [datanet.pk, datanet.overlap, a.pk, now])
        assert {row[0] for row in cursor.fetchall()} == {pk for pk, is_open in expected.items() if is_open}
        for gold_rate in (0.0, 0.1, 0.5, 1.0):
            for draw in (0.0, 0.0999, 0.1, 0.5, 0.999):
                cursor.execute("SELECT annotation_gold_first(%s, %s)", [gold_rate, draw])
                assert cursor.fetchone()[0] == rules.gold_first(gold_rate=gold_rate, draw=draw), (gold_rate, draw)


def token_for(user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key


def test_the_token_path_checks_token_role_and_datanet_in_order_and_writes_nothing_refused(
        datanet_with, make_annotator, engineer):
    """The judging services for an unchecked token, on every database: the same refusals whether Python
    (SQLite) or SQL (PostgreSQL) checks the token."""
    from feedback_site.accounts.roles import Role
    from feedback_site.accounts.services import user_create

    a, quitter = make_annotator("a"), make_annotator("quitter")
    admin = user_create(username="root", password=None, roles=[Role.ADMIN])
    datanet = datanet_with(n=3, annotators=[a, quitter, admin, engineer], overlap=3)
    quitter_token = token_for(quitter)
    type(quitter).objects.filter(pk=quitter.pk).update(is_active=False)
    refusals = [("0" * 40, errors.TokenRejected, "Invalid token."), (quitter_token, errors.TokenRejected,
                "User inactive or deleted."), (token_for(engineer), errors.RoleMissing, "annotator")]
    for token, refusal, message in refusals:
        with pytest.raises(refusal, match=message):
            services.assignment_next_with_token(token=token, role="annotator", datanet_slug="no-such-datanet")
        with pytest.raises(refusal, match=message):  # before the body's own refusal
            services.judgment_submit_with_token(token=token, role="annotator", assignment_id=1, choice="C",
                                                strength=1, time_spent_ms=1)
    with pytest.raises(errors.NotFound):
        services.assignment_next_with_token(token=token_for(a), role="annotator", datanet_slug="no-such-datanet")
    assert Assignment.objects.count() == 0
    held = services.assignment_next_with_token(token=token_for(a), role="annotator", datanet_slug=datanet.slug)
    assert held.annotator_id == a.pk and Assignment.objects.get().pk == held.id
    with pytest.raises(errors.InvalidInput, match="^choice"):
        services.judgment_submit_with_token(token=token_for(a), role="annotator", assignment_id=held.id, choice="C",
                                            strength=1, time_spent_ms=1)
    with pytest.raises(errors.NotAssigned):
        services.judgment_submit_with_token(token=token_for(admin), role="annotator", assignment_id=held.id,
                                            choice="A", strength=1, time_spent_ms=1)
    judgment = services.judgment_submit_with_token(token=token_for(a), role="annotator", assignment_id=held.id,
                                                   choice="B", strength=2, time_spent_ms=10)
    assert Judgment.objects.get().pk == judgment.id and judgment.annotator_id == a.pk
    assert services.assignment_next_with_token(token=token_for(admin), role="annotator", datanet_slug=datanet.slug)
