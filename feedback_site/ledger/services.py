"""Writes to the ledger: genesis, accounts, transfers, staking, fees, policy changes.

Every write appends entries through ``append_entries`` while holding the chain head's row lock,
so entries get consecutive ids, each hash covers the previous one, and balance checks see every
earlier entry. Each service is keyword-only and atomic: it appends all of its entries or raises
a ServiceError and appends nothing. Epoch settlement is in ``settlement.py``; what it settles on
(attribution scores, quality flags) is recorded by ``epoch_inputs_record`` (``epoch_inputs.py``,
re-exported here).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from django.db import transaction

from feedback_site.accounts.services import contributor_for
from simulator.economy.policies import params_to_dict, policy_from_dict
from simulator.economy.schedule import Allocation, ScheduleParams, allocation_amounts, unlocked_at
from simulator.economy.units import base_units_to_open

from . import conf, errors, selectors
from .amounts import parse_base_units
from .bulk import bulk_insert
from .chain import canonical_memo, chain_hashes
from .epoch_inputs import epoch_inputs_record as epoch_inputs_record
from .models import (
    AccountKind,
    EntryKind,
    FeeUsage,
    LedgerAccount,
    LedgerEntry,
    LedgerHead,
    PolicyVersion,
    RegisteredModel,
)

ENTRY_FIELDS = ("id", "kind", "debit_id", "credit_id", "amount", "epoch", "created_us", "memo", "entry_hash")
MAX_REQUEST_ID_CHARS = 100
MAX_MODEL_ID_CHARS = 200

# Where each genesis allocation is held. Team and investor vesting is a matter of who may move
# these accounts, not of the supply; the community pool pays the epochs' emission.
GENESIS_ACCOUNTS = {
    Allocation.COMMUNITY: (selectors.COMMUNITY_POOL, AccountKind.COMMUNITY_POOL),
    Allocation.INVESTORS: ("allocation:investors", AccountKind.SYSTEM),
    Allocation.TEAM: ("allocation:team", AccountKind.SYSTEM),
    Allocation.LIQUIDITY: ("allocation:liquidity", AccountKind.SYSTEM),
}
# The allocations whose accounts may pay out no more than the schedule has unlocked.
VESTING_ACCOUNTS = {
    GENESIS_ACCOUNTS[allocation][0]: allocation for allocation in (Allocation.TEAM, Allocation.INVESTORS)
}


class NewEntry(NamedTuple):
    """An entry about to be appended; the id, time and hash are given by ``append_entries``.
    A NamedTuple: settlement builds a million of them."""

    kind: str
    debit_id: int | None
    credit_id: int | None
    amount: int
    epoch: int | None = None
    memo: str = ""


# --- the chain ---------------------------------------------------------------------------------


def head_lock() -> LedgerHead:
    """Lock the chain head (SELECT ... FOR UPDATE) until the surrounding transaction ends.

    Every writer takes it first, so appends, balance checks and "which epoch is open" are
    serialised. On SQLite the write transaction itself is the lock (IMMEDIATE mode)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("head_lock() must run inside transaction.atomic()")
    head, _ = LedgerHead.objects.select_for_update().get_or_create(pk=1)
    return head


