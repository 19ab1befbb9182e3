from django.core.management.base import BaseCommand, CommandError

from feedback_site.core.errors import ServiceError
from feedback_site.ledger.amounts import parse_open
from feedback_site.ledger.services import ledger_transfer


class Command(BaseCommand):
    help = (
        "Move OPEN between two ledger accounts, e.g. fund a consumer: ledger_transfer allocation:liquidity "
        "consumer:c_1a2b 100. allocation:team and allocation:investors pay out only what has vested by the "
        "settled epochs (the genesis schedule's cliff, then linear), counting every earlier transfer out."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="key of the account to debit")
        parser.add_argument("destination", help="key of the account to credit")
        parser.add_argument("amount", help="amount in OPEN, e.g. 12.5 (up to 18 decimals)")
        parser.add_argument("--note", default="", help="why, recorded in the entry's memo")

    def handle(self, *args, source, destination, amount, note, **options):
        try:
            entry = ledger_transfer(
                source_key=source, destination_key=destination, amount=parse_open(amount, field="amount"), note=note
            )
        except ServiceError as error:
            raise CommandError(f"nothing transferred: {error.message}") from None
        self.stdout.write(f"Entry {entry.id}: {amount} OPEN from {source} to {destination}.")
