"""One rule set: the site settles with the economy's own rules (fee split, flag means no pay, the
evidence policy's standing) and pays the same integers as the simulator given the same inputs;
a parameter set that cannot work is refused naming the field, by the API, the form and the CLI."""

import json
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from feedback_site.accounts.roles import Role
from feedback_site.governance.models import Proposal
from feedback_site.ledger import selectors, services
from feedback_site.ledger.epoch_inputs import epoch_inputs_record
from feedback_site.ledger.models import EpochSettlement, EpochStanding
from feedback_site.ledger.settlement import epoch_settle
from simulator.attribution_model import Kind
from simulator.economy.policies import POLICIES, policy_from_dict
from simulator.economy.schedule import ScheduleParams
from simulator.settlement import EpochWork, StandingBook, settle

from .conftest import model_version_make, quality_report_make, wallet_balance

PEOPLE = 8
FEE = 3 * 10**17 + 7


@pytest.fixture
def small_genesis(db):
    """A supply small enough that three epochs' budgets fit the simulator's int64 amounts
    (about 2 OPEN of emission an epoch), so the simulator can settle the site's own numbers."""
    assert services.ledger_genesis(schedule=ScheduleParams(total_supply_open=5_000)) is True


def _record_epoch(epoch: int, people, rng) -> dict:
    """Scores (some negative), distinct judgment counts, agreement, one flagged contributor;
    recorded through the one owner of epoch inputs. Returns the inputs by person index."""
    counts = rng.permutation(np.arange(5, 5 + PEOPLE)) * 3
    agreed = np.minimum(counts, rng.integers(1, 15, PEOPLE))
    scores = rng.normal(2.0, 6.0, PEOPLE)
    flagged = int(rng.integers(0, PEOPLE))
    version = model_version_make(f"rm-{epoch}")
    epoch_inputs_record(
        epoch=epoch,
        source="attribution",
        rows=[
            {"contributor": p.contributor, "score": float(scores[i]), "judgments": int(counts[i])}
            for i, p in enumerate(people)
        ],
        model_version=version,
    )
    epoch_inputs_record(
        epoch=epoch,
        source="quality",
        rows=[
            {"contributor": p.contributor, "flagged": i == flagged, "agreement": float(agreed[i] / counts[i]),
             "flags": ["too_fast"] if i == flagged else [], "judgments": int(counts[i])}
            for i, p in enumerate(people)
        ],
        quality_report=quality_report_make(version.job.snapshot.datanet),
    )  # fmt: skip
    return {"count": counts, "agreed": agreed, "score": scores, "flagged": flagged}


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_the_site_pays_what_the_simulator_pays_for_the_same_inputs(small_genesis, make_person, name):
    # Pseudonyms sort as the simulator's account names do (c0 < c1 < ...), so even a tie between
    # equal remainders goes the same way.
    people = sorted((make_person(f"p{i}") for i in range(PEOPLE)), key=lambda p: p.contributor.pseudonym)
    for person in people:
        services.wallet_ensure(contributor=person.contributor)
    owner, buyer = make_person("owner"), make_person("buyer")
    model = services.model_register(model_id="rm", owner=owner)
    consumer = services.consumer_account_open(user=buyer)
    services.ledger_transfer(source_key="allocation:liquidity", destination_key=consumer.key, amount=10 * FEE)
    params = policy_from_dict(name, {"fee_contributors_bps": 6000, "fee_treasury_bps": 0})
    services.policy_activate(name=name, params=dict(vars(params)), activates_at_epoch=0)
    rng = np.random.default_rng(11)
    book = StandingBook()
    owner_total = 0
    for epoch in range(3 if name == "attribution_evidence" else 1):
        services.fee_record(user=buyer, request_id=f"r{epoch}", model_id="rm", calls=1, fee=FEE)
        drawn = _record_epoch(epoch, people, rng)
        before = [wallet_balance(p) for p in people]
        settlement = epoch_settle(epoch=epoch)
        site_paid = selectors.epoch_payouts(epoch=epoch)
        rows = np.arange(PEOPLE)
        work = EpochWork(
            account=rows,
            kind=np.full(PEOPLE, Kind.HONEST, dtype=np.int8),
            count=drawn["count"].astype(np.int64),
            correct=drawn["count"].astype(np.int64),
            agreed=drawn["agreed"].astype(np.int64),
            flagged=rows == drawn["flagged"],
            score=drawn["score"],
            true_value=np.maximum(drawn["score"], 0),
            bond=np.zeros(PEOPLE, dtype=np.int64),
            cluster=np.full(PEOPLE, -1, dtype=np.int64),
            hours=np.ones(PEOPLE),
        )
        simulated = settle(
            params, work, budget=settlement.budget, fees=FEE, epoch=epoch, stakes={}, standing=book
        )
        for i, person in enumerate(people):
            key = selectors.wallet_key(person.contributor.pseudonym)
            assert site_paid.get(key, 0) == simulated.payouts[i], (epoch, person)
            assert wallet_balance(person) - before[i] == simulated.payouts[i] + simulated.fee_to_contributors[i]
        assert settlement.paid + settlement.carry_over == settlement.budget
        assert settlement.carry_over == simulated.carry_over
        assert wallet_balance(people[drawn["flagged"]]) == before[drawn["flagged"]]  # a flag means no pay
        # The policy's fee split (60% contributors, 20% model owner, 20% stakers: none, so treasury).
        owner_total += simulated.fee_to_model_owner
        assert selectors.account_balance(account=model.owner) == owner_total
        assert abs(simulated.fee_to_model_owner - FEE * 2000 // 10_000) <= 1
    if name == "attribution_evidence":
        # The standing round-trips through the database exactly.
        stored = {row.contributor_id: row for row in EpochStanding.objects.filter(epoch=2)}
        evidence, judgments, credited = book.take(np.arange(PEOPLE))
        for i, person in enumerate(people):
            row = stored[person.contributor.id]
            assert (row.evidence, row.judgments, row.credited) == (evidence[i], judgments[i], credited[i])


def test_the_earnings_page_explains_each_epoch_in_the_policys_own_words(genesis, make_person, client):
    people = [make_person(f"e{i}") for i in range(PEOPLE)]
    for person in people:
        services.wallet_ensure(contributor=person.contributor)
    services.policy_activate(name="attribution_evidence", params={}, activates_at_epoch=0)
    rng = np.random.default_rng(5)
    for epoch in range(2):
        _record_epoch(epoch, people, rng)
        epoch_settle(epoch=epoch)
    settlement = EpochSettlement.objects.get(epoch=1)
    assert "accounts" not in settlement.explanation["policy"]  # per-contributor figures live in standing rows
    paid = max(people, key=lambda p: selectors.epoch_payouts(epoch=1).get(selectors.wallet_key(p.contributor.pseudonym), 0))
    summary = selectors.wallet_summary(contributor=paid.contributor)
    latest = summary.payouts[0]
    assert latest.epoch == 1 and latest.amount > 0
    detail = EpochStanding.objects.get(epoch=1, contributor=paid.contributor).detail
    words = " ".join(latest.why)
    assert f"{detail['bound']:.2f}" in words and f"{detail['evidence']:.2f}" in words and "rose by" in words
    client.force_login(paid)
    page = client.get("/ledger/wallet/").content.decode()
    assert "Your confidence bound" in page and f"{detail['bound']:.2f}" in page
    assert client.get("/api/ledger/wallet/").json()["payouts"][0]["why"] == latest.why


BAD_PARAMS = [
    ({"min_bond": -1}, "min_bond: must be >= 0"),
    ({"min_judgments": 0}, "min_judgments: must be >= 1"),
    ({"fee_contributors_bps": 9000}, "fee_contributors_bps \\+ fee_model_owner_bps"),
]


@pytest.fixture
def governance_user(make_person):
    return make_person("gov", roles=(Role.GOVERNANCE,))


@pytest.fixture
def finished_report(db, governance_user):
    from feedback_site.governance.models import ReportState, SimulationReport

    return SimulationReport.objects.create(title="r", state=ReportState.DONE, created_by=governance_user)


def _proposal_fields(report, params) -> dict:
    return {
        "title": "Pay by evidence",
        "policy_name": "attribution_evidence",
        "policy_params": params,
        "report": report.id,
        "deadline": (timezone.now() + timedelta(days=1)).isoformat(),
        "quorum_bps": 1000,
        "threshold_bps": 5000,
    }


@pytest.mark.parametrize(("params", "message"), BAD_PARAMS)
def test_a_parameter_set_that_cannot_work_is_refused_by_the_api_naming_the_field(
    genesis, governance_user, finished_report, client, params, message
):
    client.force_login(governance_user)
    response = client.post("/api/governance/proposals/", _proposal_fields(finished_report, params), content_type="application/json")
    assert response.status_code == 400 and pytest.importorskip("re").search(message, json.dumps(response.json()))
    assert not Proposal.objects.exists()
    good = client.post("/api/governance/proposals/", _proposal_fields(finished_report, {"min_judgments": 5}), content_type="application/json")
    assert good.status_code == 201 and good.json()["policy_params"]["min_judgments"] == 5
    listed = client.get("/api/governance/policies/").json()["policies"]
    assert "attribution_evidence" in {policy["name"] for policy in listed}


@pytest.mark.parametrize(("params", "message"), BAD_PARAMS)
def test_a_parameter_set_that_cannot_work_is_refused_by_the_proposal_form_naming_the_field(
    genesis, governance_user, finished_report, client, params, message
):
    client.force_login(governance_user)
    fields = _proposal_fields(finished_report, json.dumps(params))
    response = client.post("/governance/proposals/new/", fields, follow=True)
    shown = " ".join(str(m) for m in response.context["messages"])
    assert pytest.importorskip("re").search(message, shown) and not Proposal.objects.exists()


@pytest.mark.parametrize(("params", "message"), BAD_PARAMS)
def test_a_parameter_set_that_cannot_work_is_refused_by_the_command_naming_the_field(genesis, params, message):
    from feedback_site.ledger.models import PolicyVersion

    with pytest.raises(CommandError, match=message):
        call_command("policy_activate", "attribution_evidence", "--params", json.dumps(params), "--epoch", "0")
    assert not PolicyVersion.objects.exists()
    call_command("policy_activate", "attribution_evidence", "--params", '{"min_judgments": 5}', "--epoch", "0")
    assert PolicyVersion.objects.get().params["min_judgments"] == 5
