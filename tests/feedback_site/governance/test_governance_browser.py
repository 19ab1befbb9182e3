"""A governance member in a real browser: opens a report (its charts render), proposes a policy
change, two stakers vote, the proposal passes and the next settlement uses the new policy."""

from datetime import timedelta

import pytest
from django.utils import timezone

from feedback_site.governance.models import Proposal, ProposalStatus
from feedback_site.governance.services import report_create_from_sweep
from feedback_site.ledger.settlement import epoch_settle
from simulator.report import analyse, load_sweep
from simulator.sweep import run_sweep
from tests.feedback_site.test_browser import ARTIFACTS, browser_page, log_in  # noqa: F401 (a fixture)
from tests.simulator.report.conftest import tiny_sweep_config

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_report_proposal_two_votes_and_the_next_settlement(live_server, browser_page, person, tmp_path):  # noqa: F811
    page, base = browser_page, live_server.url
    person("alice", 30)
    person("bob", 20)
    person("carol", 10)  # stakes but does not vote: the quorum is a share of all stake
    sweep_dir = run_sweep(tiny_sweep_config(tmp_path, scenarios=("sybil_attack", "price_crash")))
    report = report_create_from_sweep(sweep_dir=sweep_dir, title="Bond 5x fees")

    log_in(page, base, "alice", "pw-alice-123")
    page.click("#nav-governance")
    page.goto(f"{base}/governance/reports/{report.id}/")
    page.click("#open-report")
    page.wait_for_selector("#charts figure svg")
    sizes = page.eval_on_selector_all(
        "#charts figure svg",
        "svgs => svgs.map(s => [s.getBoundingClientRect().width, s.getBoundingClientRect().height, s.querySelectorAll('path').length])",
    )
    assert len(sizes) == 6 and all(w > 100 and h > 100 and paths > 0 for w, h, paths in sizes)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#chart-attacker_reward_share").screenshot(
        path=str(ARTIFACTS / "governance-report-chart.png")
    )
    page.screenshot(path=str(ARTIFACTS / "governance-report.png"), full_page=True)
    checks = analyse(load_sweep(sweep_dir)).checks  # every threshold on every scenario it covers, per policy
    assert len(checks) > 4
    assert page.locator("#check-table tr.pass, #check-table tr.fail").count() == len(checks)
    assert page.locator("#check-table tr.fail").count() == sum(not check.passed for check in checks)

    page.goto(f"{base}/governance/proposals/")
    page.fill("input[name=title]", "Bond five times the fees")
    page.fill("input[name=policy_params]", '{"fee_multiple_bps": 50000}')
    page.select_option("select[name=report]", str(report.id))
    page.fill("input[name=deadline]", (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    page.fill("input[name=quorum_bps]", "5000")
    page.click("#create-proposal")
    page.wait_for_selector("#vote-form")
    proposal = Proposal.objects.get()
    assert proposal.total_stake == 60 * 10**18
    page.click("#vote-for")
    page.wait_for_selector(".flash")
    page.click("#logout")

    log_in(page, base, "bob", "pw-bob-123")
    page.goto(f"{base}/governance/proposals/{proposal.id}/")
    page.click("#vote-for")
    page.wait_for_selector(".flash")
    assert page.inner_text("#tally tr:nth-child(2) td:first-child") == "50"  # OPEN for: 30 + 20

    # The clock moves past the deadline; the next visit closes the vote.
    Proposal.objects.filter(id=proposal.id).update(deadline=timezone.now() - timedelta(seconds=1))
    page.goto(f"{base}/governance/proposals/{proposal.id}/")
    assert "Accepted" in page.inner_text("#proposal-status")
    assert "matches" in page.inner_text("#verification")
    activates = int(page.inner_text("#activates-at"))
    page.screenshot(path=str(ARTIFACTS / "governance-proposal-accepted.png"), full_page=True)

    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.ACCEPTED
    settlement = epoch_settle(epoch=activates, allow_empty=True)
    assert (
        settlement.policy_name == "attribution_bonded"
        and settlement.policy_params["fee_multiple_bps"] == 50000
    )
