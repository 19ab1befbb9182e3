"""Checking the whole ledger from its entries alone: ``python manage.py verify_ledger``.

One pass over the entries in id order, streamed (COPY on PostgreSQL, a cursor on SQLite), so
memory does not grow with the number of entries:
- the chain: ids are 1, 2, 3, ... without a gap; each entry's hash is the hash of its own
  encoding and the previous entry's hash; times never decrease;
- the shape of each entry (kind, accounts, amount) and genesis before anything moves;
- balances: no entry overdraws its debit account, and at the end all balances add up to the
  supply created at genesis (conservation);
- vesting: everything moved out of the team and investor allocations up to each entry stays
  within what the schedule recorded at genesis has unlocked after the epochs settled before it
  (the rule ``ledger_transfer`` enforces, checked here on entries that came another way);
- every epoch's Merkle root, recomputed from its payout entries (they come as one block before
  the epoch's ``epoch_settled`` record) and compared with the root in that record, and the
  record's totals with the ``EpochSettlement`` row;
and finally the head row must point at the last entry.

A failed check names the entry (id) and what is wrong; the earliest is the first bad entry.
After a hash mismatch the check goes on from the stored hash, so every altered entry is named.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import os
import pickle
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection, transaction

from simulator.economy.merkle import payouts_root
from simulator.economy.schedule import Allocation, ScheduleParams, unlocked_at

from .chain import LINE_COLUMNS, ZERO_HASH, copy_unescape
from .models import RECORD_KINDS, EntryKind, EpochSettlement, LedgerAccount, LedgerEntry, LedgerHead
from .services import VESTING_ACCOUNTS

CHUNK_ROWS = 20_000
# Epochs with at least this many payouts have their Merkle root computed in a second process
# (root_worker.py), in parallel with the chain check; only where there are cores to spare; with
# two, the worker, this process and the database server's COPY share them, and handing a million
# payouts over (pickling) costs more than it saves: measured slower than hashing in line.
OFFLOAD_ROOT_PAYOUTS = 20_000 if (os.cpu_count() or 1) >= 4 else None
PROJECT_ROOT = Path(__file__).resolve().parents[2]
MAX_PROBLEMS = 100
_KINDS = frozenset(kind.encode() for kind in EntryKind.values)
_RECORDS = frozenset(str(kind).encode() for kind in RECORD_KINDS)
_MOVES = _KINDS - _RECORDS - {EntryKind.GENESIS.value.encode()}  # kinds that move money between two accounts
PROGRESS_EVERY = 1_000_000
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


def entry_lines(last_entry_id: int) -> Iterator[bytes]:
    """``entry_hash|encoding`` of entries 1..last_entry_id in id order (see chain.LINE_COLUMNS)."""
    table = connection.ops.quote_name(LedgerEntry._meta.db_table)
    if connection.vendor == "postgresql":
        # COPY streams while this process hashes: the server formats rows as we go.
        query = f"SELECT {', '.join(LINE_COLUMNS)} FROM {table} WHERE id <= %s ORDER BY id"
        with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY ({query}) TO STDOUT WITH (DELIMITER '|')", [last_entry_id]
        ) as copy:
            for row in copy:
                line = bytes(row)[:-1]
                yield copy_unescape(line) if b"\\" in line else line
        return
    concatenated = " || '|' || ".join(LINE_COLUMNS)
    with connection.chunked_cursor() as cursor:
        cursor.execute(f"SELECT {concatenated} FROM {table} WHERE id <= %s ORDER BY id", [last_entry_id])
        while rows := cursor.fetchmany(CHUNK_ROWS):
            for (line,) in rows:
                yield line.encode("utf-8")


class _Checker:
    def __init__(
        self,
        report: VerificationReport,
        account_keys: dict[int, str] | None,
        vesting_accounts: dict[int, tuple[str, Allocation]],
    ) -> None:
        self.report = report
        self.account_keys = account_keys  # None: roots are not checked
        # Team and investor allocations by account id: (key, allocation), and what has moved out.
        self.vesting_accounts = vesting_accounts
        self.vesting_debited: dict[int, int] = dict.fromkeys(vesting_accounts, 0)
        self.vesting_broken: set[int] = set()
        self.schedule: ScheduleParams | None = None  # from the first genesis entry's memo
        # Epochs settled so far along the chain, as ``selectors.epoch_next`` counts them: the
        # highest epoch with an epoch_settled record, plus one.
        self.settled = 0
        self.unlocked: tuple[int, dict[Allocation, int]] | None = None  # (settled, unlocked_at then)
        self.balances: dict[int, int] = defaultdict(int)
        self.overdrawn: set[int] = set()
        self.genesis_total = 0
        self.genesis_supply: int | None = None
        self.expected_id = 1
        self.previous = ZERO_HASH
        self.moved = False  # has anything but genesis moved yet
        # Payouts of epochs whose epoch_settled record has not come yet: epoch -> key -> amount.
        self.open_epochs: dict[int, dict[str, int]] = defaultdict(dict)
        self.payout_tallies: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        self.records: dict[int, tuple[int, dict]] = {}
        self.roots: list[tuple[int, int, str | None, str | Future]] = []
        self.worker: subprocess.Popen | None = None
        self.feeder: ThreadPoolExecutor | None = None

    def problem(self, entry_id: int | None, message: str) -> None:
        if len(self.report.problems) < MAX_PROBLEMS:
            self.report.problems.append(Problem(entry_id, message))

    def run(self, lines: Iterator[bytes], progress: Callable[[int], None] | None) -> None:
        # The hot loop of the whole check: ten million turns, so locals, no call per entry, and
        # the epoch whose payouts are streaming by is kept in locals until its record arrives.
        sha256, unhexlify = hashlib.sha256, binascii.unhexlify
        balances, keys, problem = self.balances, self.account_keys, self.problem
        vesting = self.vesting_accounts
        previous, expected_id, last_created_us, count = ZERO_HASH, 1, 0, 0
        next_progress = PROGRESS_EVERY
        open_epoch, open_payouts, open_sum, open_count = None, None, 0, 0
        for line in lines:
            payload = line[65:]
            digest = sha256(previous + payload).digest()
            fields = payload.split(b"|", 7)
            count += 1
            try:
                stored = unhexlify(line[:64])
            except binascii.Error:
                stored = None  # not a hash at all: reported as a mismatch below
            try:
                entry_id, debit, credit, amount, created_us = (
                    int(fields[0]), int(fields[2]), int(fields[3]), int(fields[4]), int(fields[6])
                )
            except (ValueError, IndexError):
                problem(expected_id, f"malformed entry, not integers where the encoding has them: {line[:160]!r}")
                previous = stored or digest
                expected_id += 1
                continue
            if digest != stored:
                problem(entry_id, "hash does not match the entry's fields and the previous hash: the entry was altered")
                digest = stored or digest
            previous = digest
            if entry_id != expected_id:
                problem(entry_id, f"ids must follow each other: expected {expected_id}")
            expected_id = entry_id + 1
            if created_us < last_created_us:
                problem(entry_id, "its time is earlier than the previous entry's")
            last_created_us = created_us
            kind = fields[1]
            if not debit or not credit or debit == credit or amount <= 0 or kind not in _MOVES:
                if open_epoch is not None:  # a record or genesis ends the stream of payouts
                    self._tally(open_epoch, open_sum, open_count)
                    open_epoch, open_payouts, open_sum, open_count = None, None, 0, 0
                if self._special(entry_id, kind, debit, credit, amount, fields):
                    continue
            else:
                self.moved = True
                if kind == b"payout":
                    if fields[5] != open_epoch:
                        if open_epoch is not None:
                            self._tally(open_epoch, open_sum, open_count)
                        open_epoch, open_sum, open_count = fields[5], 0, 0
                        open_payouts = self.open_epochs[int(open_epoch)] if keys is not None else None
                    open_sum += amount
                    open_count += 1
                    if open_payouts is not None:
                        open_payouts[keys.get(credit) or f"?{credit}"] = amount
                balance = balances[debit] - amount
                balances[debit] = balance
                if balance < 0 and debit not in self.overdrawn:
                    self.overdrawn.add(debit)
                    problem(entry_id, f"overdraws account {debit} (balance {balance})")
                if debit in vesting:
                    self._vesting_debit(entry_id, debit, amount)
            balances[credit] += amount
            if count == next_progress and progress:
                progress(count)
                next_progress += PROGRESS_EVERY
        if open_epoch is not None:
            self._tally(open_epoch, open_sum, open_count)
        self.previous, self.expected_id = previous, expected_id
        self.report.entries = count

    def _vesting_debit(self, entry_id: int, account: int, amount: int) -> None:
        """Count a debit of the team or investor allocation against what has vested by now."""
        moved_out = self.vesting_debited[account] + amount
        self.vesting_debited[account] = moved_out
        if self.schedule is None or account in self.vesting_broken:
            return  # no schedule: reported at genesis; a broken account: reported once
        if self.unlocked is None or self.unlocked[0] != self.settled:
            self.unlocked = (self.settled, unlocked_at(self.schedule, epoch=self.settled))
        key, allocation = self.vesting_accounts[account]
        unlocked = self.unlocked[1][allocation]
        if moved_out > unlocked:
            self.vesting_broken.add(account)
            self.problem(
                entry_id,
                f"moves {amount} base units out of {key} beyond its vesting: after {self.settled} settled "
                f"epochs the genesis schedule has unlocked {unlocked} base units, and {moved_out} have moved "
                "out so far, this entry included",
            )

    def _tally(self, epoch: bytes, paid: int, count: int) -> None:
        tally = self.payout_tallies[int(epoch)]
        tally[0] += paid
        tally[1] += count

    def _special(self, entry_id, kind, debit, credit, amount, fields) -> bool:
        """Genesis, records, and whatever breaks the common rule; True: no balance to update."""
        if kind not in _KINDS:
            self.problem(entry_id, f"unknown kind {kind!r}")
            return True
        if kind in _RECORDS:
            if debit or credit or amount:
                self.problem(entry_id, f"a {kind.decode()} record moves no money and names no account")
            elif kind == b"epoch_settled":
                epoch = int(fields[5])
                self.settled = max(self.settled, epoch + 1)
                self._epoch_record(entry_id, epoch, fields[7])
            return True
        if kind != b"genesis":
            self.problem(entry_id, f"a {kind.decode()} entry moves a positive amount between two different accounts")
            return True
        if self.moved:
            self.problem(entry_id, "genesis entry after the supply started moving: no mint after genesis")
        if debit or not credit or amount <= 0:
            self.problem(entry_id, "a genesis entry credits one account a positive amount, debiting none")
            return True
        self.genesis_total += amount
        if self.genesis_supply is None:
            try:
                memo = json.loads(fields[7])
                self.genesis_supply = int(memo["total_supply"])
                self.schedule = ScheduleParams(**memo["schedule"])  # what vests when
            except (ValueError, KeyError, TypeError) as error:
                self.problem(
                    entry_id, f"the first genesis entry must record total_supply and the schedule in its memo: {error!r}"
                )
                self.genesis_supply = self.genesis_supply or 0
        return False

    def _epoch_record(self, entry_id: int, epoch: int, memo: bytes) -> None:
        try:
            data = json.loads(memo)
        except ValueError:
            self.problem(entry_id, "epoch_settled memo is not JSON")
            return
        if epoch < 0 or epoch in self.records:
            self.problem(entry_id, f"epoch_settled for epoch {epoch}: missing or settled twice")
            return
        self.records[epoch] = (entry_id, data)
        paid, count = self.payout_tallies.pop(epoch, [0, 0])
        if str(paid) != data.get("paid") or count != data.get("payout_count"):
            self.problem(
                entry_id,
                f"epoch {epoch}: payout entries add up to {paid} in {count} entries, "
                f"the record says {data.get('paid')} in {data.get('payout_count')}",
            )
        if self.account_keys is not None:
            payouts = self.open_epochs.pop(epoch, {})
            if OFFLOAD_ROOT_PAYOUTS is not None and len(payouts) >= OFFLOAD_ROOT_PAYOUTS:
                root = self._root_worker().submit(self._root_in_worker, epoch, payouts)
            else:
                root = payouts_root(epoch, payouts)
            self.roots.append((entry_id, epoch, data.get("payouts_root"), root))

    def _root_worker(self) -> ThreadPoolExecutor:
        """A big tree is hashed by a worker process while this one goes on with the chain; one
        helper thread feeds it, epoch after epoch, and waits for each root (without the GIL)."""
        if self.worker is None:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "feedback_site.ledger.root_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=PROJECT_ROOT,
            )
            self.feeder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-roots")
        return self.feeder

    def _root_in_worker(self, epoch: int, payouts: dict[str, int]) -> str:
        pickle.dump((epoch, payouts), self.worker.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.worker.stdin.flush()
        answer = self.worker.stdout.readline().decode().strip()
        if not answer:
            raise RuntimeError(f"the root worker stopped (exit status {self.worker.poll()})")
        return answer

    def _compare_roots(self) -> None:
        try:
            for entry_id, epoch, published, root in self.roots:
                try:
                    root = root.result() if isinstance(root, Future) else root
                except (OSError, RuntimeError) as error:
                    self.problem(entry_id, f"epoch {epoch}: the root could not be computed: {error}")
                    continue
                if root != published:
                    self.problem(
                        entry_id,
                        f"epoch {epoch}: the payout entries hash to the Merkle root {root}, not the published {published}",
                    )
        finally:
            if self.worker is not None:
                self.feeder.shutdown()
                self.worker.stdin.close()
                self.worker.wait()

    def finish(self, last_entry_id: int) -> None:
        self._compare_roots()
        for epoch, (paid, count) in self.payout_tallies.items():
            self.problem(None, f"epoch {epoch}: {count} payout entries ({paid} base units) without an epoch_settled record")
        settlements = {s.epoch: s for s in EpochSettlement.objects.filter(last_entry_id__lte=last_entry_id)}
        for epoch, settlement in settlements.items():
            if epoch not in self.records:
                self.problem(settlement.last_entry_id, f"epoch {epoch} has a settlement row but no epoch_settled record")
        carried = "0"
        for epoch, (entry_id, memo) in sorted(self.records.items()):
            if memo.get("carried_in") != carried:
                self.problem(
                    entry_id,
                    f"epoch {epoch} carries in {memo.get('carried_in')}, but the epoch before carried over {carried}",
                )
            carried = memo.get("carry_over")
            settlement = settlements.get(epoch)
            if settlement is None:
                self.problem(entry_id, f"epoch {epoch} is settled in the chain but has no EpochSettlement row")
            elif settlement.payouts_root != memo.get("payouts_root") or any(
                str(getattr(settlement, name)) != memo.get(name) for name in _SETTLEMENT_TOTALS
            ):
                self.problem(entry_id, f"epoch {epoch}: the EpochSettlement row differs from the chain's record")
        report = self.report
        report.epochs = len(self.records)
        report.accounts = len(self.balances)
        report.balances_total = sum(self.balances.values())
        report.total_supply = self.genesis_supply or 0
        if report.entries and self.genesis_total != report.total_supply:
            self.problem(None, f"genesis created {self.genesis_total} base units, not the supply {report.total_supply}")
        if report.balances_total != self.genesis_total:
            self.problem(
                None,
                f"conservation: the balances add up to {report.balances_total} base units, "
                f"but genesis created {self.genesis_total}",
            )


def ledger_verify(
    *, check_roots: bool = True, progress: Callable[[int], None] | None = None
) -> VerificationReport:
    """Verify the chain, every epoch root and conservation; see the module docstring."""
    report = VerificationReport()
    head = LedgerHead.objects.filter(pk=1).first()
    last_entry_id = head.last_entry_id if head else 0
    account_keys = dict(LedgerAccount.objects.values_list("id", "key")) if check_roots else None
    vesting_accounts = {
        account_id: (key, VESTING_ACCOUNTS[key])
        for account_id, key in LedgerAccount.objects.filter(key__in=VESTING_ACCOUNTS).values_list("id", "key")
    }
    checker = _Checker(report, account_keys, vesting_accounts)
    # SQLite: no transaction, which there would block writers for the whole check; entries up to
    # the head read above are complete and never change, so each statement sees the same rows.
    with transaction.atomic() if connection.vendor == "postgresql" else nullcontext():
        checker.run(entry_lines(last_entry_id), progress)
        checker.finish(last_entry_id)

    if report.entries and checker.expected_id - 1 != last_entry_id:
        checker.problem(None, f"the head points at entry {last_entry_id}, the chain ends at {checker.expected_id - 1}")
    elif head is not None and report.entries and checker.previous.hex() != head.last_hash:
        checker.problem(last_entry_id, "the head's hash is not the last entry's hash")
    # Entries appended since the check began are past the head read then, but not past the
    # head now; one past the head now was written around the append path.
    head_now = LedgerHead.objects.filter(pk=1).first()
    stray = LedgerEntry.objects.filter(id__gt=head_now.last_entry_id if head_now else 0).order_by("id").first()
    if stray is not None:
        checker.problem(stray.id, "entry beyond the chain head: written outside the ledger's append path")
    return report