def append_entries(*, head: LedgerHead, entries: Sequence[NewEntry]) -> tuple[int, int]:
    """Append ``entries`` after the locked ``head``; returns (first id, last id).

    All entries of one call share one timestamp, never earlier than the head's last one, so
    entry times never decrease along the chain (``selectors.entry_id_at`` relies on it).
    """
    if not entries:
        return head.last_entry_id + 1, head.last_entry_id
    created_us = max(time.time_ns() // 1000, head.last_created_us)
    first = head.last_entry_id + 1
    rows = [
        (entry_id, kind, debit_id, credit_id, amount, epoch, created_us, memo)
        for entry_id, (kind, debit_id, credit_id, amount, epoch, memo) in enumerate(entries, start=first)
    ]
    hashes = [digest.hex() for digest in chain_hashes(bytes.fromhex(head.last_hash), rows)]
    bulk_insert(LedgerEntry, ENTRY_FIELDS, (row + (digest,) for row, digest in zip(rows, hashes, strict=True)))
    head.last_entry_id = rows[-1][0]
    head.last_hash = hashes[-1]
    head.last_created_us = created_us
    head.save(update_fields=["last_entry_id", "last_hash", "last_created_us"])
    return first, head.last_entry_id


def _append_one(head: LedgerHead, entry: NewEntry) -> LedgerEntry:
    first, _ = append_entries(head=head, entries=[entry])
    return LedgerEntry.objects.get(id=first)


def _open(amount: int) -> str:
    return f"{base_units_to_open(amount)} OPEN ({amount} base units)"


def _require_funds(account: LedgerAccount, amount: int, *, what: str) -> None:
    balance = selectors.account_balance(account=account)
    if balance < amount:
        raise errors.InsufficientFunds(f"{what}: {account.key} holds {_open(balance)}, less than {_open(amount)}")


def _require_vested(account: LedgerAccount, amount: int) -> None:
    """Refuse to move more out of a team or investor allocation than the genesis schedule has
    unlocked by now, counting every earlier transfer out of it, not only this one.

    "Now" is the number of settled epochs (``epoch_next``), the clock that releases the
    community pool's emission: after N settled epochs the pool has emitted exactly
    ``unlocked_at(epoch=N)``'s community figure, and the same call gives the vested amounts.
    """
    allocation = VESTING_ACCOUNTS.get(account.key)
    if allocation is None:
        return
    schedule = selectors.genesis_schedule()
    settled = selectors.epoch_next()
    unlocked = unlocked_at(schedule, epoch=settled)[allocation]
    moved_out = selectors.account_debited(account=account)
    if moved_out + amount <= unlocked:
        return
    cliff_end = schedule.cliff_epochs
    # Epoch k (0-based) is the (k+1)th to settle: the first share vests with epoch cliff_end, the last
    # with epoch cliff_end + vesting - 1.
    last_epoch = cliff_end + schedule.vesting_epochs - 1
    if settled <= cliff_end:
        when = f"nothing unlocks before epoch {cliff_end} is settled, then a share with each epoch until epoch {last_epoch}"
    elif settled <= last_epoch:
        when = f"a further share unlocks as each epoch is settled, the last with epoch {last_epoch}"
    else:
        when = "the whole allocation has unlocked"
    raise errors.AllocationLocked(
        f"amount: {account.key} vests on the genesis schedule ({schedule.cliff_months}-month cliff, then "
        f"linear over {schedule.vesting_months} months): after {settled} settled epochs {_open(unlocked)} is "
        f"unlocked and {_open(moved_out)} has already moved out, so at most {_open(max(unlocked - moved_out, 0))} "
        f"can move now, not {_open(amount)}; {when}"
    )


# --- accounts ----------------------------------------------------------------------------------


def system_account(*, key: str, kind: str) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(key=key, defaults={"kind": kind})
    if account.kind != kind:
        raise errors.LedgerInconsistent(f"account {key!r} is a {account.kind} account, expected {kind}")
    return account


def wallet_ensure(*, contributor) -> LedgerAccount:
    """The contributor's wallet, created on first use; payouts and proofs name it by its key."""
    account, _ = LedgerAccount.objects.get_or_create(
        kind=AccountKind.CONTRIBUTOR,
        contributor=contributor,
        defaults={"key": selectors.wallet_key(contributor.pseudonym), "user_id": contributor.user_id},
    )
    return account


def _owned_ensure(*, owner: LedgerAccount, kind: str) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(
        kind=kind, owner=owner, defaults={"key": selectors.owned_key(kind, owner.key), "user_id": owner.user_id}
    )
    return account


def _user_account_ensure(*, user, kind: str) -> LedgerAccount:
    pseudonym = contributor_for(user=user).pseudonym
    account, _ = LedgerAccount.objects.get_or_create(
        key=f"{kind}:{pseudonym}", defaults={"kind": kind, "user": user}
    )
    return account


def consumer_account_open(*, user) -> LedgerAccount:
    """Open (or return) the user's consumer account: what pays fees for using models."""
    return _user_account_ensure(user=user, kind=AccountKind.CONSUMER)


def consumer_account_for(*, user) -> LedgerAccount:
    account = LedgerAccount.objects.filter(kind=AccountKind.CONSUMER, user=user).first()
    if account is None:
        raise errors.NoConsumerAccount(
            "you have no consumer account: open one with POST /api/ledger/consumer-account/ and fund it"
        )
    return account


def model_register(*, model_id: str, owner, model_version=None) -> RegisteredModel:
    """Register a model (string id) owned by the user ``owner``; idempotent for the same owner.
    ``model_version``: the site's trained version it serves, whose own contributors then share its fees."""
    model_id = _require_text(model_id, field="model_version_id", max_chars=MAX_MODEL_ID_CHARS)
    with transaction.atomic():
        account = _user_account_ensure(user=owner, kind=AccountKind.MODEL_OWNER)
        model, created = RegisteredModel.objects.get_or_create(
            id=model_id, defaults={"owner": account, "model_version": model_version}
        )
        if not created and model.owner_id != account.id:
            raise errors.DuplicateRequest(f"model_version_id: {model_id!r} is already registered to {model.owner.key}")
        if not created and model.model_version_id != getattr(model_version, "id", None):
            raise errors.DuplicateRequest(f"model_version_id: {model_id!r} is registered for another model version")
    return model


# --- genesis and transfers -------------------------------------------------------------------


def ledger_genesis(*, schedule: ScheduleParams | None = None) -> bool:
    """Create the fixed supply once, one genesis entry per allocation. Returns False (and writes
    nothing) when genesis was already done. The schedule is recorded in the first entry's memo;
    every later emission budget is computed from it."""
    schedule = schedule or ScheduleParams()
    with transaction.atomic():
        head = head_lock()
        if LedgerEntry.objects.filter(kind=EntryKind.GENESIS).exists():
            return False
        if head.last_entry_id:
            raise errors.LedgerInconsistent("the ledger has entries but no genesis; run verify_ledger")
        amounts = allocation_amounts(schedule)
        entries: list[NewEntry] = []
        for allocation, (key, kind) in GENESIS_ACCOUNTS.items():
            account = system_account(key=key, kind=kind)
            memo: dict[str, Any] = {"allocation": str(allocation)}
            if not entries:
                memo["schedule"] = dataclasses.asdict(schedule)
                memo["total_supply"] = str(schedule.total_supply)
            entries.append(
                NewEntry(EntryKind.GENESIS, None, account.id, amounts[allocation], memo=canonical_memo(memo))
            )
        for key, kind in (
            (selectors.TREASURY, AccountKind.TREASURY),
            (selectors.EPOCH_REWARDS, AccountKind.SYSTEM),
            (selectors.FEE_ESCROW, AccountKind.SYSTEM),
        ):
            system_account(key=key, kind=kind)
        append_entries(head=head, entries=entries)
    return True


def ledger_transfer(*, source_key: str, destination_key: str, amount: Any, note: str = "") -> LedgerEntry:
    """Move ``amount`` base units between two existing accounts (an operator's action, e.g.
    funding a consumer from the liquidity allocation). Stake, escrow and reward accounts and the
    community pool (it pays the emission schedule, nothing else) move only through their own
    services. The team and investor allocations pay out only what has vested (``_require_vested``)."""
    amount = parse_base_units(amount, field="amount")
    guarded = (AccountKind.STAKER, AccountKind.UNBONDING, AccountKind.COMMUNITY_POOL)
    with transaction.atomic():
        head = head_lock()
        source = selectors.account_by_key(key=source_key)
        destination = selectors.account_by_key(key=destination_key)
        if source.id == destination.id:
            raise errors.InvalidAmount(f"destination: {destination_key!r} is the source account")
        for account in (source, destination):
            if account.kind in guarded or account.key in (selectors.EPOCH_REWARDS, selectors.FEE_ESCROW):
                raise errors.UnknownAccount(
                    f"account {account.key!r} cannot take part in a transfer: it moves only by staking or settlement"
                )
        _require_funds(source, amount, what="amount")
        _require_vested(source, amount)
        memo = canonical_memo({"note": note} if note else None)
        return _append_one(head, NewEntry(EntryKind.TRANSFER, source.id, destination.id, amount, memo=memo))


# --- staking -----------------------------------------------------------------------------------


def _wallet_or_refuse(contributor, *, what: str) -> LedgerAccount:
    wallet = selectors.wallet_for(contributor=contributor)
    if wallet is None:
        raise errors.InsufficientFunds(f"{what}: your wallet holds 0 OPEN")
    return wallet


def stake_add(*, contributor, amount: Any) -> LedgerEntry:
    """Bond ``amount`` base units from the contributor's wallet into their stake account."""
    amount = parse_base_units(amount, field="amount")
    with transaction.atomic():
        head = head_lock()
        wallet = _wallet_or_refuse(contributor, what="amount")
        _require_funds(wallet, amount, what="amount")
        stake = _owned_ensure(owner=wallet, kind=AccountKind.STAKER)
        return _append_one(head, NewEntry(EntryKind.STAKE, wallet.id, stake.id, amount))


def stake_remove(*, contributor, amount: Any) -> LedgerEntry:
    """Start unbonding ``amount``: it stops counting as stake now and can be withdrawn to the
    wallet once ``LEDGER_UNSTAKE_COOLDOWN_EPOCHS`` more epochs have been settled."""
    amount = parse_base_units(amount, field="amount")
    with transaction.atomic():
        head = head_lock()
        wallet = _wallet_or_refuse(contributor, what="amount")
        stake = selectors.owned_account(owner=wallet, kind=AccountKind.STAKER)
        staked = selectors.account_balance(account=stake) if stake else 0
        if stake is None or staked < amount:
            raise errors.InsufficientStake(
                f"amount: you have {base_units_to_open(staked)} OPEN staked ({staked} base units); "
                f"cannot unstake {base_units_to_open(amount)} OPEN ({amount} base units)"
            )
        unbonding = _owned_ensure(owner=wallet, kind=AccountKind.UNBONDING)
        available_from = selectors.epoch_next() + conf.unstake_cooldown_epochs()
        memo = canonical_memo({"withdrawable_from_epoch": available_from})
        return _append_one(head, NewEntry(EntryKind.UNSTAKE, stake.id, unbonding.id, amount, memo=memo))


def stake_withdraw(*, contributor) -> LedgerEntry:
    """Move every unbonded amount whose cooldown has passed back to the wallet."""
    with transaction.atomic():
        head = head_lock()
        wallet = _wallet_or_refuse(contributor, what="withdrawal")
        unbonding = selectors.owned_account(owner=wallet, kind=AccountKind.UNBONDING)
        withdrawable, pending = selectors.unbonding_state(unbonding=unbonding, epoch=selectors.epoch_next())
        if unbonding is None or withdrawable <= 0:
            raise errors.NothingToWithdraw(
                f"nothing can be withdrawn yet: {base_units_to_open(pending)} OPEN is still cooling down"
            )
        return _append_one(head, NewEntry(EntryKind.WITHDRAWAL, unbonding.id, wallet.id, withdrawable))


# --- fees --------------------------------------------------------------------------------------


def _require_text(value: Any, *, field: str, max_chars: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise errors.InvalidInput(f"{field}: required, a non-empty string")
    if len(value) > max_chars:
        raise errors.InvalidInput(f"{field}: at most {max_chars} characters")
    return value.strip()


def fee_record(*, user, request_id: Any, model_id: Any, calls: Any, fee: Any) -> tuple[FeeUsage, bool]:
    """Record a consumer's usage of a model and take the fee from their account.

    The fee goes into the fee escrow, tagged with the open epoch; settlement of that epoch splits
    it (``split_fee``) among the epoch's contributors by attribution, the model's owner, stakers
    and the treasury. Splitting at settlement, not per call, keeps a usage report to one entry
    however many contributors there are, and lets fees cap rewards in ``attribution_bonded``.

    Idempotent by ``request_id`` (per consumer): the same report again returns the stored usage
    and ``created=False``; the same id with different content is refused.
    """
    request_id = _require_text(request_id, field="request_id", max_chars=MAX_REQUEST_ID_CHARS)
    model_id = _require_text(model_id, field="model_version_id", max_chars=MAX_MODEL_ID_CHARS)
    if isinstance(calls, bool) or not isinstance(calls, int) or calls < 1:
        raise errors.InvalidInput(f"calls: expected an integer >= 1, got {calls!r}")
    fee = parse_base_units(fee, field="fee", allow_zero=True)
    consumer = consumer_account_for(user=user)
    model = RegisteredModel.objects.filter(id=model_id).select_related("owner").first()
    if model is None:
        raise errors.UnknownModel(f"model_version_id: {model_id!r} is not a registered model")
    with transaction.atomic():
        head = head_lock()
        existing = FeeUsage.objects.filter(consumer=consumer, request_id=request_id).first()
        if existing is not None:
            if (existing.model_id, existing.calls, existing.fee) != (model.id, calls, fee):
                raise errors.DuplicateRequest(
                    f"request_id: {request_id!r} was already used for a different report "
                    f"(model {existing.model_id!r}, {existing.calls} calls, fee {existing.fee})"
                )
            return existing, False
        epoch = selectors.epoch_next()
        entry = None
        if fee:
            _require_funds(consumer, fee, what="fee")
            escrow = system_account(key=selectors.FEE_ESCROW, kind=AccountKind.SYSTEM)
            memo = canonical_memo({"model": model.id, "calls": calls, "request_id": request_id})
            entry = _append_one(head, NewEntry(EntryKind.FEE, consumer.id, escrow.id, fee, epoch=epoch, memo=memo))
        usage = FeeUsage.objects.create(
            consumer=consumer, request_id=request_id, model=model, calls=calls, fee=fee, epoch=epoch, entry=entry
        )
    return usage, True


# --- policy ------------------------------------------------------------------------------------


def policy_activate(*, name: Any, params: Any, activates_at_epoch: Any, by=None) -> PolicyVersion:
    """Make a policy (name + parameters, as governance JSON) the one in force from an epoch on.

    The parameters are validated by ``policy_from_dict`` and stored with every default filled
    in; the change is recorded in the chain (a ``policy_change`` entry). Only epochs not yet
    settled can be given a policy.
    """
    if isinstance(activates_at_epoch, bool) or not isinstance(activates_at_epoch, int):
        raise errors.PolicyRejected(f"activates_at_epoch: expected an integer epoch, got {activates_at_epoch!r}")
    try:
        policy = policy_from_dict(name, params if params is not None else {})
    except (TypeError, ValueError) as error:
        raise errors.PolicyRejected(f"policy: {error}") from None
    full_params = params_to_dict(policy)
    with transaction.atomic():
        head = head_lock()
        first_open = selectors.epoch_next()
        if activates_at_epoch < first_open:
            raise errors.PolicyRejected(
                f"activates_at_epoch: epoch {activates_at_epoch} is already settled; the first open epoch is {first_open}"
            )
        if PolicyVersion.objects.filter(activates_at_epoch=activates_at_epoch).exists():
            raise errors.PolicyRejected(
                f"activates_at_epoch: a policy already activates at epoch {activates_at_epoch}; choose another epoch"
            )
        memo = canonical_memo(
            {"policy": policy.name, "version": policy.version, "params": full_params, "activates_at_epoch": activates_at_epoch}
        )
        entry = _append_one(head, NewEntry(EntryKind.POLICY_CHANGE, None, None, 0, memo=memo))
        return PolicyVersion.objects.create(
            name=policy.name, params=full_params, activates_at_epoch=activates_at_epoch, entry=entry, created_by=by
        )
