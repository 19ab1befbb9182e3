"""Reads of the ledger. Every balance is derived from the entries, never stored.

A balance is ``sum(entries crediting the account) - sum(entries debiting it)``, summed exactly in
SQL (``ExactSum``) over the (credit, id) and (debit, id) indexes; "as of entry N" adds
``id <= N``, which is what makes ``stake_at`` exact for any snapshot.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Max

from simulator.economy.merkle import PayoutTree
from simulator.economy.policies import PolicyParams, explain_account, policy_from_dict
from simulator.economy.schedule import ScheduleParams

from . import errors
from .fields import ExactSum
from .models import (
    AccountKind,
    EntryKind,
    EpochAttribution,
    EpochSettlement,
    EpochStanding,
    LedgerAccount,
    LedgerEntry,
    PolicyVersion,
    RegisteredModel,
)

DEFAULT_POLICY = "attribution"
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Keys of the protocol's own accounts.
COMMUNITY_POOL = "community_pool"
TREASURY = "treasury"
EPOCH_REWARDS = "system:epoch_rewards"
FEE_ESCROW = "system:fee_escrow"


def wallet_key(pseudonym: str) -> str:
    return f"contributor:{pseudonym}"


def owned_key(kind: str, owner_key: str) -> str:
    """Key of a stake or unbonding account owned by ``owner_key``."""
    prefixes: dict[str, str] = {AccountKind.STAKER: "stake", AccountKind.UNBONDING: "unbonding"}
    prefix = prefixes[kind]
    return f"{prefix}:{owner_key}"


def account_by_key(*, key: str) -> LedgerAccount:
    account = LedgerAccount.objects.filter(key=key).first()
    if account is None:
        raise errors.UnknownAccount(f"account {key!r}: no such ledger account")
    return account


def wallet_for(*, contributor) -> LedgerAccount | None:
    return LedgerAccount.objects.filter(kind=AccountKind.CONTRIBUTOR, contributor=contributor).first()


def owned_account(*, owner: LedgerAccount, kind: str) -> LedgerAccount | None:
    return LedgerAccount.objects.filter(kind=kind, owner=owner).first()


def _entries_until(at_entry_id: int | None):
    entries = LedgerEntry.objects.all()
    return entries if at_entry_id is None else entries.filter(id__lte=at_entry_id)


def account_balance(*, account: LedgerAccount | int, at_entry_id: int | None = None) -> int:
    """Balance in base units, after entry ``at_entry_id`` (inclusive) or now."""
    account_id = account if isinstance(account, int) else account.id
    entries = _entries_until(at_entry_id)
    credits = entries.filter(credit_id=account_id).aggregate(total=ExactSum("amount"))["total"] or 0
    return credits - account_debited(account=account_id, at_entry_id=at_entry_id)


def account_debited(*, account: LedgerAccount | int, at_entry_id: int | None = None) -> int:
    """Everything moved out of ``account`` up to entry ``at_entry_id`` (inclusive) or now, in base
    units: one indexed sum over its debits."""
    account_id = account if isinstance(account, int) else account.id
    return _entries_until(at_entry_id).filter(debit_id=account_id).aggregate(total=ExactSum("amount"))["total"] or 0


def balances_of_kind(*, kind: str, at_entry_id: int | None = None) -> dict[int, int]:
    """Balance of every account of ``kind`` that has ever moved, by account id: two GROUP BYs."""
    entries = _entries_until(at_entry_id)
    # IN (the accounts of this kind): index lookups per account, not a join over every entry.
    accounts = LedgerAccount.objects.filter(kind=kind).values("id")
    balances: dict[int, int] = defaultdict(int)
    for account_id, total in (
        entries.filter(credit_id__in=accounts).values_list("credit_id").annotate(total=ExactSum("amount"))
    ):
        balances[account_id] += total
    for account_id, total in (
        entries.filter(debit_id__in=accounts).values_list("debit_id").annotate(total=ExactSum("amount"))
    ):
        balances[account_id] -= total
    return dict(balances)


def entry_id_at(*, at: datetime) -> int:
    """The last entry written at or before ``at`` (0 if none). Entry times never decrease along
    the chain (the head keeps the last one), so this is a cut of the chain, not a sample."""
    micros = (at - UNIX_EPOCH) // timedelta(microseconds=1)
    return LedgerEntry.objects.filter(created_us__lte=micros).aggregate(last=Max("id"))["last"] or 0


def _snapshot_id(at_entry_id: int | None, at: datetime | None) -> int | None:
    if at_entry_id is not None and at is not None:
        raise TypeError("give at_entry_id or at, not both")
    return entry_id_at(at=at) if at is not None else at_entry_id


def stake_at(*, account: LedgerAccount, at_entry_id: int | None = None, at: datetime | None = None) -> int:
    """Bonded stake of ``account`` (a wallet, or its stake account) after entry ``at_entry_id``,
    or at time ``at``, or now. Unbonding stake is not counted: it no longer backs a vote.

    Exact (integer sums over the ledger) and cheap: two indexed sums over the stake account's
    own entries, which are few (stakes, unstakes, slashes).
    """
    stake = account if account.kind == AccountKind.STAKER else owned_account(owner=account, kind=AccountKind.STAKER)
    if stake is None:
        return 0
    return account_balance(account=stake, at_entry_id=_snapshot_id(at_entry_id, at))


def stakes_at(*, at_entry_id: int | None = None, at: datetime | None = None) -> dict[str, int]:
    """Every positive stake at a snapshot, keyed by the owner's account key (for a vote tally)."""
    balances = balances_of_kind(kind=AccountKind.STAKER, at_entry_id=_snapshot_id(at_entry_id, at))
    owners = dict(
        LedgerAccount.objects.filter(kind=AccountKind.STAKER).values_list("id", "owner__key")
    )
    return {owners[account_id]: amount for account_id, amount in balances.items() if amount > 0}


