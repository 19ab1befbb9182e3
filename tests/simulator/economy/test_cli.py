"""The command line, run as a contributor would run it: a separate process on real files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.economy.merkle import PayoutTree

REPO_ROOT = Path(__file__).resolve().parents[3]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "simulator.economy", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def epoch_files(tmp_path):
    payouts = {"alice": 7 * 10**18, "bob": 428_541_666_666_666_666_666_666, "carol": 1}
    tree = PayoutTree(12, payouts)
    proof_path = tmp_path / "proof.json"
    proof_path.write_text(json.dumps(tree.proof("bob"), indent=2))
    payouts_path = tmp_path / "payouts.json"
    payouts_path.write_text(json.dumps({account: str(amount) for account, amount in payouts.items()}))
    return proof_path, payouts_path, tree.root


def test_verify_proof_says_ok_and_exits_0_for_a_real_proof(epoch_files):
    proof_path, _, root = epoch_files
    result = run_cli("verify-proof", str(proof_path), "--root", root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: account 'bob' was paid 428541666666666666666666 base units")
    assert "428,541.666666666666666666 OPEN" in result.stdout


def test_verify_proof_says_failed_and_exits_1_for_a_wrong_root_or_a_tampered_file(epoch_files, tmp_path):
    proof_path, _, root = epoch_files
    wrong_root = run_cli("verify-proof", str(proof_path), "--root", "ab" * 32)
    assert wrong_root.returncode == 1
    assert wrong_root.stdout.startswith("FAILED:") and "not the expected root" in wrong_root.stdout

    tampered = json.loads(proof_path.read_text())
    tampered["amount"] = str(int(tampered["amount"]) * 2)
    tampered_path = tmp_path / "tampered.json"
    tampered_path.write_text(json.dumps(tampered))
    result = run_cli("verify-proof", str(tampered_path), "--root", root)
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED:")

    missing = run_cli("verify-proof", str(tmp_path / "nowhere.json"))
    assert missing.returncode == 1
    assert missing.stdout.startswith("FAILED: cannot read")


def test_proof_and_root_commands_produce_what_verify_proof_accepts(epoch_files, tmp_path):
    _, payouts_path, root = epoch_files
    printed_root = run_cli("root", str(payouts_path), "--epoch", "12")
    assert printed_root.returncode == 0
    assert printed_root.stdout.strip() == root
    made = run_cli("proof", str(payouts_path), "--epoch", "12", "--account", "carol")
    assert made.returncode == 0, made.stderr
    proof_path = tmp_path / "carol.json"
    proof_path.write_text(made.stdout)
    assert run_cli("verify-proof", str(proof_path), "--root", root).returncode == 0
    unknown = run_cli("proof", str(payouts_path), "--epoch", "12", "--account", "mallory")
    assert unknown.returncode == 2
    assert "mallory" in unknown.stderr


def test_schedule_prints_the_allocation_and_the_monthly_emission():
    result = run_cli("schedule")
    assert result.returncode == 0
    assert "617,100,000 OPEN" in result.stdout
    assert "12,856,250" in result.stdout
    last_month = result.stdout.strip().splitlines()[-1].split()
    assert last_month[0] == "48" and last_month[-1] == "1,000,000,000"


def test_help_shows_examples():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "verify-proof proof.json --root" in result.stdout
    assert "examples:" in run_cli("verify-proof", "--help").stdout
