"""The wallet, epoch and treasury pages, and payout proofs that the economy's own command line
verifies against the published root, trusting no server."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from feedback_site.ledger import services
from feedback_site.ledger.settlement import epoch_settle
from feedback_site.ledger.templatetags.ledger_amounts import open_amount

from .conftest import OPEN, wallet_balance

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def paid(genesis, make_person, attribute):
    alice, bob, carol = make_person("alice"), make_person("bob"), make_person("carol")
    attribute(0, {alice: 2.0, bob: 1.0, carol: 0.5})
    settlement = epoch_settle(epoch=0)
    client = Client()
    client.force_login(alice)
    return settlement, alice, client


def verify_proof_cli(path: Path, root: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "simulator.economy", "verify-proof", str(path), "--root", root],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


def test_a_downloaded_proof_verifies_with_the_cli(paid, tmp_path):
    settlement, alice, client = paid
    page = client.get("/ledger/epochs/0/")
    assert settlement.payouts_root in page.content.decode()  # the published root
    response = client.get("/ledger/epochs/0/proof.json")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    proof = json.loads(response.content)
    assert proof["account"] == f"contributor:{alice.contributor.pseudonym}"
    assert proof["amount"] == str(wallet_balance(alice)) and proof["leaf_count"] == 3
    path = tmp_path / "proof.json"
    path.write_bytes(response.content)

    ok = verify_proof_cli(path, settlement.payouts_root)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK: account" in ok.stdout

    forged = dict(proof, amount=str(int(proof["amount"]) + 1))
    path.write_text(json.dumps(forged))
    assert verify_proof_cli(path, settlement.payouts_root).returncode == 1
    path.write_bytes(response.content)
    assert verify_proof_cli(path, "ab" * 32).returncode == 1  # not the published root


def test_proof_api_and_refusals(paid, make_person):
    settlement, alice, client = paid
    assert client.get("/api/ledger/epochs/0/proof/").json()["root"] == settlement.payouts_root
    assert client.get("/ledger/epochs/5/proof.json").status_code == 404  # not settled
    outsider = Client()
    outsider.force_login(make_person("dave"))
    response = outsider.get("/ledger/epochs/0/proof.json")
    assert response.status_code == 404 and "no wallet" in response.content.decode()


def test_wallet_page_shows_payouts_with_their_scores_and_exact_amounts(paid):
    settlement, alice, client = paid
    html = client.get("/ledger/wallet/").content.decode()
    amount = wallet_balance(alice)
    assert open_amount(amount) in html and "." in open_amount(amount)  # fractional OPEN, exactly
    assert "2.000000" in html  # the attribution score behind the payout
    assert "/ledger/epochs/0/proof.json" in html


def test_wallet_forms_stake_and_report_errors(paid):
    settlement, alice, client = paid
    response = client.post("/ledger/wallet/stake/", {"amount": "1.25"}, follow=True)
    assert "Staked 1.25 OPEN" in response.content.decode()
    response = client.post("/ledger/wallet/unstake/", {"amount": "2"}, follow=True)
    assert "cannot unstake 2 OPEN" in response.content.decode()
    response = client.post("/ledger/wallet/stake/", {"amount": "0.0000000000000000001"}, follow=True)
    assert "more than 18 decimals" in response.content.decode()
    html = client.get("/ledger/wallet/").content.decode()
    assert 'id="staked">1.25 OPEN' in html


def test_epoch_and_treasury_pages(paid, make_person):
    settlement, alice, client = paid
    html = client.get("/ledger/epochs/0/").content.decode()
    for amount in (settlement.budget, settlement.paid, settlement.carry_over):
        assert open_amount(amount) in html
    assert "attribution" in html and client.get("/ledger/epochs/").status_code == 200
    assert client.get("/ledger/epochs/9/").status_code == 404
    services.ledger_transfer(source_key="allocation:liquidity", destination_key="treasury", amount=OPEN // 4)
    html = client.get("/ledger/treasury/").content.decode()
    assert "0.25" in html and "community_pool" in html and "refused beyond what has vested" in html
    assert Client().get("/ledger/wallet/").status_code == 302  # login first
    assert "Wallet" in client.get("/").content.decode()


def test_amounts_are_shown_with_up_to_18_decimals():
    assert open_amount(1) == "0.000000000000000001"
    assert open_amount(1234 * OPEN + OPEN // 2) == "1,234.5"
    assert open_amount(10**27) == "1,000,000,000"
