"""The hash chain, append-only enforcement (models and database), and tamper detection by
verify_ledger: rows edited behind the application's back with raw SQL are caught."""

import hashlib

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from feedback_site.annotation.models import AppendOnlyError
from feedback_site.ledger import selectors, services
from feedback_site.ledger.chain import ZERO_HASH, canonical_memo, entry_hash
from feedback_site.ledger.models import EntryKind, EpochSettlement, LedgerAccount, LedgerEntry, LedgerHead
from feedback_site.ledger.settlement import epoch_settle
from feedback_site.ledger.verification import ledger_verify
from simulator.economy.schedule import Allocation, unlocked_at

from .conftest import MONTHLY, OPEN, TEAM, db_amount, settle_empty, table, trigger_off, wallet_balance


@pytest.fixture
def settled(genesis, make_person, attribute, fund):
    alice, bob = make_person("alice"), make_person("bob")
    fund(alice, 10)
    attribute(0, {alice: 2.0, bob: 1.0})
    return epoch_settle(epoch=0), alice, bob


def test_each_entry_hashes_its_fields_and_the_previous_hash(settled):
    previous = ZERO_HASH
    for entry in LedgerEntry.objects.order_by("id"):
        digest = entry_hash(
            previous, entry.id, entry.kind, entry.debit_id, entry.credit_id, entry.amount, entry.epoch,
            entry.created_us, entry.memo,
        )
        payload = (
            f"{entry.id}|{entry.kind}|{entry.debit_id or 0}|{entry.credit_id or 0}|{entry.amount}|"
            f"{-1 if entry.epoch is None else entry.epoch}|{entry.created_us}|{entry.memo}"
        ).encode()
        assert digest == hashlib.sha256(previous + payload).digest()  # the documented encoding
        assert digest.hex() == entry.entry_hash
        previous = digest
    head = LedgerHead.objects.get()
    assert head.last_hash == previous.hex() and head.last_entry_id == LedgerEntry.objects.count()


def test_amounts_beyond_int64_are_exact(genesis):
    supply = LedgerEntry.objects.filter(kind=EntryKind.GENESIS).order_by("id").first()
    assert supply.amount > 2**63 and isinstance(supply.amount, int)
    assert selectors.account_balance(account=supply.credit) == supply.amount  # an exact SQL sum


def test_models_refuse_updates_and_deletes(settled):
    entry = LedgerEntry.objects.order_by("id").first()
    entry.amount += 1
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(id=entry.id).update(amount=1)
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        EpochSettlement.objects.update(paid=0)
    account = LedgerAccount.objects.first()
    account.key = "someone-else"
    with pytest.raises(AppendOnlyError):
        account.save()


@pytest.mark.parametrize("model", [LedgerEntry, LedgerAccount, EpochSettlement])
def test_the_database_refuses_a_raw_update(settled, model):
    column = {LedgerEntry: "memo", LedgerAccount: "key", EpochSettlement: "payouts_root"}[model]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table(model)} SET {column} = 'x'")


@pytest.mark.postgres
def test_postgres_refuses_a_raw_delete(settled):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table(LedgerEntry)} WHERE id = 1")


def test_the_database_refuses_malformed_entries(genesis):
    head = LedgerHead.objects.get()
    pool = LedgerAccount.objects.get(key="community_pool").id
    for kind, debit, credit, amount in (
        ("transfer", pool, pool, "5"),  # to itself
        ("transfer", None, pool, "5"),  # created from nothing after genesis
        ("transfer", pool, 1, "0"),  # nothing moved
        ("policy_change", None, pool, "0"),  # a record naming an account
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table(LedgerEntry)} (id, kind, debit_id, credit_id, amount, epoch, created_us, memo, entry_hash) "
                    "VALUES (%s, %s, %s, %s, %s, NULL, 0, '', '')",
                    [head.last_entry_id + 1, kind, debit, credit, db_amount(int(amount))],
                )


