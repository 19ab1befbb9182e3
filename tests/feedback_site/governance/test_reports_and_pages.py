"""Reports in the site: built from a sweep by the job (with its stage), by the command (the same
page as the simulator's), readable by every signed-in role, downloadable; the proposal pages."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from feedback_site.accounts.roles import Role
from feedback_site.governance import errors
from feedback_site.governance.models import Proposal, ReportState, SimulationReport, VoteCast
from feedback_site.governance.services import report_create_from_sweep, report_request, report_run
from simulator.cli import main as simulator_main
from tests.simulator.report.conftest import tiny_sweep_config


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    from simulator.sweep import run_sweep

    return run_sweep(tiny_sweep_config(tmp_path_factory.mktemp("gov_sweep"), scenarios=("sybil_attack",)))


def test_the_command_writes_the_same_page_as_the_simulator_and_can_store_it(sweep_dir, tmp_path, db):
    ours, theirs = tmp_path / "site.html", tmp_path / "sim.html"
    call_command("report", str(sweep_dir), "--out", str(ours), "--store", stdout=io.StringIO())
    assert simulator_main(["report", str(sweep_dir), "--out", str(theirs)]) == 0
    assert ours.read_bytes() == theirs.read_bytes()
    stored = SimulationReport.objects.get()
    assert (
        stored.state == ReportState.DONE
        and stored.html == ours.read_text()
        and stored.manifest["name"] == "tiny"
    )


def test_the_command_names_a_bad_folder(tmp_path, db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not a folder"):
        call_command("report", str(tmp_path / "none"), "--out", str(tmp_path / "x.html"))
    with pytest.raises(errors.ReportInvalid, match="manifest.json: missing"):
        report_create_from_sweep(sweep_dir=tmp_path)


def test_the_job_runs_the_sweep_records_its_stage_and_stores_the_page(
    tmp_path, db, django_capture_on_commit_callbacks
):
    config = tiny_sweep_config(tmp_path, seeds=1, scenarios=("price_crash",))
    data = {
        "name": "job",
        "scenarios": list(config.scenarios),
        "policies": ["attribution_bonded"],
        "seeds": 1,
        "processes": 1,
    }
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = report_request(sweep_config=data, title="from the site", by=None)
    assert len(callbacks) == 1 and report.state == ReportState.QUEUED
    done = report_run(report_id=report.id, output_root=tmp_path / "out")
    assert done.state == ReportState.DONE and done.stage == "done" and '<section id="charts">' in done.html
    assert report_run(report_id=report.id, output_root=tmp_path / "out").html_sha256 == done.html_sha256
    with pytest.raises(errors.ReportInvalid, match="seeds"):
        report_request(sweep_config={"seeds": 0}, title="bad", by=None)


def test_a_failing_sweep_marks_the_report_failed_with_the_reason(tmp_path, db):
    report = SimulationReport.objects.create(title="x", sweep_config={"scenarios": ["no_such_scenario"]})
    failed = report_run(report_id=report.id, output_root=tmp_path)
    assert failed.state == ReportState.FAILED and "no_such_scenario" in failed.error


def _login(client, user):
    client.force_login(user)
    return client


def test_every_role_reads_and_downloads_reports_but_only_governance_creates(client, person, report):
    annotator = person("ann", 20, roles=(Role.ANNOTATOR,))
    _login(client, annotator)
    assert client.get(reverse("governance_report_view", args=[report.id])).content.decode() == report.html
    download = client.get(reverse("governance_report_download", args=[report.id]))
    assert download["Content-Disposition"].startswith("attachment;")
    assert client.post(reverse("governance_report_new"), {"config": "seeds: 1"}).status_code == 403
    assert client.post(reverse("governance_proposal_new"), {}).status_code == 403


def test_proposal_pages_create_vote_and_refuse_an_annotator(client, person, report):
    alice = person("alice", 30)
    annotator = person("ann", 20, roles=(Role.ANNOTATOR,))
    _login(client, alice)
    deadline = (timezone.localtime() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("governance_proposal_new"),
        {
            "title": "More bond",
            "policy_name": "attribution_bonded",
            "policy_params": '{"fee_multiple_bps": 40000}',
            "report": report.id,
            "deadline": deadline,
            "quorum_bps": "2000",
            "threshold_bps": "5000",
        },
    )
    proposal = Proposal.objects.get()
    assert response.url == reverse("governance_proposal", args=[proposal.id])
    client.post(reverse("governance_vote", args=[proposal.id]), {"choice": "for"})
    page = client.get(reverse("governance_proposal", args=[proposal.id])).content.decode()
    assert VoteCast.objects.get().choice == "for" and 'id="vote-form"' in page and "matches" in page
    _login(client, annotator)
    client.post(reverse("governance_vote", args=[proposal.id]), {"choice": "against"})
    assert VoteCast.objects.count() == 1
    page = client.get(reverse("governance_proposal", args=[proposal.id])).content.decode()
    assert 'id="vote-form"' not in page and "You cannot vote" in page
    response = client.post(reverse("governance_comment", args=[proposal.id]), {"text": "Looks fine"})
    assert response.status_code == 302 and proposal.comments.get().text == "Looks fine"


def test_a_bad_proposal_form_says_which_field(client, person, report):
    alice = person("alice", 30)
    _login(client, alice)
    response = client.post(
        reverse("governance_proposal_new"),
        {
            "title": "x",
            "policy_name": "attribution_bonded",
            "policy_params": "{not json",
            "report": report.id,
            "deadline": "2099-01-01T00:00",
            "quorum_bps": "2000",
            "threshold_bps": "5000",
        },
        follow=True,
    )
    assert "policy_params: not JSON" in response.content.decode() and not Proposal.objects.exists()


def test_an_unfinished_report_page_shows_its_stage_and_reloads(client, person):
    report = SimulationReport.objects.create(
        title="running", state=ReportState.RUNNING, stage="running 8 simulation runs"
    )
    _login(client, person("ann", 0, roles=(Role.ANNOTATOR,)))
    page = client.get(reverse("governance_report", args=[report.id])).content.decode()
    assert "running 8 simulation runs" in page and 'http-equiv="refresh"' in page
    assert client.get(reverse("governance_report_view", args=[report.id])).status_code == 404
    assert (
        client.get(reverse("governance_report_progress", args=[report.id])).json()["stage"]
        == "running 8 simulation runs"
    )
