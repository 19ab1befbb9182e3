"""epoch_inputs_record, the one writer of an epoch's settlement inputs: refusals that write nothing,
the later set replacing the earlier one whole (kept for audit), and quality reaching settlement."""

import math
import threading

import pytest
from django.db import connection, connections, transaction

from feedback_site.annotation.services import datanet_create
from feedback_site.ledger import errors, selectors, services
from feedback_site.ledger.epoch_inputs import epoch_attribution_active, epoch_quality_active
from feedback_site.ledger.models import EpochAttribution, EpochInputSet, EpochQuality, EpochSettlement
from feedback_site.ledger.settlement import epoch_settle

from .conftest import model_version_make, quality_report_make, wallet_balance


def scores_rows(scores: dict, judgments: int = 10) -> list[dict]:
    return [{"contributor": user.contributor.pseudonym, "score": score, "judgments": judgments} for user, score in scores.items()]


def quality_rows(people, *, flagged=(), agreement=None) -> list[dict]:
    return [
        {"contributor": user.contributor.pseudonym, "flagged": user in flagged, "agreement": agreement,
         "flags": ["too_fast"] if user in flagged else []}
        for user in people
    ]


def record_scores(epoch: int, scores: dict, version=None, **kwargs):
    return services.epoch_inputs_record(
        epoch=epoch, source="attribution", rows=scores_rows(scores, **kwargs), model_version=version or model_version_make(f"rm-{epoch}-{len(scores)}")
    )


def stored() -> tuple:
    """Everything the service writes, row by row: what a refused call must leave as it was."""
    return (
        list(EpochInputSet.objects.order_by("id").values_list("id", "superseded_by_id")),
        list(EpochAttribution.objects.order_by("id").values_list("id", "contributor_id", "score", "judgments", "superseded_by_id")),
        list(EpochQuality.objects.order_by("id").values_list("id", "contributor_id", "flagged", "agreement", "superseded_by_id")),
    )


def test_scores_for_a_settled_epoch_are_refused_and_nothing_is_written(genesis, make_person, attribute):
    alice = make_person("alice")
    attribute(0, {alice: 1.0})
    epoch_settle(epoch=0)
    before = stored()
    with pytest.raises(errors.EpochAlreadySettled, match=r"epoch 0 was already settled at .* record them for epoch 1"):
        record_scores(0, {alice: 5.0})
    with pytest.raises(errors.EpochAlreadySettled, match="epoch 0 was already settled"):
        services.epoch_inputs_record(
            epoch=0, source="quality", rows=quality_rows([alice], flagged=(alice,)),
            quality_report=quality_report_make(datanet_create(name="Late")),
        )
    assert stored() == before
    record_scores(1, {alice: 5.0})  # the next unsettled epoch takes them
    assert list(epoch_attribution_active(epoch=1).values_list("score", flat=True)) == [5.0]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"contributor": "c_nobody", "score": 1.0, "judgments": 1}, r"rows\[1\]\.contributor: unknown contributor 'c_nobody'"),
        ({"score": float("nan"), "judgments": 1}, r"rows\[1\]\.score \(contributor 'c_\w+'\): expected a finite number, got nan"),
        ({"score": math.inf, "judgments": 1}, r"rows\[1\]\.score .*got inf"),
        ({"score": "1.0", "judgments": 1}, r"rows\[1\]\.score .*got '1.0'"),
        ({"score": 1.0, "judgments": -1}, r"rows\[1\]\.judgments .*expected an integer >= 0, got -1"),
        ({"score": 1.0}, r"rows\[1\]\.judgments .*missing"),
        ({"score": 1.0, "judgments": 1, "flagged": True}, r"rows\[1\]\.flagged .*unknown field"),
        ({"contributor": "ALICE", "score": 1.0, "judgments": 1}, r"rows\[1\]\.contributor: 'c_\w+' appears twice \(rows 0 and 1\)"),
    ],
)
def test_a_bad_attribution_row_leaves_the_stored_inputs_as_they_were(genesis, make_person, attribute, row, message):
    alice, bob = make_person("alice"), make_person("bob")
    attribute(0, {alice: 1.0, bob: 2.0}, flagged=(bob,))
    before = stored()
    bad = {"contributor": bob.contributor.pseudonym, **row}
    if bad["contributor"] == "ALICE":
        bad["contributor"] = alice.contributor.pseudonym
    rows = [{"contributor": alice.contributor.pseudonym, "score": 9.0, "judgments": 3}, bad]
    with pytest.raises(errors.InvalidInput, match=message):
        services.epoch_inputs_record(epoch=0, source="attribution", rows=rows, model_version=model_version_make("rm-bad"))
    assert stored() == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"agreement": 1.5}, r"rows\[0\]\.agreement .*expected a number in \[0, 1\] or null, got 1.5"),
        ({"agreement": -0.1}, r"rows\[0\]\.agreement .*got -0.1"),
        ({"flagged": "yes"}, r"rows\[0\]\.flagged .*expected true or false"),
        ({"flags": "too_fast"}, r"rows\[0\]\.flags .*expected a list of flag codes"),
    ],
)
def test_a_bad_quality_row_leaves_the_stored_inputs_as_they_were(genesis, make_person, attribute, change, message):
    alice = make_person("alice")
    attribute(0, {alice: 1.0}, agreement=0.5)
    before = stored()
    rows = [{**quality_rows([alice])[0], **change}]
    with pytest.raises(errors.InvalidInput, match=message):
        services.epoch_inputs_record(epoch=0, source="quality", rows=rows, quality_report=quality_report_make(datanet_create(name="Q")))
    assert stored() == before