def epoch_next() -> int:
    """The epoch being collected now: the first one not settled yet (0 before any)."""
    last = EpochSettlement.objects.aggregate(last=Max("epoch"))["last"]
    return 0 if last is None else last + 1


def genesis_schedule() -> ScheduleParams:
    """The schedule recorded at genesis: emission budgets follow it for the life of the ledger."""
    first = LedgerEntry.objects.filter(kind=EntryKind.GENESIS).order_by("id").first()
    if first is None:
        raise errors.GenesisMissing("the ledger has no genesis yet: run `python manage.py ledger_genesis`")
    return ScheduleParams(**json.loads(first.memo)["schedule"])


def policy_for_epoch(*, epoch: int) -> tuple[PolicyVersion | None, PolicyParams]:
    """The policy in force at ``epoch``: the latest version activated at or before it, or the
    default (``attribution`` with its default parameters)."""
    version = PolicyVersion.objects.filter(activates_at_epoch__lte=epoch).order_by("-activates_at_epoch").first()
    if version is None:
        return None, policy_from_dict(DEFAULT_POLICY, {})
    return version, policy_from_dict(version.name, version.params)


def unbonding_state(*, unbonding: LedgerAccount | None, epoch: int) -> tuple[int, int]:
    """(withdrawable now, still cooling down) of an unbonding account, at epoch ``epoch``.

    Each unstake entry records the epoch from which it can be withdrawn; withdrawals take only
    matured amounts, so what is withdrawable is the matured total minus what was withdrawn.
    """
    if unbonding is None:
        return 0, 0
    matured = pending = 0
    for amount, memo in LedgerEntry.objects.filter(kind=EntryKind.UNSTAKE, credit=unbonding).values_list(
        "amount", "memo"
    ):
        if json.loads(memo)["withdrawable_from_epoch"] <= epoch:
            matured += amount
        else:
            pending += amount
    withdrawn = (
        LedgerEntry.objects.filter(kind=EntryKind.WITHDRAWAL, debit=unbonding).aggregate(total=ExactSum("amount"))[
            "total"
        ]
        or 0
    )
    return matured - withdrawn, pending


@dataclass
class PayoutRow:
    epoch: int
    amount: int
    entry_id: int | None  # None: scored, paid nothing
    score: float | None
    judgments: int | None
    payouts_root: str
    why: list[str] = field(default_factory=list)  # the policy's plain words for this payout


@dataclass
class WalletSummary:
    wallet: LedgerAccount | None
    balance: int = 0
    staked: int = 0
    unbonding_withdrawable: int = 0
    unbonding_pending: int = 0
    payouts: list[PayoutRow] = field(default_factory=list)
    fee_shares: int = 0
    # (model id, model version name or "", base units) per model whose fees paid this wallet.
    fee_shares_by_model: list[tuple[str, str, int]] = field(default_factory=list)


def wallet_summary(*, contributor) -> WalletSummary:
    wallet = wallet_for(contributor=contributor)
    if wallet is None:
        return WalletSummary(wallet=None)
    stake = owned_account(owner=wallet, kind=AccountKind.STAKER)
    withdrawable, pending = unbonding_state(
        unbonding=owned_account(owner=wallet, kind=AccountKind.UNBONDING), epoch=epoch_next()
    )
    paid = dict(
        LedgerEntry.objects.filter(kind=EntryKind.PAYOUT, credit=wallet).values_list("epoch", "id")
    )
    amounts = dict(LedgerEntry.objects.filter(kind=EntryKind.PAYOUT, credit=wallet).values_list("epoch", "amount"))
    attributions = {row.epoch: row for row in EpochAttribution.objects.active().filter(contributor=contributor)}
    # Every settled epoch the contributor was paid in or scored in: an unpaid epoch is explained too.
    settlements = {
        row.epoch: row
        for row in EpochSettlement.objects.filter(epoch__in=set(paid) | set(attributions)).only(
            "epoch", "payouts_root", "explanation"
        )
    }
    details = dict(
        EpochStanding.objects.filter(contributor=contributor, epoch__in=list(settlements), detail__isnull=False).values_list(
            "epoch", "detail"
        )
    )
    rows = [
        PayoutRow(
            epoch=epoch,
            amount=amounts.get(epoch, 0),
            entry_id=paid.get(epoch),
            score=attributions[epoch].score if epoch in attributions else None,
            judgments=attributions[epoch].judgments if epoch in attributions else None,
            payouts_root=settlement.payouts_root,
            why=payout_explanation(settlement, wallet.key, amounts.get(epoch, 0), details.get(epoch)),
        )
        for epoch, settlement in sorted(settlements.items(), reverse=True)
    ]
    by_model = fee_shares_by_model(wallet=wallet)
    return WalletSummary(
        wallet=wallet,
        balance=account_balance(account=wallet),
        staked=account_balance(account=stake) if stake else 0,
        unbonding_withdrawable=withdrawable,
        unbonding_pending=pending,
        payouts=rows,
        fee_shares=sum(amount for *_, amount in by_model),
        fee_shares_by_model=by_model,
    )


