"""Staking: stake, unstake with a cooldown counted in settled epochs, withdraw; stake at a
snapshot, exact, for governance votes; refusals leave the ledger unchanged."""

from datetime import UTC, datetime, timedelta

import pytest

from feedback_site.ledger import errors, selectors, services
from feedback_site.ledger.models import LedgerEntry
from feedback_site.ledger.settlement import epoch_settle
from feedback_site.ledger.verification import ledger_verify

from .conftest import OPEN, ledger_state, wallet_balance


@pytest.fixture
def staker(make_person, fund):
    person = make_person("sam")
    fund(person, 100)
    return person


def wallet(person):
    return selectors.wallet_for(contributor=person.contributor)


def test_stake_unstake_cooldown_withdraw(staker, settings):
    settings.LEDGER_UNSTAKE_COOLDOWN_EPOCHS = 2
    contributor = staker.contributor
    services.stake_add(contributor=contributor, amount=60 * OPEN)
    assert wallet_balance(staker) == 40 * OPEN and selectors.stake_at(account=wallet(staker)) == 60 * OPEN

    request = services.stake_remove(contributor=contributor, amount=25 * OPEN)
    assert selectors.stake_at(account=wallet(staker)) == 35 * OPEN  # unbonding no longer counts
    summary = selectors.wallet_summary(contributor=contributor)
    assert (summary.unbonding_withdrawable, summary.unbonding_pending) == (0, 25 * OPEN)
    assert '"withdrawable_from_epoch":2' in request.memo

    before = ledger_state()
    with pytest.raises(errors.NothingToWithdraw, match="25 OPEN is still cooling down"):
        services.stake_withdraw(contributor=contributor)
    assert ledger_state() == before

    epoch_settle(epoch=0, allow_empty=True)
    with pytest.raises(errors.NothingToWithdraw):
        services.stake_withdraw(contributor=contributor)
    epoch_settle(epoch=1, allow_empty=True)
    entry = services.stake_withdraw(contributor=contributor)
    assert entry.amount == 25 * OPEN and wallet_balance(staker) == 65 * OPEN
    with pytest.raises(errors.NothingToWithdraw):
        services.stake_withdraw(contributor=contributor)
    assert ledger_verify().ok


def test_unstaking_more_than_staked_is_refused(staker):
    services.stake_add(contributor=staker.contributor, amount=10 * OPEN)
    before = ledger_state()
    with pytest.raises(errors.InsufficientStake, match=r"you have 10 OPEN staked .* cannot unstake 10\.5 OPEN"):
        services.stake_remove(contributor=staker.contributor, amount=10 * OPEN + OPEN // 2)
    assert ledger_state() == before


def test_staking_more_than_the_wallet_holds_is_refused(staker, make_person):
    before = ledger_state()
    with pytest.raises(errors.InsufficientFunds, match="holds 100 OPEN"):
        services.stake_add(contributor=staker.contributor, amount=101 * OPEN)
    with pytest.raises(errors.InsufficientFunds, match="your wallet holds 0 OPEN"):
        services.stake_add(contributor=make_person("newcomer").contributor, amount=1)
    assert ledger_state() == before


@pytest.mark.parametrize(
    ("amount", "message"),
    [(-5, "negative"), (1.5, "not an integer"), ("1.5", "not a whole number"), ("1e18", "not a whole number"),
     (True, "not an integer"), (0, "more than 0"), (None, "expected an integer"), (10**40, "whole supply")],
)
def test_bad_amounts_are_refused(staker, amount, message):
    before = ledger_state()
    with pytest.raises(errors.InvalidAmount, match=message):
        services.stake_add(contributor=staker.contributor, amount=amount)
    assert ledger_state() == before


def test_stake_at_a_snapshot_is_exact(staker):
    account = wallet(staker)
    first = services.stake_add(contributor=staker.contributor, amount=7 * OPEN + 1)
    second = services.stake_add(contributor=staker.contributor, amount=3 * OPEN)
    third = services.stake_remove(contributor=staker.contributor, amount=5 * OPEN)
    assert selectors.stake_at(account=account, at_entry_id=first.id - 1) == 0
    assert selectors.stake_at(account=account, at_entry_id=first.id) == 7 * OPEN + 1
    assert selectors.stake_at(account=account, at_entry_id=second.id) == 10 * OPEN + 1
    assert selectors.stake_at(account=account, at_entry_id=third.id) == 5 * OPEN + 1
    assert selectors.stake_at(account=account) == 5 * OPEN + 1
    assert selectors.stake_at(account=account, at=second.created_at) == 10 * OPEN + 1
    assert selectors.stake_at(account=account, at=first.created_at - timedelta(microseconds=1)) == 0
    assert selectors.stake_at(account=account, at=datetime.now(UTC)) == 5 * OPEN + 1
    assert selectors.stakes_at(at_entry_id=second.id) == {account.key: 10 * OPEN + 1}


def test_entry_times_never_decrease(staker):
    ids = [services.stake_add(contributor=staker.contributor, amount=OPEN).id for _ in range(5)]
    times = [selectors.entry_id_at(at=LedgerEntry.objects.get(id=i).created_at) for i in ids]
    assert times == sorted(times) and times[-1] == ids[-1]