def test_each_source_needs_what_it_came_from(genesis, make_person):
    alice = make_person("alice")
    with pytest.raises(errors.InvalidInput, match="model_version: attribution scores need the saved ModelVersion"):
        services.epoch_inputs_record(epoch=0, source="attribution", rows=scores_rows({alice: 1.0}))
    with pytest.raises(errors.InvalidInput, match="quality_report: quality flags need the saved QualityReport"):
        services.epoch_inputs_record(epoch=0, source="quality", rows=quality_rows([alice]))
    with pytest.raises(errors.InvalidInput, match="source: expected one of attribution, quality, got 'fees'"):
        services.epoch_inputs_record(epoch=0, source="fees", rows=[])
    with pytest.raises(errors.InvalidInput, match="epoch: expected an integer >= 0, got -1"):
        record_scores(-1, {alice: 1.0})
    assert stored() == ([], [], [])


def test_a_later_model_version_replaces_the_epochs_scores_whole_and_the_earlier_set_is_kept(genesis, make_person):
    alice, bob, carol = make_person("alice"), make_person("bob"), make_person("carol")
    first_version, second_version = model_version_make("rm-v1"), model_version_make("rm-v2")
    first = record_scores(0, {alice: 1.0, bob: 3.0}, first_version)
    second = record_scores(0, {alice: 2.0, carol: 2.0}, second_version)

    active = {row.contributor_id: row for row in epoch_attribution_active(epoch=0)}
    assert {row.contributor_id: (row.score, row.model_version_id) for row in active.values()} == {
        alice.contributor.id: (2.0, second_version.id),
        carol.contributor.id: (2.0, second_version.id),
    }  # bob, scored only by the earlier model, no longer counts
    kept = EpochAttribution.objects.filter(input_set=first).order_by("contributor_id")
    assert [(row.contributor_id, row.score, row.model_version_id, row.superseded_by_id) for row in kept] == [
        (alice.contributor.id, 1.0, first_version.id, second.id),
        (bob.contributor.id, 3.0, first_version.id, second.id),
    ]
    first.refresh_from_db()
    assert first.superseded_by == second and second.superseded_by is None and second.rows == 2

    settlement = epoch_settle(epoch=0)
    assert settlement.contributors == 2
    assert selectors.wallet_for(contributor=bob.contributor) is None  # not even a wallet: bob is not in the epoch
    assert abs(wallet_balance(alice) - wallet_balance(carol)) <= 1  # 2.0 and 2.0, not 1.0 + 2.0 merged
    assert wallet_balance(alice) + wallet_balance(carol) == settlement.budget


