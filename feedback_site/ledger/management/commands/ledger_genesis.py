from django.core.management.base import BaseCommand

from feedback_site.ledger.selectors import genesis_schedule
from feedback_site.ledger.services import ledger_genesis
from feedback_site.ledger.templatetags.ledger_amounts import open_amount


class Command(BaseCommand):
    help = "Create the fixed OPEN supply and its allocations in the ledger, once (running it again does nothing)."

    def handle(self, *args, **options):
        created = ledger_genesis()
        supply = genesis_schedule().total_supply
        if created:
            self.stdout.write(f"Genesis written: {open_amount(supply)} OPEN in community, investors, team and liquidity.")
        else:
            self.stdout.write(f"Genesis already done ({open_amount(supply)} OPEN); nothing written.")
