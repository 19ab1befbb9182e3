"""The ledger's commands and its periodic task's schedule."""

import pytest
from celery import current_app
from django.core.management import CommandError, call_command

from feedback_site.ledger import services, verification
from feedback_site.ledger.models import LedgerEntry
from feedback_site.ledger.schedule import LEDGER_BEAT_SCHEDULE

from .conftest import OPEN, balance_of, db_amount, table, trigger_off


def test_genesis_command_is_idempotent(db, capsys):
    call_command("ledger_genesis")
    call_command("ledger_genesis")
    out = capsys.readouterr().out
    assert "Genesis written: 1,000,000,000 OPEN" in out and "Genesis already done" in out
    assert LedgerEntry.objects.count() == 4


def test_transfer_command(genesis, make_person, capsys):
    consumer = services.consumer_account_open(user=make_person("buyer"))
    call_command("ledger_transfer", "allocation:liquidity", consumer.key, "12.5", "--note", "pilot")
    assert balance_of(consumer.key) == 12 * OPEN + OPEN // 2
    with pytest.raises(CommandError, match="nothing transferred: amount: .* more than 18 decimals"):
        call_command("ledger_transfer", "allocation:liquidity", consumer.key, "0.0000000000000000001")
    with pytest.raises(CommandError, match="no such ledger account"):
        call_command("ledger_transfer", "allocation:nowhere", consumer.key, "1")


def test_verify_streams_in_chunks_and_names_each_altered_entry(genesis, make_person, fund, monkeypatch):
    monkeypatch.setattr(verification, "CHUNK_ROWS", 3)  # many chunks, edits across their borders
    people = [make_person(f"p{i}") for i in range(4)]
    for person in people:
        fund(person, 1)
    assert verification.ledger_verify().ok
    altered = [5, 7]
    with trigger_off(LedgerEntry) as cursor:
        for entry_id in altered:
            cursor.execute(f"UPDATE {table(LedgerEntry)} SET memo = 'x' WHERE id = %s", [entry_id])
    report = verification.ledger_verify()
    assert report.entries == 8
    assert [p.entry_id for p in report.problems if "hash" in p.message] == altered
    with pytest.raises(CommandError, match="first bad: entry 5"):
        call_command("verify_ledger", "--quiet")


def test_beat_schedule_names_the_registered_task():
    import feedback_site.ledger.tasks  # noqa: F401 - registers the task

    for entry in LEDGER_BEAT_SCHEDULE.values():
        assert entry["task"] in current_app.tasks


def test_big_trees_are_hashed_in_a_second_process(genesis, make_person, attribute, monkeypatch):
    from feedback_site.ledger.settlement import epoch_settle

    attribute(0, {make_person("alice"): 1.0, make_person("bob"): 2.0})
    settlement = epoch_settle(epoch=0)
    monkeypatch.setattr(verification, "OFFLOAD_ROOT_PAYOUTS", 1)
    assert verification.ledger_verify().ok
    payout = LedgerEntry.objects.filter(kind="payout").order_by("id").first()
    with trigger_off(LedgerEntry) as cursor:
        cursor.execute(f"UPDATE {table(LedgerEntry)} SET amount = %s WHERE id = %s", [db_amount(payout.amount + 1), payout.id])
    problems = [str(p) for p in verification.ledger_verify().problems]
    assert any("Merkle root" in p and f"entry {settlement.last_entry_id}" in p for p in problems)
