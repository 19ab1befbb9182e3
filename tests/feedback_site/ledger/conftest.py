"""Fixtures for the ledger: a ledger after genesis, contributors, attribution rows, funding;
and raw-SQL helpers for editing tables behind the application's back."""

from contextlib import contextmanager

import pytest
from django.db import connection

from feedback_site.accounts.roles import Role
from feedback_site.accounts.services import user_create
from feedback_site.ledger import selectors, services
from feedback_site.ledger.models import EpochAttribution, LedgerEntry
from feedback_site.ledger.settlement import epoch_settle
from simulator.economy.schedule import ScheduleParams
from simulator.economy.units import BASE_UNITS_PER_OPEN

OPEN = BASE_UNITS_PER_OPEN
LIQUIDITY = "allocation:liquidity"
TEAM = "allocation:team"
# Months of one epoch, so the 12-month cliff of the team and investor allocations ends after 12
# settled epochs and their vesting after 48.
MONTHLY = ScheduleParams(epochs_per_month=1)


@pytest.fixture
def genesis(db):
    assert services.ledger_genesis() is True


@pytest.fixture
def monthly_genesis(db):
    assert services.ledger_genesis(schedule=MONTHLY) is True


def settle_empty(epochs: int) -> None:
    """Settle the next ``epochs`` epochs, with or without attribution: the vesting clock."""
    for epoch in range(selectors.epoch_next(), selectors.epoch_next() + epochs):
        epoch_settle(epoch=epoch, allow_empty=True)


@pytest.fixture
def make_person(db):
    """A user (annotator by default) with their contributor identity."""

    def make(name: str, roles=(Role.ANNOTATOR,)):
        return user_create(username=name, password=f"pw-{name}-123", roles=list(roles))

    return make


@pytest.fixture
def attribute(db):
    """attribute(epoch, {user: score, ...}, flagged=(user,)) writes EpochAttribution rows."""

    def write(epoch: int, scores: dict, *, flagged=(), judgments: int = 10, agreement=None):
        EpochAttribution.objects.bulk_create(
            [
                EpochAttribution(
                    epoch=epoch,
                    contributor=user.contributor,
                    score=score,
                    judgments=judgments,
                    agreement=agreement,
                    flagged=user in flagged,
                    source_run_id=f"run-{epoch}",
                )
                for user, score in scores.items()
            ]
        )

    return write


@pytest.fixture
def fund(genesis):
    """fund(user, open_amount) moves OPEN from the liquidity allocation into the user's wallet."""

    def give(user, amount_open: int):
        wallet = services.wallet_ensure(contributor=user.contributor)
        services.ledger_transfer(source_key=LIQUIDITY, destination_key=wallet.key, amount=amount_open * OPEN)
        return wallet

    return give


def balance_of(key: str) -> int:
    return selectors.account_balance(account=selectors.account_by_key(key=key))


def wallet_balance(user) -> int:
    return balance_of(selectors.wallet_key(user.contributor.pseudonym))


def ledger_state() -> tuple:
    """What a refused request must leave unchanged: entry count and chain tip."""
    last = LedgerEntry.objects.order_by("-id").values_list("id", "entry_hash").first()
    return LedgerEntry.objects.count(), last


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@contextmanager
def trigger_off(model):
    """Edit a table behind the application's back: switch its append-only trigger off for the
    statements inside (both databases run DDL inside the test's transaction, so it is undone)."""
    name = f"{model._meta.db_table}_append_only"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Deferred foreign-key checks pending in the test's transaction would block ALTER TABLE.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table(model)} DISABLE TRIGGER {name}")
            yield cursor
            cursor.execute(f"ALTER TABLE {table(model)} ENABLE TRIGGER {name}")
        else:
            cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = %s", [name])
            (create_sql,) = cursor.fetchone()
            cursor.execute(f"DROP TRIGGER {name}")
            yield cursor
            cursor.execute(create_sql)


def db_amount(value: int):
    """An amount as raw SQL stores it: digits as text on SQLite, a numeric on PostgreSQL."""
    return str(value) if connection.vendor == "sqlite" else value