def fee_shares_by_model(*, wallet: LedgerAccount) -> list[tuple[str, str, int]]:
    """What the fees of each model paid into ``wallet``: (model id, model version name, base units).
    Each fee share's memo names its model; shares settled before memos did are under model ""."""
    totals: dict[str, int] = defaultdict(int)
    for memo, amount in LedgerEntry.objects.filter(kind=EntryKind.FEE_SHARE, credit=wallet).values_list("memo", "amount"):
        totals[json.loads(memo or "{}").get("model", "")] += amount
    names = dict(RegisteredModel.objects.filter(id__in=list(totals)).values_list("id", "model_version__name"))
    return [(model, names.get(model) or "", amount) for model, amount in sorted(totals.items())]


def payout_explanation(settlement: EpochSettlement, key: str, amount: int, detail: dict | None) -> list[str]:
    """The settling policy's own words for why ``key`` was paid ``amount`` in the epoch: from the
    explanation the settlement stored, with the account's figures from its standing row."""
    explanation = dict((settlement.explanation or {}).get("policy", {}))
    if detail is not None:
        explanation["accounts"] = {key: detail}
    return explain_account(explanation, key, amount)


def epoch_payouts(*, epoch: int) -> dict[str, int]:
    """The epoch's policy payouts as recorded in the ledger, account key -> base units."""
    return dict(
        LedgerEntry.objects.filter(epoch=epoch, kind=EntryKind.PAYOUT).values_list("credit__key", "amount")
    )


def settlement_for(*, epoch: int) -> EpochSettlement:
    settlement = EpochSettlement.objects.filter(epoch=epoch).first()
    if settlement is None:
        raise errors.EpochNotSettled(f"epoch {epoch} has not been settled")
    return settlement


def payout_proof(*, account: LedgerAccount, epoch: int) -> dict:
    """The Merkle proof of ``account``'s payout in ``epoch``, rebuilt from the ledger's entries.

    The JSON is what ``python -m simulator.economy verify-proof proof.json --root ROOT`` checks;
    ROOT is the epoch's published ``payouts_root``.
    """
    settlement = settlement_for(epoch=epoch)
    payouts = epoch_payouts(epoch=epoch)
    if account.key not in payouts:
        raise errors.NoPayout(f"account {account.key!r} was not paid in epoch {epoch}")
    tree = PayoutTree(epoch, payouts)
    if tree.root != settlement.payouts_root:
        raise errors.LedgerInconsistent(
            f"epoch {epoch}: the payouts in the ledger hash to {tree.root}, not to the published root "
            f"{settlement.payouts_root}; run `python manage.py verify_ledger`"
        )
    return tree.proof(account.key)


@dataclass
class AccountRow:
    key: str
    kind: str
    balance: int


def protocol_accounts() -> list[AccountRow]:
    """Balances of the protocol's own accounts (treasury, pools, allocations, escrow)."""
    kinds = (AccountKind.TREASURY, AccountKind.COMMUNITY_POOL, AccountKind.SYSTEM)
    accounts = LedgerAccount.objects.filter(kind__in=kinds).order_by("kind", "key")
    return [AccountRow(key=a.key, kind=a.kind, balance=account_balance(account=a)) for a in accounts]


def entries_of(*, account: LedgerAccount, limit: int = 50) -> list[LedgerEntry]:
    """The latest entries that moved ``account``, newest first."""
    credited = LedgerEntry.objects.filter(credit=account).order_by("-id")[:limit]
    debited = LedgerEntry.objects.filter(debit=account).order_by("-id")[:limit]
    return sorted([*credited, *debited], key=lambda entry: -entry.id)[:limit]


def total_staked() -> int:
    return sum(amount for amount in balances_of_kind(kind=AccountKind.STAKER).values() if amount > 0)


def settlements_newest_first():
    """Every settled epoch, newest first (the epochs page pages through it)."""
    return EpochSettlement.objects.order_by("-epoch")


def treasury_account() -> LedgerAccount | None:
    return LedgerAccount.objects.filter(key=TREASURY).first()
