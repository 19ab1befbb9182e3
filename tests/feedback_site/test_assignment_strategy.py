"""Assignment strategies on the judging path (`rlhf.active`): the random order, the most uncertain first, the random
share drawn per request and recorded on the assignment, on whichever database runs the tests."""

import random
from importlib import import_module

import numpy as np
import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection

from feedback_site.annotation import errors, services
from feedback_site.annotation.judging import rules
from feedback_site.annotation.models import Assignment, Comparison, Datanet
from rlhf import active


def served_in_order(annotator, datanet, n, rng=None):
    """The comparisons served one after the other to one annotator (k = 1, nothing submitted, no resume)."""
    return [services.assignment_next(annotator=annotator, datanet=datanet, resume=False, rng=rng) for _ in range(n)]


def test_random_serves_in_the_order_of_the_texts_shuffle_keys(datanet_with, make_annotator):
    a = make_annotator("a")
    datanet = datanet_with(n=12, annotators=[a], overlap=1, max_pending=50)
    comparisons = list(Comparison.objects.select_related("prompt", "response_a", "response_b"))
    for c in comparisons:  # every comparison's key is the one its texts give
        assert c.shuffle_key == active.shuffle_key(c.prompt.text, c.response_a.text, c.response_b.text)
    by_key = [c.id for c in sorted(comparisons, key=lambda c: c.shuffle_key)]
    assert by_key != sorted(by_key)  # the random order is not the order of arrival
    served = served_in_order(a, datanet, 12)
    assert [s.comparison_id for s in served] == by_key
    assert {s.strategy for s in served} == {active.RANDOM}
    assert set(Assignment.objects.values_list("strategy", flat=True)) == {active.RANDOM}


def test_uncertainty_serves_the_least_sure_first_and_unscored_before_any(datanet_with, make_annotator):
    a = make_annotator("a")
    datanet = datanet_with(n=8, annotators=[a], overlap=1, max_pending=50, assignment_strategy=active.UNCERTAINTY,
                           random_share=0.0)
    ids = list(Comparison.objects.order_by("id").values_list("id", flat=True))
    uncertainty = dict(zip(ids, [0.2, None, 0.9, 0.05, None, 0.6, 0.9, 0.4], strict=True))
    for cid, value in uncertainty.items():
        Comparison.objects.filter(pk=cid).update(uncertainty=value)
    keys = dict(Comparison.objects.values_list("id", "shuffle_key"))
    expected = sorted(ids, key=lambda c: (uncertainty[c] is not None, -(uncertainty[c] or 0.0), keys[c]))
    served = served_in_order(a, datanet, 8)
    assert [s.comparison_id for s in served] == expected
    assert set(Assignment.objects.values_list("strategy", flat=True)) == {active.UNCERTAINTY}


def test_least_judged_still_comes_first_under_uncertainty(datanet_with, make_annotator):
    a, b = make_annotator("a"), make_annotator("b")
    datanet = datanet_with(n=3, annotators=[a, b], overlap=2, max_pending=50, assignment_strategy=active.UNCERTAINTY,
                           random_share=0.0)
    sure, unsure, middle = Comparison.objects.order_by("id")
    for comparison, value in ((sure, 0.1), (unsure, 0.95), (middle, 0.5)):
        Comparison.objects.filter(pk=comparison.pk).update(uncertainty=value)
    Comparison.objects.filter(pk=unsure.pk).update(judgment_count=1)
    assert services.assignment_next(annotator=b, datanet=datanet).comparison_id == middle.pk