def test_verify_passes_on_an_honest_ledger(settled, capsys):
    call_command("verify_ledger", "--quiet")
    out = capsys.readouterr().out
    assert out.startswith("OK:") and "1 epoch roots" in out and "= the supply" in out


def test_an_amount_edited_behind_the_back_is_found(settled):
    settlement, alice, _ = settled
    payout = LedgerEntry.objects.filter(kind=EntryKind.PAYOUT).order_by("id").first()
    with trigger_off(LedgerEntry) as cursor:
        cursor.execute(f"UPDATE {table(LedgerEntry)} SET amount = %s WHERE id = %s", [db_amount(payout.amount * 2), payout.id])
    report = ledger_verify()
    assert not report.ok
    first = report.first_problem
    assert first.entry_id == payout.id and "hash does not match" in first.message
    messages = " ".join(str(p) for p in report.problems)
    assert "overdraws account" in messages and "Merkle root" in messages  # rewards paid twice over; root off
    with pytest.raises(CommandError, match=f"first bad: entry {payout.id}: hash does not match"):
        call_command("verify_ledger", "--quiet")


def test_a_supply_edit_breaks_conservation(settled):
    genesis_entry = LedgerEntry.objects.filter(kind=EntryKind.GENESIS).order_by("id").last()
    with trigger_off(LedgerEntry) as cursor:
        cursor.execute(
            f"UPDATE {table(LedgerEntry)} SET amount = %s WHERE id = %s",
            [db_amount(genesis_entry.amount + 1), genesis_entry.id],
        )
    report = ledger_verify()
    assert report.first_problem.entry_id == genesis_entry.id
    assert any("not the supply" in p.message for p in report.problems)
    assert report.balances_total == report.total_supply + 1


def test_a_rehashed_edit_is_found_by_the_next_link_and_the_root(settled):
    """An attacker who recomputes the edited entry's hash still breaks the next entry's link."""
    settlement, alice, _ = settled
    payout = LedgerEntry.objects.filter(kind=EntryKind.PAYOUT).order_by("id").first()
    previous = LedgerEntry.objects.get(id=payout.id - 1).entry_hash
    forged = entry_hash(
        bytes.fromhex(previous), payout.id, payout.kind, payout.debit_id, payout.credit_id, payout.amount + OPEN,
        payout.epoch, payout.created_us, payout.memo,
    ).hex()
    with trigger_off(LedgerEntry) as cursor:
        cursor.execute(
            f"UPDATE {table(LedgerEntry)} SET amount = %s, entry_hash = %s WHERE id = %s",
            [db_amount(payout.amount + OPEN), forged, payout.id],
        )
    report = ledger_verify()
    assert report.first_problem.entry_id == payout.id + 1


def test_a_memo_edit_and_a_stray_entry_are_found(settled):
    settlement, _, _ = settled
    with trigger_off(LedgerEntry) as cursor:
        cursor.execute(
            f"UPDATE {table(LedgerEntry)} SET memo = %s WHERE id = %s",
            [canonical_memo({"payouts_root": "0" * 64}), settlement.last_entry_id],
        )
    head = LedgerHead.objects.get()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(LedgerEntry)} (id, kind, debit_id, credit_id, amount, epoch, created_us, memo, entry_hash) "
            "VALUES (%s, 'policy_change', NULL, NULL, %s, NULL, 0, '', '')",
            [head.last_entry_id + 1, db_amount(0)],
        )
    report = ledger_verify()
    ids = [p.entry_id for p in report.problems]
    assert report.first_problem.entry_id == settlement.last_entry_id
    assert head.last_entry_id + 1 in ids  # written around the append path


