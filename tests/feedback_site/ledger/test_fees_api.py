"""The fees API: token-authenticated usage reports, idempotent by request id, with every bad
input answered by a 4xx that says what was wrong, and the ledger unchanged."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from feedback_site.ledger import services
from feedback_site.ledger.models import FeeUsage

from .conftest import OPEN, balance_of, ledger_state

USAGE = "/api/ledger/usage/"


@pytest.fixture
def buyer(make_person, genesis):
    person = make_person("buyer", roles=())
    owner = make_person("owner", roles=())
    services.model_register(model_id="rm-2026-01", owner=owner)
    return person


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def api(buyer):
    client = client_for(buyer)
    response = client.post("/api/ledger/consumer-account/")
    assert response.status_code == 201 and response.json()["balance"] == "0"
    services.ledger_transfer(
        source_key="allocation:liquidity", destination_key=response.json()["account"], amount=50 * OPEN
    )
    return client


def usage(**overrides):
    return {"request_id": "req-1", "model_version_id": "rm-2026-01", "calls": 12, "fee": str(5 * OPEN), **overrides}


def test_usage_is_recorded_once_per_request_id(api, buyer):
    consumer = f"consumer:{buyer.contributor.pseudonym}"
    first = api.post(USAGE, usage(), format="json")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["fee"] == str(5 * OPEN) and body["epoch"] == 0 and body["entry_id"]
    assert balance_of(consumer) == 45 * OPEN and balance_of("system:fee_escrow") == 5 * OPEN

    state = ledger_state()
    again = api.post(USAGE, usage(), format="json")
    assert again.status_code == 200 and again.json() == body
    assert ledger_state() == state and balance_of(consumer) == 45 * OPEN

    conflict = api.post(USAGE, usage(calls=13), format="json")
    assert conflict.status_code == 409 and conflict.json()["error"] == "duplicate_request"
    assert "req-1" in conflict.json()["detail"]
    assert ledger_state() == state

    as_int = api.post(USAGE, usage(request_id="req-2", fee=3 * OPEN), format="json")
    assert as_int.status_code == 201 and as_int.json()["fee"] == str(3 * OPEN)  # an exact JSON integer


@pytest.mark.parametrize(
    ("payload", "status", "field", "message"),
    [
        (usage(fee=1.5), 400, "fee", "not an integer"),
        (usage(fee=1e18), 400, "fee", "not an integer"),
        (usage(fee=-5), 400, "fee", "negative"),
        (usage(fee="-5"), 400, "fee", "not a whole number"),
        (usage(fee="12.5"), 400, "fee", "not a whole number"),
        (usage(fee="abc"), 400, "fee", "not a whole number"),
        (usage(fee=str(10**40)), 400, "fee", "whole supply"),
        (usage(calls=0), 400, "calls", "greater than or equal to 1"),
        (usage(request_id=""), 400, "request_id", "blank"),
        (usage(model_version_id="no-such-model"), 400, "detail", "'no-such-model' is not a registered model"),
        (usage(fee=str(51 * OPEN)), 409, "detail", "holds 50 OPEN"),
    ],
)
def test_bad_usage_is_refused_and_changes_nothing(api, payload, status, field, message):
    state = ledger_state()
    response = api.post(USAGE, payload, format="json")
    assert response.status_code == status, response.content
    detail = response.json()[field]
    assert message in (detail if isinstance(detail, str) else " ".join(detail))
    assert ledger_state() == state and not FeeUsage.objects.exists()


def test_usage_needs_a_consumer_account_and_a_login(buyer):
    response = client_for(buyer).post(USAGE, usage(), format="json")
    assert response.status_code == 403 and response.json()["error"] == "no_consumer_account"
    assert APIClient().post(USAGE, usage(), format="json").status_code in (401, 403)


def test_a_free_call_is_recorded_without_an_entry(api):
    state = ledger_state()
    response = api.post(USAGE, usage(fee=0), format="json")
    assert response.status_code == 201 and response.json()["entry_id"] is None
    assert ledger_state() == state


def test_stake_api_refuses_bad_input(make_person, fund):
    person = make_person("sam")
    fund(person, 10)
    client = client_for(person)
    assert client.post("/api/ledger/stake/", {"amount": "1.5"}, format="json").status_code == 400
    assert client.post("/api/ledger/stake/", {"amount": 2.0}, format="json").status_code == 400
    too_much = client.post("/api/ledger/stake/", {"amount": str(11 * OPEN)}, format="json")
    assert too_much.status_code == 409 and too_much.json()["error"] == "insufficient_funds"
    staked = client.post("/api/ledger/stake/", {"amount": str(4 * OPEN)}, format="json")
    assert staked.status_code == 201 and staked.json()["staked"] == str(4 * OPEN)
    over = client.post("/api/ledger/unstake/", {"amount": str(5 * OPEN)}, format="json")
    assert over.status_code == 409 and over.json()["error"] == "insufficient_stake"
    assert client.post("/api/ledger/withdraw/").status_code == 409
    wallet = client.get("/api/ledger/wallet/").json()
    assert wallet["balance"] == str(6 * OPEN) and wallet["staked"] == str(4 * OPEN)


def test_transfers_refuse_unknown_accounts(genesis):
    state = ledger_state()
    with pytest.raises(services.errors.UnknownAccount, match="'consumer:nobody': no such ledger account"):
        services.ledger_transfer(source_key="allocation:liquidity", destination_key="consumer:nobody", amount=1)
    with pytest.raises(services.errors.UnknownAccount, match="moves only by staking or settlement"):
        services.ledger_transfer(source_key="allocation:liquidity", destination_key="system:fee_escrow", amount=1)
    with pytest.raises(services.errors.UnknownAccount, match="'community_pool' cannot take part"):
        services.ledger_transfer(source_key="community_pool", destination_key="treasury", amount=1)
    assert ledger_state() == state
