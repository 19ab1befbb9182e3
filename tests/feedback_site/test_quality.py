import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from scipy.stats import spearmanr

from feedback_site.accounts.models import Contributor
from feedback_site.annotation import services
from feedback_site.annotation.exports import trl_rows
from feedback_site.annotation.models import Comparison
from feedback_site.ledger import selectors as ledger_selectors
from feedback_site.ledger import services as ledger_services
from feedback_site.ledger.models import EpochQuality
from feedback_site.ledger.settlement import epoch_settle
from feedback_site.quality import services as quality
from feedback_site.quality.models import QualityReport, QualityState

from .conftest import judge
from .ledger.conftest import model_version_make


@pytest.fixture
def harmless(db, hh_sample_path):
    call_command("import_datanet", str(hh_sample_path), "--datanet", "harmless")
    from feedback_site.annotation.models import Datanet

    return Datanet.objects.get(name="harmless")


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_simulated_population_through_the_site_is_measured_against_its_truth(harmless, capsys):
    quality.gold_from_reference(datanet=harmless, fraction=0.25, seed=1)
    call_command("simulate_annotators", "harmless", "--annotators", "10", "--overlap", "3",
                 "--mix", "honest=0.6,flip=0.2,left=0.2", "--seed", "4")
    truth = last_json(capsys)
    assert len(truth) == 10 and {v["kind"] for v in truth.values()} == {"honest", "flip", "left"}
    assert set(Comparison.objects.filter(datanet=harmless).values_list("judgment_count", flat=True)) == {3}
    call_command("quality_report", "harmless", "--json")
    report = last_json(capsys)
    assert report["alpha"]["value"] is not None and len(report["alpha"]["ci95"]) == 2
    assert set(report["annotators"]) == set(truth)
    ids = sorted(truth)
    rho = spearmanr([truth[i]["accuracy"] for i in ids], [report["annotators"][i]["reliability"] for i in ids]).statistic
    assert rho > 0.7
    for pseudonym, person in truth.items():
        flags = report["annotators"][pseudonym]["flags"]
        if person["kind"] == "left":
            assert "position_bias" in flags
        if person["kind"] == "honest":
            assert flags == []


def test_reliability_weighted_export_and_exclusions_are_recorded(harmless, engineer, capsys):
    # Honest people in the majority: with as many flippers as honest ones, which of the two a Dawid-Skene fit
    # without gold takes for the truth depends on who happened to judge what (seeds 0-4 give 0.87-0.92 here).
    call_command("simulate_annotators", "harmless", "--annotators", "10", "--mix", "honest=0.8,flip=0.2", "--seed", "2")
    people = last_json(capsys)
    flipper = next(p for p, v in people.items() if v["kind"] == "flip")
    quality.exclusion_add(datanet=harmless, pseudonym=flipper, reason="flips labels", by=engineer)
    snapshot = services.snapshot_create(datanet=harmless, aggregation="reliability")
    assert snapshot.metadata["aggregation"] == "reliability"
    assert snapshot.metadata["excluded_contributors"] == [flipper]
    assert snapshot.metadata["exclusions"][0]["reason"] == "flips labels"
    alpha = snapshot.metadata["agreement"]["krippendorff_alpha"]
    assert alpha["value"] is not None and alpha["ci95"][0] <= alpha["value"] <= alpha["ci95"][1]  # alpha per snapshot
    rows = list(trl_rows(snapshot))
    assert rows and all(flipper not in r["contributor_ids"] for r in rows)
    assert all(r["margin"] >= 0 for r in rows)
    # the reference answer is the truth the honest ones follow: the weighted labels mostly agree with it
    reference = dict(Comparison.objects.filter(datanet=harmless).values_list("id", "reference_choice"))
    texts = {c.id: c.response_a.text for c in Comparison.objects.select_related("response_a")}
    agree = sum((r["chosen"] == texts[r["comparison_id"]]) == (reference[r["comparison_id"]] == "a") for r in rows)
    assert agree / len(rows) > 0.8
    exclusion = harmless.exclusions.get()
    quality.exclusion_revoke(exclusion=exclusion, by=engineer)
    assert services.snapshot_create(datanet=harmless).metadata["excluded_contributors"] == []
    assert harmless.exclusions.get().revoked_at is not None  # kept as history


