import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="ledger.settle_epoch", acks_late=True)
def settle_epoch(epoch: int | None = None) -> int | None:
    """Settle ``epoch``, or the next epoch whose attribution has arrived. Safe to run twice: an
    epoch already settled returns its settlement's id; missing attribution waits for next time."""
    from . import errors
    from .models import EpochSettlement
    from .settlement import epoch_settle, epoch_settle_next

    try:
        settlement = epoch_settle_next() if epoch is None else epoch_settle(epoch=epoch)
    except errors.EpochAlreadySettled:
        return EpochSettlement.objects.get(epoch=epoch).id
    except (errors.MissingAttribution, errors.GenesisMissing) as exc:
        logger.info("ledger.settle_epoch: nothing settled: %s", exc.message)
        return None
    return settlement.id if settlement else None