def test_a_newer_quality_report_replaces_its_datanets_flags_whole_and_other_datanets_stay(genesis, make_person, attribute):
    alice, bob, carol = make_person("alice"), make_person("bob"), make_person("carol")
    attribute(0, {alice: 1.0, bob: 1.0, carol: 1.0})
    support, legal = datanet_create(name="Support"), datanet_create(name="Legal")
    old = services.epoch_inputs_record(
        epoch=0, source="quality", rows=quality_rows([alice, bob], flagged=(alice, bob), agreement=0.2),
        quality_report=quality_report_make(support),
    )
    services.epoch_inputs_record(
        epoch=0, source="quality", rows=[{**quality_rows([carol], flagged=(carol,))[0], "agreement": 0.9, "judgments": 30}],
        quality_report=quality_report_make(legal),
    )
    newer = services.epoch_inputs_record(
        epoch=0, source="quality",
        rows=[{**quality_rows([bob], flagged=(bob,))[0], "agreement": 0.6, "judgments": 10},
              {**quality_rows([carol])[0], "agreement": 0.5, "judgments": 10}],
        quality_report=quality_report_make(support),
    )
    quality = epoch_quality_active(epoch=0)
    pseudonym = {user: user.contributor.pseudonym for user in (alice, bob, carol)}
    # alice's flag came only from Support's older report: replaced whole, she is clean now.
    assert quality.flagged == {pseudonym[bob], pseudonym[carol]}  # carol: flagged by Legal, clean in Support
    assert quality.agreement[pseudonym[bob]] == pytest.approx(0.6)
    assert quality.agreement[pseudonym[carol]] == pytest.approx((0.9 * 30 + 0.5 * 10) / 40)
    assert pseudonym[alice] not in quality.agreement
    assert EpochQuality.objects.filter(input_set=old, superseded_by=newer).count() == 2  # kept for audit

    epoch_settle(epoch=0)
    assert wallet_balance(bob) == wallet_balance(carol) == 0 < wallet_balance(alice)


def test_quality_recorded_before_or_after_the_scores_reaches_settlement_the_same(genesis, make_person):
    alice, mallory = make_person("alice"), make_person("mallory")
    report = quality_report_make(datanet_create(name="Support"))
    services.epoch_inputs_record(epoch=0, source="quality", rows=quality_rows([mallory], flagged=(mallory,)), quality_report=report)
    record_scores(0, {alice: 1.0, mallory: 5.0})
    settlement = epoch_settle(epoch=0)
    assert selectors.epoch_payouts(epoch=0) == {selectors.wallet_key(alice.contributor.pseudonym): settlement.budget}
    assert wallet_balance(mallory) == 0


def test_flagged_contributors_earn_neither_emission_nor_fees(genesis, make_person, attribute, fund):
    alice, mallory, owner, buyer = (make_person(n) for n in ("alice", "mallory", "owner", "buyer"))
    services.model_register(model_id="rm", owner=owner)
    consumer = services.consumer_account_open(user=buyer)
    services.ledger_transfer(source_key="allocation:liquidity", destination_key=consumer.key, amount=10**21)
    services.fee_record(user=buyer, request_id="r1", model_id="rm", calls=1, fee=10**21)
    attribute(0, {alice: 1.0, mallory: 100.0}, flagged=(mallory,))
    epoch_settle(epoch=0)
    assert wallet_balance(mallory) == 0 and wallet_balance(alice) > 0


def test_agreement_reaches_the_agreement_policy(genesis, make_person, attribute):
    careful, sloppy, unmeasured = make_person("careful"), make_person("sloppy"), make_person("unmeasured")
    services.policy_activate(name="agreement", params={"min_agreement_bps": 6000}, activates_at_epoch=0)
    attribute(0, {careful: 0.0, sloppy: 0.0, unmeasured: 0.0}, judgments=10)
    services.epoch_inputs_record(
        epoch=0, source="quality",
        rows=[{**quality_rows([careful])[0], "agreement": 0.9}, {**quality_rows([sloppy])[0], "agreement": 0.4}],
        quality_report=quality_report_make(datanet_create(name="Support")),
    )
    settlement = epoch_settle(epoch=0)
    assert settlement.policy_name == "agreement"
    assert wallet_balance(careful) == settlement.budget > 0  # the only one at or above 60% agreement
    assert wallet_balance(sloppy) == wallet_balance(unmeasured) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_settlement_waits_for_a_set_being_recorded(make_person):
    """The service records under the ledger head's lock: a settlement that starts meanwhile waits
    and then sees the whole set, never part of it."""
    assert connection.vendor == "postgresql"
    services.ledger_genesis()
    people = [make_person(f"p{i}") for i in range(5)]
    version = model_version_make("rm-slow")
    inside, release = threading.Event(), threading.Event()
    seen: list = []
    failures: list[BaseException] = []

    def record():
        try:
            with transaction.atomic():
                services.epoch_inputs_record(epoch=0, source="attribution", rows=scores_rows({p: 1.0 for p in people}), model_version=version)
                inside.set()
                release.wait(10)  # the set is written but not committed
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    def settle():
        try:
            inside.wait(10)
            seen.append(epoch_settle(epoch=0).contributors)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=record), threading.Thread(target=settle)]
    for thread in threads:
        thread.start()
    inside.wait(10)
    threads[1].join(timeout=1)
    assert threads[1].is_alive(), "settlement did not wait for the set being recorded"
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == [] and seen == [5]
    assert EpochSettlement.objects.get(epoch=0).contributors == 5
