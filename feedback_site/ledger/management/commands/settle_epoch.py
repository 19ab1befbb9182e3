from django.core.management.base import BaseCommand, CommandError

from feedback_site.core.errors import ServiceError
from feedback_site.ledger.settlement import epoch_settle
from feedback_site.ledger.templatetags.ledger_amounts import open_amount


class Command(BaseCommand):
    help = (
        "Settle one epoch with the emission policy in force: payouts, slashes and fee shares in one "
        "transaction, and the Merkle root of the payouts. Refused if the epoch is settled already, is "
        "not the next one, or has no attribution scores."
    )

    def add_arguments(self, parser):
        parser.add_argument("epoch", type=int, help="the epoch to settle (the next unsettled one)")
        parser.add_argument(
            "--allow-empty",
            action="store_true",
            help="settle even with no attribution rows: nobody is paid, the budget is carried over",
        )

    def handle(self, *args, epoch, allow_empty, **options):
        try:
            settlement = epoch_settle(epoch=epoch, allow_empty=allow_empty)
        except ServiceError as error:
            raise CommandError(f"epoch {epoch} not settled, the ledger is unchanged: {error.message}") from None
        self.stdout.write(
            f"Epoch {settlement.epoch} settled with {settlement.policy_name}: budget {open_amount(settlement.budget)} OPEN, "
            f"paid {open_amount(settlement.paid)} OPEN to {settlement.payout_count} contributors, "
            f"carried over {open_amount(settlement.carry_over)} OPEN, slashed {open_amount(settlement.slashed)} OPEN, "
            f"fees {open_amount(settlement.fees_collected)} OPEN.\n"
            f"Payouts root: {settlement.payouts_root} (entries {settlement.first_entry_id}-{settlement.last_entry_id})"
        )
