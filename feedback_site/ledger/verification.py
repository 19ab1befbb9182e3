"""Checking the whole ledger from its entries alone: ``python manage.py verify_ledger``.

1. The chain, streamed in id order (a server-side cursor on PostgreSQL, so memory does not grow
   with the number of entries): ids are 1, 2, 3, ... without a gap; each entry's hash is the
   hash of its own fields and the previous entry's hash; its shape is valid (kind, accounts,
   amount); times never decrease; no entry overdraws its debit account; genesis comes first.
2. Every epoch's Merkle root, recomputed from its payout entries and compared with the root in
   the chain's ``epoch_settled`` record and in ``EpochSettlement``, with their totals.
3. Conservation: the balances of all accounts add up to the supply created at genesis, and the
   head row points at the last entry.

A failed check names the entry (id) and what is wrong; the earliest is the first bad entry.
After a hash mismatch the check goes on from the stored hash, so every altered entry is named.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.db import connection, transaction

from simulator.economy.merkle import payouts_root

from .chain import ZERO_HASH, chain_hashes
from .models import RECORD_KINDS, EntryKind, EpochSettlement, LedgerEntry, LedgerHead
from .selectors import epoch_payouts

CHUNK_ROWS = 20_000
MAX_PROBLEMS = 100
_KINDS = frozenset(EntryKind.values)
_RECORDS = frozenset(str(kind) for kind in RECORD_KINDS)
_SETTLEMENT_TOTALS = ("emission", "carried_in", "budget", "paid", "carry_over", "slashed", "fees_collected")


@dataclass
class Problem:
    entry_id: int | None
    message: str

    def __str__(self) -> str:
        where = f"entry {self.entry_id}" if self.entry_id is not None else "ledger"
        return f"{where}: {self.message}"


@dataclass
class VerificationReport:
    entries: int = 0
    accounts: int = 0
    epochs: int = 0
    total_supply: int = 0
    balances_total: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        with_id = [p for p in self.problems if p.entry_id is not None]
        if with_id:
            return min(with_id, key=lambda p: p.entry_id)
        return self.problems[0] if self.problems else None


@dataclass
class _EpochRecord:
    entry_id: int
    memo: dict
    payout_sum: int = 0
    payout_count: int = 0


class _Checker:
    def __init__(self, report: VerificationReport) -> None:
        self.report = report
        self.expected_id = 1
        self.previous = ZERO_HASH
        self.last_created_us = 0
        self.balances: dict[int, int] = defaultdict(int)
        self.overdrawn: set[int] = set()
        self.genesis_total = 0
        self.genesis_supply: int | None = None
        self.genesis_over = False
        self.payouts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        self.epoch_records: dict[int, _EpochRecord] = {}

    def problem(self, entry_id: int | None, message: str) -> None:
        if len(self.report.problems) < MAX_PROBLEMS:
            self.report.problems.append(Problem(entry_id, message))

    def chunk(self, rows: list[tuple]) -> None:
        self._hashes(rows)
        self._rows(rows)

    def _hashes(self, rows: list[tuple]) -> None:
        start = 0
        while start < len(rows):
            fields = (row[:8] for row in rows[start:])
            for offset, digest in enumerate(chain_hashes(self.previous, fields)):
                row = rows[start + offset]
                if digest.hex() != row[8]:
                    self.problem(
                        row[0],
                        "hash does not match the entry's fields and the previous hash: "
                        "the entry (or the one before it) was altered",
                    )
                    self.previous = bytes.fromhex(row[8]) if len(row[8]) == 64 else digest
                    start += offset + 1
                    break
            else:
                self.previous = digest
                start = len(rows)

    def _rows(self, rows: list[tuple]) -> None:
        balances = self.balances
        for entry_id, kind, debit, credit, amount, epoch, created_us, memo, _ in rows:
            if entry_id != self.expected_id:
                self.problem(entry_id, f"ids must follow each other: expected {self.expected_id}")
            self.expected_id = entry_id + 1
            if created_us < self.last_created_us:
                self.problem(entry_id, "its time is earlier than the previous entry's")
            self.last_created_us = created_us
            if kind not in _KINDS:
                self.problem(entry_id, f"unknown kind {kind!r}")
                continue
            if kind == "genesis":
                self._genesis(entry_id, debit, credit, amount, memo)
            elif kind in _RECORDS:
                if debit or credit or amount:
                    self.problem(entry_id, f"a {kind} record moves no money and names no account")
                if kind == "epoch_settled":
                    self._epoch_record(entry_id, epoch, memo)
                continue
            else:
                self.genesis_over = True
                if not debit or not credit or debit == credit or amount <= 0:
                    self.problem(entry_id, f"a {kind} entry moves a positive amount between two different accounts")
                    continue
            if debit:
                balance = balances[debit] - amount
                balances[debit] = balance
                if balance < 0 and debit not in self.overdrawn:
                    self.overdrawn.add(debit)
                    self.problem(entry_id, f"overdraws account {debit} (balance {balance})")
            balances[credit] += amount
            if kind == "payout":
                tally = self.payouts[epoch]
                tally[0] += amount
                tally[1] += 1

    def _genesis(self, entry_id, debit, credit, amount, memo) -> None:
        if self.genesis_over:
            self.problem(entry_id, "genesis entry after the supply started moving: no mint after genesis")
        if debit or not credit or amount <= 0:
            self.problem(entry_id, "a genesis entry credits one account a positive amount, debiting none")
        self.genesis_total += amount
        if self.genesis_supply is None:
            try:
                self.genesis_supply = int(json.loads(memo)["total_supply"])
            except (ValueError, KeyError, TypeError):
                self.problem(entry_id, "the first genesis entry must record total_supply in its memo")
                self.genesis_supply = 0

    def _epoch_record(self, entry_id, epoch, memo) -> None:
        try:
            data = json.loads(memo)
        except ValueError:
            self.problem(entry_id, "epoch_settled memo is not JSON")
            return
        if epoch is None or epoch in self.epoch_records:
            self.problem(entry_id, f"epoch_settled for epoch {epoch}: missing or settled twice")
            return
        tally = self.payouts.get(epoch, [0, 0])
        self.epoch_records[epoch] = _EpochRecord(entry_id, data, tally[0], tally[1])


def _stream(last_entry_id: int):
    amount = "amount::text" if connection.vendor == "postgresql" else "amount"
    table = connection.ops.quote_name(LedgerEntry._meta.db_table)
    sql = (
        f"SELECT id, kind, debit_id, credit_id, {amount}, epoch, created_us, memo, entry_hash "
        f"FROM {table} WHERE id <= %s ORDER BY id"
    )
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [last_entry_id])
        while rows := cursor.fetchmany(CHUNK_ROWS):
            yield rows


def _as_ints(rows: list[tuple], checker: _Checker) -> list[tuple]:
    """Amounts come back as text (exact on both databases); altered text is reported, not fatal."""
    try:
        return [(*row[:4], int(row[4]), *row[5:]) for row in rows]
    except ValueError:
        fixed = []
        for row in rows:
            try:
                fixed.append((*row[:4], int(row[4]), *row[5:]))
            except ValueError:
                checker.problem(row[0], f"amount {row[4]!r} is not an integer")
                fixed.append((*row[:4], 0, *row[5:]))
        return fixed


def _check_epochs(checker: _Checker, last_entry_id: int, *, check_roots: bool) -> None:
    settlements = {s.epoch: s for s in EpochSettlement.objects.filter(last_entry_id__lte=last_entry_id)}
    for epoch, settlement in settlements.items():
        if epoch not in checker.epoch_records:
            checker.problem(settlement.last_entry_id, f"epoch {epoch} has a settlement row but no epoch_settled record")
    for epoch, record in sorted(checker.epoch_records.items()):
        memo = record.memo
        settlement = settlements.get(epoch)
        where = record.entry_id
        if settlement is None:
            checker.problem(where, f"epoch {epoch} is settled in the chain but has no EpochSettlement row")
        elif settlement.payouts_root != memo.get("payouts_root") or any(
            str(getattr(settlement, name)) != memo.get(name) for name in _SETTLEMENT_TOTALS
        ):
            checker.problem(where, f"epoch {epoch}: the EpochSettlement row differs from the chain's record")
        if str(record.payout_sum) != memo.get("paid") or record.payout_count != memo.get("payout_count"):
            checker.problem(
                where,
                f"epoch {epoch}: payout entries add up to {record.payout_sum} in {record.payout_count} entries, "
                f"the record says {memo.get('paid')} in {memo.get('payout_count')}",
            )
        if check_roots:
            try:
                root = payouts_root(epoch, epoch_payouts(epoch=epoch))
            except ValueError as error:  # an amount that is not an integer any more
                checker.problem(where, f"epoch {epoch}: cannot read the payout entries: {error}")
                continue
            if root != memo.get("payouts_root"):
                checker.problem(
                    where,
                    f"epoch {epoch}: the payout entries hash to the Merkle root {root}, "
                    f"not the published {memo.get('payouts_root')}",
                )
    checker.report.epochs = len(checker.epoch_records)


def ledger_verify(
    *, check_roots: bool = True, progress: Callable[[int], None] | None = None
) -> VerificationReport:
    """Verify the chain, every epoch root and conservation; see the module docstring."""
    report = VerificationReport()
    checker = _Checker(report)
    head = LedgerHead.objects.filter(pk=1).first()
    last_entry_id = head.last_entry_id if head else 0
    # A server-side cursor inside a transaction streams; outside one it would be materialised.
    # SQLite streams anyway, and a transaction there would block writers for the whole check.
    with transaction.atomic() if connection.vendor == "postgresql" else nullcontext():
        for rows in _stream(last_entry_id):
            checker.chunk(_as_ints(rows, checker))
            report.entries += len(rows)
            if progress:
                progress(report.entries)
        _check_epochs(checker, last_entry_id, check_roots=check_roots)

    if head is not None and report.entries:
        if checker.expected_id - 1 != last_entry_id:
            checker.problem(None, f"the head points at entry {last_entry_id}, the chain ends at {checker.expected_id - 1}")
        elif checker.previous.hex() != head.last_hash:
            checker.problem(last_entry_id, "the head's hash is not the last entry's hash")
    # Entries appended since the check began are past the head read then, but not past the
    # head now; one past the head now was written around the append path.
    head_now = LedgerHead.objects.filter(pk=1).first()
    stray = LedgerEntry.objects.filter(id__gt=head_now.last_entry_id if head_now else 0).order_by("id").first()
    if stray is not None:
        checker.problem(stray.id, "entry beyond the chain head: written outside the ledger's append path")

    report.accounts = len(checker.balances)
    report.balances_total = sum(checker.balances.values())
    report.total_supply = checker.genesis_supply or 0
    if report.entries and checker.genesis_total != report.total_supply:
        checker.problem(None, f"genesis created {checker.genesis_total} base units, not the supply {report.total_supply}")
    if report.balances_total != checker.genesis_total:
        checker.problem(
            None,
            f"conservation: the balances add up to {report.balances_total} base units, "
            f"but genesis created {checker.genesis_total}",
        )
    return report