def test_the_random_share_is_drawn_per_request_recorded_and_served_by_the_shared_rule(datanet_with, make_annotator):
    """Each request's strategy is what `rlhf.active.strategy_drawn` says for its draw, and the comparison served is
    the one `rlhf.active.next_pick` picks for that strategy among those still open: the benchmark's rule."""
    a = make_annotator("a")
    datanet = datanet_with(n=16, annotators=[a], overlap=1, max_pending=50, assignment_strategy=active.UNCERTAINTY,
                           random_share=0.5)
    ids = list(Comparison.objects.order_by("id").values_list("id", flat=True))
    values = np.random.default_rng(3).random(len(ids))
    values[[2, 9]] = np.nan  # not scored yet
    for cid, value in zip(ids, values, strict=True):
        Comparison.objects.filter(pk=cid).update(uncertainty=None if np.isnan(value) else float(value))
    keys = np.array([Comparison.objects.get(pk=cid).shuffle_key for cid in ids])
    open_mask = np.ones(len(ids), dtype=bool)
    rng, replay = random.Random(11), random.Random(11)
    drawn_strategies = []
    for held in served_in_order(a, datanet, 12, rng=rng):
        strategy = active.strategy_drawn(datanet.assignment_strategy, random_share=datanet.random_share,
                                         draw=rules.draws_from(replay).strategy)
        drawn_strategies.append(strategy)
        pick = active.next_pick(strategy, open_mask=open_mask, keys=keys, uncertainty=values)
        assert (held.strategy, held.comparison_id) == (strategy, ids[pick])
        assert Assignment.objects.get(pk=held.id).strategy == strategy
        open_mask[pick] = False
    assert set(drawn_strategies) == {active.RANDOM, active.UNCERTAINTY}  # the seed exercises both


@pytest.mark.parametrize(("field", "value", "message"), [
    ("assignment_strategy", "bandit", "assignment_strategy: must be one of random, uncertainty"),
    ("random_share", 1.5, "random_share: must be between 0 and 1"),
    ("random_share", "half", "random_share: must be a number"),
])
def test_a_bad_strategy_setting_is_refused_naming_the_field(db, field, value, message):
    with pytest.raises(errors.InvalidInput, match=message):
        services.datanet_create(name="Strategic", **{field: value})
    assert not Datanet.objects.exists()


def test_the_strategy_is_an_option_of_import_datanet_and_can_be_changed(db, hh_sample_path):
    with pytest.raises(CommandError, match="--assignment-strategy"):
        call_command("import_datanet", str(hh_sample_path), "--datanet", "h", "--assignment-strategy", "bandit")
    assert not Datanet.objects.exists()
    call_command("import_datanet", str(hh_sample_path), "--datanet", "h", "--assignment-strategy", "uncertainty",
                 "--random-share", "0.3")
    datanet = Datanet.objects.get()
    assert (datanet.assignment_strategy, datanet.random_share) == ("uncertainty", 0.3)
    services.datanet_strategy_set(datanet=datanet, assignment_strategy="random")
    datanet.refresh_from_db()
    assert (datanet.assignment_strategy, datanet.random_share) == ("random", 0.3)
    with pytest.raises(errors.InvalidInput, match="random_share"):
        services.datanet_strategy_set(datanet=datanet, assignment_strategy="uncertainty", random_share=-0.1)


def test_the_migration_gives_existing_comparisons_the_keys_of_their_texts(datanet_with):
    datanet_with(n=5)
    Comparison.objects.update(shuffle_key=0.0)
    import_module("feedback_site.annotation.migrations.0007_assignment_strategy").shuffle_keys_fill(apps, None)
    for c in Comparison.objects.select_related("prompt", "response_a", "response_b"):
        assert c.shuffle_key == active.shuffle_key(c.prompt.text, c.response_a.text, c.response_b.text) > 0


@pytest.mark.postgres
def test_the_sql_strategy_draw_reads_as_its_python_twin(db):
    with connection.cursor() as cursor:
        for strategy in active.STRATEGIES:
            for share in (0.0, 0.2, 1.0):
                for draw in (0.0, 0.1999, 0.2, 0.7, 0.9999):
                    cursor.execute("SELECT annotation_strategy_drawn(%s, %s, %s)", [strategy, share, draw])
                    expected = active.strategy_drawn(strategy, random_share=share, draw=draw)
                    assert cursor.fetchone()[0] == expected, (strategy, share, draw)
