"""Many writers appending at once, on PostgreSQL (SQLite serialises writers, so it cannot show a
race): the chain never forks, ids have no gap, no transfer is lost, no account is overdrawn,
and a settlement racing the writers lands whole."""

import threading

import pytest
from django.db import connection, connections

from feedback_site.core.errors import ServiceError
from feedback_site.ledger import selectors, services
from feedback_site.ledger.models import LedgerEntry
from feedback_site.ledger.settlement import epoch_settle
from feedback_site.ledger.verification import ledger_verify

from .conftest import OPEN, wallet_balance

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITERS = 8
APPENDS_EACH = 15


def test_concurrent_appends_keep_one_chain(make_person, fund, attribute):
    assert connection.vendor == "postgresql"
    people = [make_person(f"w{i}") for i in range(WRITERS)]
    for person in people:
        fund(person, 10)
    attribute(0, {person: 1.0 + i for i, person in enumerate(people)})
    start = threading.Barrier(WRITERS + 1)
    failures: list[BaseException] = []
    refused: list[ServiceError] = []

    def stake_and_unstake(person):
        try:
            start.wait()
            for i in range(APPENDS_EACH):
                if i % 3 == 2:
                    services.stake_remove(contributor=person.contributor, amount=OPEN // 2)
                else:
                    services.stake_add(contributor=person.contributor, amount=OPEN)
        except ServiceError as exc:
            refused.append(exc)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    def settle():
        try:
            start.wait()
            epoch_settle(epoch=0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=stake_and_unstake, args=(p,)) for p in people]
    threads.append(threading.Thread(target=settle))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "writers hung"
    assert failures == []
    assert refused == []  # 10 stakes of 1 OPEN fit in each wallet of 10 OPEN

    ids = list(LedgerEntry.objects.order_by("id").values_list("id", flat=True))
    assert ids == list(range(1, len(ids) + 1))  # one chain, no gap, no fork
    report = ledger_verify()
    assert report.ok, report.problems
    for person in people:
        stakes = selectors.stake_at(account=selectors.wallet_for(contributor=person.contributor))
        assert stakes == 10 * OPEN - 5 * (OPEN // 2)  # every append of this writer landed
        assert wallet_balance(person) >= 0
