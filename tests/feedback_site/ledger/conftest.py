"""Fixtures for the ledger: a ledger after genesis, contributors, recorded epoch inputs, funding;
and raw-SQL helpers for editing tables behind the application's back."""

from contextlib import contextmanager

import pytest
from django.db import connection

from feedback_site.accounts.roles import Role
from feedback_site.accounts.services import user_create
from feedback_site.annotation.models import Snapshot
from feedback_site.annotation.services import datanet_create
from feedback_site.ledger import selectors, services
from feedback_site.ledger.epoch_inputs import epoch_inputs_record
from feedback_site.ledger.models import LedgerEntry
from feedback_site.ledger.settlement import epoch_settle
from feedback_site.quality.models import QualityReport
from feedback_site.training.models import BaseModel, ModelVersion, TrainingJob
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


def model_version_make(name: str) -> ModelVersion:
    """A registered model version to attribute scores to (its data and training are not what these
    tests are about: an empty snapshot, a job marked completed)."""
    datanet = datanet_create(name=f"Data of {name}")
    snapshot = Snapshot.objects.create(datanet=datanet, cutoff_judgment_id=0, content_hash="0" * 64)
    base, _ = BaseModel.objects.get_or_create(name="ledger-tests-encoder", defaults={"family": "encoder"})
    job = TrainingJob.objects.create(
        snapshot=snapshot, snapshot_hash=snapshot.content_hash, method="reward_linear", base_model=base, state="completed"
    )
    return ModelVersion.objects.create(job=job, name=name, kind="linear_head", artifacts_dir="")


def quality_report_make(datanet) -> QualityReport:
    """A stored quality report row for ``datanet`` (its figures are given by the test, not computed)."""
    return QualityReport.objects.create(datanet=datanet, cutoff_judgment_id=0, judgments=0, seed=0, report={}, seconds=0.0)


@pytest.fixture
def attribute(db):
    """attribute(epoch, {user: score, ...}, flagged=(user,), agreement=0.9) records the epoch's
    attribution (one model version per call) and, with flags or agreement, its quality, through
    epoch_inputs_record."""
    made = []

    def write(epoch: int, scores: dict, *, flagged=(), judgments: int = 10, agreement=None):
        made.append(model_version_make(f"rm-{epoch}-{len(made)}"))
        epoch_inputs_record(
            epoch=epoch,
            source="attribution",
            rows=[{"contributor": user.contributor, "score": score, "judgments": judgments} for user, score in scores.items()],
            model_version=made[-1],
            source_run_id=f"run-{epoch}",
        )
        if flagged or agreement is not None:
            epoch_inputs_record(
                epoch=epoch,
                source="quality",
                rows=[
                    {"contributor": user.contributor, "flagged": user in flagged, "agreement": agreement,
                     "flags": ["too_fast"] if user in flagged else []}
                    for user in scores
                ],
                quality_report=quality_report_make(made[-1].job.snapshot.datanet),
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