def forge_transfer(source_key: str, destination_key: str, amount: int) -> int:
    """Append a transfer with raw SQL, its hash and the head recomputed as the append path would:
    a chain that holds together, written without ``ledger_transfer``'s checks. Returns its id."""
    head = LedgerHead.objects.get()
    entry_id, debit, credit = (
        head.last_entry_id + 1, selectors.account_by_key(key=source_key).id, selectors.account_by_key(key=destination_key).id
    )
    digest = entry_hash(
        bytes.fromhex(head.last_hash), entry_id, EntryKind.TRANSFER, debit, credit, amount, None, head.last_created_us, ""
    ).hex()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(LedgerEntry)} (id, kind, debit_id, credit_id, amount, epoch, created_us, memo, entry_hash) "
            "VALUES (%s, %s, %s, %s, %s, NULL, %s, '', %s)",
            [entry_id, EntryKind.TRANSFER.value, debit, credit, db_amount(amount), head.last_created_us, digest],
        )
    LedgerHead.objects.filter(pk=1).update(last_entry_id=entry_id, last_hash=digest)
    return entry_id


def test_a_rehashed_transfer_out_of_the_team_allocation_before_the_cliff_is_found(monthly_genesis):
    settle_empty(12)  # the cliff's last epoch is settled: nothing has vested yet
    forged = forge_transfer(TEAM, "treasury", OPEN)
    settle_empty(1)  # a later epoch would have vested it: what counts is the count at the entry
    report = ledger_verify()
    assert [p.entry_id for p in report.problems] == [forged]  # the chain holds: only vesting breaks
    assert report.first_problem.message == (
        f"moves {OPEN} base units out of {TEAM} beyond its vesting: after 12 settled epochs the genesis "
        f"schedule has unlocked 0 base units, and {OPEN} have moved out so far, this entry included"
    )
    with pytest.raises(CommandError, match=f"first bad: entry {forged}: moves {OPEN} base units out of {TEAM}"):
        call_command("verify_ledger", "--quiet")


def test_vested_transfers_verify_and_a_forged_one_beyond_them_is_found(monthly_genesis):
    settle_empty(13)  # 1 of 36 vesting months
    team = unlocked_at(MONTHLY, epoch=13)[Allocation.TEAM]
    services.ledger_transfer(source_key=TEAM, destination_key="treasury", amount=team // 2)
    services.ledger_transfer(source_key=TEAM, destination_key="allocation:liquidity", amount=team - team // 2)
    settle_empty(1)
    investors = unlocked_at(MONTHLY, epoch=14)[Allocation.INVESTORS]
    services.ledger_transfer(source_key="allocation:investors", destination_key="treasury", amount=investors)
    share = unlocked_at(MONTHLY, epoch=14)[Allocation.TEAM] - team
    services.ledger_transfer(source_key=TEAM, destination_key="treasury", amount=share)
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]
    # One base unit more than has vested, after transfers that each stayed within the limit.
    forged = forge_transfer(TEAM, "treasury", 1)
    report = ledger_verify()
    assert [p.entry_id for p in report.problems] == [forged]
    assert report.first_problem.message.endswith(
        f"after 14 settled epochs the genesis schedule has unlocked {team + share} base units, "
        f"and {team + share + 1} have moved out so far, this entry included"
    )


def test_wallet_balance_is_derived_from_entries(settled):
    settlement, alice, bob = settled
    payouts = selectors.epoch_payouts(epoch=0)
    assert wallet_balance(alice) == 10 * OPEN + payouts[selectors.wallet_key(alice.contributor.pseudonym)]
    assert wallet_balance(bob) == payouts[selectors.wallet_key(bob.contributor.pseudonym)]


def test_memos_with_delimiters_escapes_and_unicode_verify(genesis):
    from feedback_site.ledger import services

    note = 'pipe | backslash \\ newline \n tab \t quote " accents é € \\n'
    entry = services.ledger_transfer(source_key="allocation:liquidity", destination_key="treasury", amount=1, note=note)
    assert "|" in entry.memo and "\\" in entry.memo
    report = ledger_verify()
    assert report.ok, report.problems