def test_recompute_is_debounced_and_runs_in_a_task(datanet_with, make_annotator, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    from feedback_site.quality import tasks

    monkeypatch.setattr(tasks.quality_recompute, "apply_async", lambda args, countdown: queued.append((args, countdown)))
    people = [make_annotator(f"a{i}") for i in range(2)]
    datanet = datanet_with(n=4, annotators=people, overlap=2)
    with django_capture_on_commit_callbacks(execute=True):
        for person in people:
            judge(person, datanet)
            judge(person, datanet, choice="B")
    assert queued == [([datanet.id], 30)]  # four judgments, one queued recomputation
    assert QualityReport.objects.count() == 0  # nothing computed in the request
    tasks.quality_recompute(datanet.id)
    assert QualityReport.objects.get().judgments == 4
    assert QualityState.objects.get(datanet=datanet).scheduled_at is None
    tasks.quality_recompute(datanet.id)  # twice is harmless
    assert QualityReport.objects.count() == 1


def test_a_broker_outage_does_not_fail_the_judgment_and_the_next_one_queues_again(
    datanet_with, make_annotator, django_capture_on_commit_callbacks, monkeypatch
):
    from kombu.exceptions import OperationalError

    from feedback_site.annotation.models import Judgment
    from feedback_site.quality import tasks

    queued = []

    def broker_down(args, countdown):
        raise OperationalError("[Errno 111] Connection refused")

    people = [make_annotator(f"a{i}") for i in range(2)]
    datanet = datanet_with(n=2, annotators=people, overlap=2)
    monkeypatch.setattr(tasks.quality_recompute, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        judge(people[0], datanet)  # no exception: the judgment stands
    assert Judgment.objects.count() == 1
    assert QualityState.objects.get(datanet=datanet).scheduled_at is None  # the claim was given back
    monkeypatch.setattr(tasks.quality_recompute, "apply_async", lambda args, countdown: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        judge(people[1], datanet)
    assert queued == [[datanet.id]]


def test_the_recompute_button_queues_the_work_and_computes_nothing_in_the_request(
    client, engineer, datanet_with, make_annotator, monkeypatch
):
    from kombu.exceptions import OperationalError

    from feedback_site.quality import tasks

    queued = []
    monkeypatch.setattr(tasks.quality_recompute, "apply_async", lambda args, countdown: queued.append((args, countdown)))
    people = [make_annotator(f"a{i}") for i in range(2)]
    datanet = datanet_with(n=2, annotators=people, overlap=2)
    for person in people:
        judge(person, datanet)
    client.force_login(engineer)
    page = client.post(reverse("quality_recompute", args=[datanet.slug]), follow=True)
    assert b"Recomputation queued" in page.content
    assert queued == [([datanet.id], 0)] and QualityReport.objects.count() == 0
    tasks.quality_recompute(*queued[0][0])  # what the worker runs
    assert QualityReport.objects.get().judgments == 2

    def broker_down(args, countdown):
        raise OperationalError("[Errno 111] Connection refused")

    monkeypatch.setattr(tasks.quality_recompute, "apply_async", broker_down)
    page = client.post(reverse("quality_recompute", args=[datanet.slug]), follow=True)
    assert b"cannot be reached" in page.content and QualityReport.objects.count() == 1


def test_edge_cases_get_reasons_not_numbers(datanet_with, make_annotator, capsys):
    one = make_annotator("solo")
    datanet = datanet_with(n=3, annotators=[one], overlap=1)
    judge(one, datanet, choice="tie")
    call_command("quality_report", datanet.name, "--json")
    report = last_json(capsys)
    assert report["alpha"]["value"] is None and report["alpha"]["reason"]
    call_command("quality_report", datanet.name)
    assert "not computable" in capsys.readouterr().out


def test_dashboard_and_own_page(client, harmless, engineer, capsys):
    call_command("simulate_annotators", "harmless", "--annotators", "6", "--mix", "honest=0.5,left=0.5", "--seed", "3")
    people = last_json(capsys)
    quality.quality_report_compute(datanet=harmless)
    client.force_login(engineer)
    page = client.get(reverse("quality_dashboard", args=[harmless.slug]))
    assert page.status_code == 200 and b"<svg" in page.content and b"position_bias" in page.content
    from django.contrib.auth import get_user_model

    someone = get_user_model().objects.get(username=next(iter(people.values()))["username"])
    client.force_login(someone)
    own = client.get(reverse("my_quality")).content.decode()
    others = [p for p in people if p != someone.contributor.pseudonym]
    assert someone.contributor.pseudonym in own and not any(p in own for p in others)
    assert client.get(reverse("quality_dashboard", args=[harmless.slug])).status_code == 403


def test_same_seed_same_simulated_judgments(db, hh_sample_path, capsys):
    from feedback_site.annotation.models import Judgment

    outcomes = []
    for name in ("first", "second"):
        call_command("import_datanet", str(hh_sample_path), "--datanet", name)
        call_command("simulate_annotators", name, "--annotators", "4", "--mix", "honest=0.5,random=0.5", "--seed", "9")
        outcomes.append(
            list(
                Judgment.objects.filter(datanet__name=name)
                .order_by("id")
                .values_list("comparison__prompt__external_id", "choice", "shown_left", "strength", "time_spent_ms")
            )
        )
    assert outcomes[0] == outcomes[1] and len(outcomes[0]) == 360


def test_a_report_records_flags_and_agreement_for_the_next_epoch_and_settlement_pays_by_them(harmless, engineer, capsys):
    ledger_services.ledger_genesis()
    quality.gold_from_reference(datanet=harmless, fraction=0.25, seed=1)
    call_command("simulate_annotators", "harmless", "--annotators", "10", "--overlap", "3",
                 "--mix", "honest=0.6,flip=0.2,left=0.2", "--seed", "4")
    truth = last_json(capsys)
    honest = sorted(p for p, v in truth.items() if v["kind"] == "honest")
    left = [p for p, v in truth.items() if v["kind"] == "left"]
    excluded = honest.pop(0)
    exclusion = quality.exclusion_add(datanet=harmless, pseudonym=excluded, reason="reviewed: copies answers", by=engineer)
    stored = quality.quality_report_compute(datanet=harmless)

    rows = {row.contributor.pseudonym: row for row in EpochQuality.objects.active().filter(epoch=0)}
    entries = {entry["annotator_id"]: entry for entry in stored.report["annotators"]}
    assert set(rows) == set(truth) == set(entries)
    for pseudonym, row in rows.items():
        codes = [flag["code"] for flag in entries[pseudonym]["flags"]]
        assert row.flags == codes + (["excluded"] if pseudonym == excluded else [])
        assert row.flagged == bool(row.flags) and row.input_set.quality_report == stored
        assert row.agreement == entries[pseudonym]["agreement"]["value"] and 0 <= row.agreement <= 1  # overlap 3: peers
        assert row.judgments == entries[pseudonym]["n_judgments"]
    assert all(rows[p].flagged and "position_bias" in rows[p].flags for p in left)
    assert not any(rows[p].flagged for p in honest)

    everyone = Contributor.objects.filter(pseudonym__in=list(truth))
    ledger_services.epoch_inputs_record(
        epoch=0, source="attribution", rows=[{"contributor": c, "score": 1.0, "judgments": 10} for c in everyone],
        model_version=model_version_make("rm-harmless"),
    )
    epoch_settle(epoch=0)
    paid = {key.removeprefix("contributor:") for key in ledger_selectors.epoch_payouts(epoch=0)}
    assert paid == {p for p, row in rows.items() if not row.flagged} and set(honest) <= paid
    assert excluded not in paid and not paid & set(left)

    # The next report is for epoch 1 and replaces nothing of epoch 0; revoked, the exclusion no longer flags.
    quality.exclusion_revoke(exclusion=exclusion, by=engineer)
    quality.quality_report_compute(datanet=harmless)
    assert not EpochQuality.objects.active().get(epoch=1, contributor__pseudonym=excluded).flagged
    assert EpochQuality.objects.active().get(epoch=0, contributor__pseudonym=excluded).flags == ["excluded"]


def test_too_fast_is_the_active_policys_rule(harmless, capsys):
    call_command("simulate_annotators", "harmless", "--annotators", "6", "--mix", "honest=1", "--seed", "5")
    honest = set(last_json(capsys))
    default = quality.quality_report_compute(datanet=harmless)
    assert default.report["thresholds"]["too_fast_ratio"] == 0.35
    ledger_services.policy_activate(name="attribution", params={"too_fast_bps": 10000}, activates_at_epoch=0)
    strict = quality.quality_report_compute(datanet=harmless)
    assert strict.report["thresholds"]["too_fast_ratio"] == 1.0
    fast = {row.contributor.pseudonym for row in EpochQuality.objects.active().filter(epoch=0) if "too_fast" in row.flags}
    # At 1.0x the Datanet's median, the faster half of six honest people are "too fast"; at 0.35x none is.
    assert fast and fast <= honest
    assert not any(flag["code"] == "too_fast" for entry in default.report["annotators"] for flag in entry["flags"])
