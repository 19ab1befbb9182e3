"""Quality: computing and storing reports, debounced recomputation, gold items, exclusions.

The estimators are `rlhf.quality` (pure, tested against known truth); this module feeds them the
Datanet's judgments and keeps the results.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from feedback_site.accounts.models import Contributor
from feedback_site.annotation.exports import judgment_quality_records
from feedback_site.annotation.models import Comparison, Datanet, Judgment
from feedback_site.core import errors
from feedback_site.ledger import errors as ledger_errors
from feedback_site.ledger import selectors as ledger_selectors
from feedback_site.ledger import services as ledger_services

from .models import Exclusion, QualityReport, QualityState

GOLD_CHOICES = ("a", "b", "tie")
# The flag code of an annotator excluded from the Datanet by an engineer: flagged, so unpaid.
EXCLUDED_FLAG = "excluded"


def quality_gold(*, datanet_id: int) -> dict[str, str]:
    return {
        str(cid): choice
        for cid, choice in Comparison.objects.filter(datanet_id=datanet_id).exclude(gold_choice="").values_list("id", "gold_choice")
    }


# The quality report's threshold when the active policy's parameters carry none (0.35x the Datanet median).
DEFAULT_TOO_FAST_BPS = 3500
# An epoch settled between choosing it and recording into it: choose the next one again, this many times.
RECORD_ATTEMPTS = 3


def quality_report_compute(*, datanet: Datanet, seed: int = 0) -> QualityReport:
    """Computes the Datanet's quality report now and stores it (a new row: the history is the trend),
    and records its per-annotator flags and agreement for the next unsettled epoch's settlement
    (``epoch_inputs_record``; this Datanet's newer report replaces its older one whole).

    "Too fast" is a money rule: its threshold is the ``too_fast_bps`` of the policy in force at that
    epoch, so the site flags by the rule the simulator sweeps."""
    from rlhf.quality import FlagThresholds, quality_report

    started = time.perf_counter()
    cutoff = Judgment.objects.filter(datanet=datanet).aggregate(m=Max("id"))["m"] or 0
    records = judgment_quality_records(datanet.id, cutoff)
    gold = quality_gold(datanet_id=datanet.id)
    for attempt in range(RECORD_ATTEMPTS):
        epoch = ledger_selectors.epoch_next()
        _, params = ledger_selectors.policy_for_epoch(epoch=epoch)
        thresholds = FlagThresholds(too_fast_ratio=getattr(params, "too_fast_bps", DEFAULT_TOO_FAST_BPS) / 10000)
        report = quality_report(records, gold, seed=seed, thresholds=thresholds)
        try:
            with transaction.atomic():
                stored = QualityReport.objects.create(
                    datanet=datanet, cutoff_judgment_id=cutoff, judgments=len(records), seed=seed, report=report,
                    seconds=time.perf_counter() - started,
                )
                ledger_services.epoch_inputs_record(
                    epoch=epoch, source="quality", rows=quality_epoch_rows(datanet=datanet, report=report), quality_report=stored
                )
                return stored
        except ledger_errors.EpochAlreadySettled:
            if attempt == RECORD_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def quality_epoch_rows(*, datanet: Datanet, report: dict) -> list[dict]:
    """What settlement needs of a report, one row per annotator: flagged when the report raised any
    flag or an exclusion is active for them in this Datanet (code ``excluded``); agreement is the
    share of their judgments' pairings that agree with peers, or their gold accuracy where no one
    else judged the same comparisons, or None where neither was measured."""
    excluded = set(
        Exclusion.objects.filter(datanet=datanet, revoked_at__isnull=True).values_list("contributor__pseudonym", flat=True)
    )
    rows = []
    for entry in report["annotators"]:
        pseudonym = entry["annotator_id"]
        flags = [flag["code"] for flag in entry["flags"]]
        if pseudonym in excluded:
            flags.append(EXCLUDED_FLAG)
        agreement = entry["agreement"]["value"]
        if agreement is None:
            agreement = entry["gold_accuracy"]["value"]
        rows.append({"contributor": pseudonym, "flagged": bool(flags), "agreement": agreement, "flags": flags, "judgments": entry["n_judgments"]})
    measured = {entry["annotator_id"] for entry in report["annotators"]}
    rows.extend(
        {"contributor": pseudonym, "flagged": True, "agreement": None, "flags": [EXCLUDED_FLAG], "judgments": 0}
        for pseudonym in sorted(excluded - measured)
    )
    return rows


logger = logging.getLogger(__name__)
# datanet id -> wall-clock time until which a queued recomputation is certain to still be ahead (it
# runs `delay` after it was queued): until then a judgment needs no database round trip to be
# picked up. This is the hot path of every submit.
_queued_ahead_until: dict[int, float] = {}
# A flag older than this many delays belongs to a task that was lost (broker or worker gone): reclaim it.
STALE_DELAYS = 10


def quality_recompute_request(*, datanet_id: int) -> None:
    """Queues one recomputation after a quiet period, however many judgments arrive meanwhile (debounce)."""
    delay = settings.QUALITY_RECOMPUTE_DELAY_SECONDS
    now = timezone.now()
    if now.timestamp() < _queued_ahead_until.get(datanet_id, 0.0):
        return
    stale = now - timedelta(seconds=delay * STALE_DELAYS)
    claimed = (
        QualityState.objects.filter(datanet_id=datanet_id)
        .filter(Q(scheduled_at__isnull=True) | Q(scheduled_at__lt=stale))
        .update(scheduled_at=now)
    )
    if not claimed:
        state, claimed = QualityState.objects.get_or_create(datanet_id=datanet_id, defaults={"scheduled_at": now})
        if not claimed:
            # Someone else queued it: it runs `delay` after their flag, and picks up what commits before then.
            _queued_ahead_until[datanet_id] = (state.scheduled_at or now).timestamp() + delay - 1
            return
    _queued_ahead_until[datanet_id] = now.timestamp() + delay - 1
    transaction.on_commit(lambda: _queue_recompute(datanet_id=datanet_id, delay=delay, flagged_at=now))


def _queue_recompute(*, datanet_id: int, delay: int, flagged_at) -> None:
    """Sends the task. The judgment that asked for it is already committed: a broker that is down must not
    turn that success into an error. The flag is taken back so that the next judgment tries again."""
    from kombu.exceptions import OperationalError

    from .tasks import quality_recompute

    try:
        quality_recompute.apply_async(args=[datanet_id], countdown=delay)
    except OperationalError:
        logger.exception("quality recompute for Datanet %s not queued: broker unreachable", datanet_id)
        _queued_ahead_until.pop(datanet_id, None)
        QualityState.objects.filter(datanet_id=datanet_id, scheduled_at=flagged_at).update(scheduled_at=None)


def quality_recompute_now(*, datanet_id: int) -> None:
    """Queues a recomputation to start at once (the engineer asked for it): the request only queues it,
    a worker computes it. Refused with a clear error when the broker cannot be reached."""
    from kombu.exceptions import OperationalError

    from .tasks import quality_recompute

    # The debounce flag is left alone: judgments keep queueing their own run after this one.
    try:
        quality_recompute.apply_async(args=[datanet_id], countdown=0)
    except OperationalError:
        raise errors.Conflict("The task queue cannot be reached: the recomputation was not queued. Try again later.") from None


def quality_recompute_run(*, datanet_id: int) -> QualityReport | None:
    """What the task does: clear the debounce flag first (judgments arriving now queue the next run), then compute."""
    datanet = Datanet.objects.filter(pk=datanet_id).first()
    if datanet is None:
        return None  # deleted since it was queued: nothing to do
    QualityState.objects.filter(datanet_id=datanet_id).update(scheduled_at=None)
    latest = QualityReport.objects.filter(datanet_id=datanet_id).first()
    newest_judgment = Judgment.objects.filter(datanet_id=datanet_id).aggregate(m=Max("id"))["m"] or 0
    if latest is not None and latest.cutoff_judgment_id == newest_judgment:
        return latest  # already up to date: running twice is harmless
    return quality_report_compute(datanet=datanet)


def comparison_mark_gold(*, comparison: Comparison, choice: str) -> Comparison:
    if choice not in GOLD_CHOICES:
        raise errors.InvalidInput(f"gold_choice: must be one of {', '.join(GOLD_CHOICES)}")
    Comparison.objects.filter(pk=comparison.pk).update(gold_choice=choice)
    comparison.gold_choice = choice
    return comparison


def gold_from_reference(*, datanet: Datanet, fraction: float, seed: int = 0) -> int:
    """Marks a seeded random share of the comparisons with an imported reference answer as gold; returns how many."""
    import random

    if not 0 < fraction <= 1:
        raise errors.InvalidInput("fraction: must be in (0, 1]")
    candidates = list(
        Comparison.objects.filter(datanet=datanet, gold_choice="").exclude(reference_choice="").order_by("id").values_list("id", "reference_choice")
    )
    chosen = random.Random(seed).sample(candidates, round(len(candidates) * fraction))
    with transaction.atomic():
        for cid, reference in chosen:
            Comparison.objects.filter(pk=cid).update(gold_choice=reference)
    return len(chosen)


def exclusion_add(*, datanet: Datanet, pseudonym: str, reason: str, by) -> Exclusion:
    contributor = Contributor.objects.filter(pseudonym=pseudonym).first()
    if contributor is None:
        raise errors.NotFound(f"contributor: no contributor {pseudonym!r}")
    if not reason.strip():
        raise errors.InvalidInput("reason: say why the annotator is excluded (it is recorded in snapshots)")
    if Exclusion.objects.filter(datanet=datanet, contributor=contributor, revoked_at__isnull=True).exists():
        raise errors.Conflict(f"{pseudonym} is already excluded from {datanet.name}")
    return Exclusion.objects.create(datanet=datanet, contributor=contributor, reason=reason.strip(), created_by=by)


def exclusion_revoke(*, exclusion: Exclusion, by) -> Exclusion:
    if exclusion.revoked_at is not None:
        raise errors.Conflict("This exclusion was already revoked.")
    exclusion.revoked_at, exclusion.revoked_by = timezone.now(), by
    exclusion.save(update_fields=["revoked_at", "revoked_by"])
    return exclusion


def exclusions_active(*, datanet_id: int) -> list[dict]:
    """The exclusions a snapshot taken now applies, as recorded in its metadata."""
    return [
        {"contributor": pseudonym, "reason": reason, "since": since.isoformat()}
        for pseudonym, reason, since in Exclusion.objects.filter(datanet_id=datanet_id, revoked_at__isnull=True)
        .order_by("contributor__pseudonym")
        .values_list("contributor__pseudonym", "reason", "created_at")
    ]
