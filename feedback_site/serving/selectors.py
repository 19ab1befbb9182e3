"""What the serving pages read: a consumer's own balance and calls, and each served version's traffic."""

from __future__ import annotations

from statistics import median

from django.db.models import Count

from feedback_site.ledger import selectors as ledger_selectors
from feedback_site.ledger.fields import ExactSum
from feedback_site.ledger.models import AccountKind, LedgerAccount
from simulator.economy.policies import PolicyParams

from .models import InferenceCall, Publication

RECENT_CALLS = 50
LATENCY_SAMPLE = 1000


def prices() -> PolicyParams:
    """The policy in force for the open epoch: its `call_fee` prices each call, per call and per token."""
    _, params = ledger_selectors.policy_for_epoch(epoch=ledger_selectors.epoch_next())
    return params


def consumer_account_of(*, user) -> LedgerAccount | None:
    return LedgerAccount.objects.filter(kind=AccountKind.CONSUMER, user=user).first()


def consumer_summary(*, user) -> dict:
    """A consumer's balance, spend and latest calls: theirs only, never another consumer's."""
    account = consumer_account_of(user=user)
    if account is None:
        return {"account": None, "balance": 0, "calls": [], "spend": 0, "call_count": 0, "by_version": []}
    calls = InferenceCall.objects.filter(consumer=account)
    totals = calls.aggregate(count=Count("id"), spend=ExactSum("fee"))
    by_version = (
        calls.values("model_version_id", "model_version__name")
        .annotate(calls=Count("id"), spend=ExactSum("fee"))
        .order_by("model_version_id")
    )
    return {
        "account": account,
        "balance": ledger_selectors.account_balance(account=account),
        "calls": list(calls.select_related("model_version")[:RECENT_CALLS]),
        "call_count": totals["count"],
        "spend": totals["spend"] or 0,
        "by_version": list(by_version),
    }


def _percentile(values: list[int], share: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def served_versions() -> list[dict]:
    """Per published (or once published) version: calls, fees and latency (p50/p99 of its latest calls)."""
    rows = []
    for publication in Publication.objects.select_related("model_version"):
        calls = InferenceCall.objects.filter(model_version=publication.model_version)
        totals = calls.aggregate(count=Count("id"), fees=ExactSum("fee"))
        latencies = list(calls.order_by("-id").values_list("latency_ms", flat=True)[:LATENCY_SAMPLE])
        rows.append({
            "publication": publication,
            "version": publication.model_version,
            "calls": totals["count"],
            "fees": totals["fees"] or 0,
            "latency_p50_ms": median(latencies) if latencies else None,
            "latency_p99_ms": _percentile(latencies, 0.99),
        })
    return rows


def publication_of(*, version_id: int) -> Publication | None:
    return Publication.objects.filter(model_version_id=version_id).first()
