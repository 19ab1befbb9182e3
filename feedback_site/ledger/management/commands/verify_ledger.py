import time

from django.core.management.base import BaseCommand, CommandError

from feedback_site.ledger.templatetags.ledger_amounts import open_amount
from feedback_site.ledger.verification import ledger_verify


class Command(BaseCommand):
    help = (
        "Verify the ledger from its entries: the hash chain, every epoch's Merkle root, that all "
        "balances add up to the supply, and that the team and investor allocations never paid out more "
        "than had vested. Exit status 1 and the first bad entry on failure."
    )

    def add_arguments(self, parser):
        parser.add_argument("--skip-roots", action="store_true", help="check the chain and balances only")
        parser.add_argument("--quiet", action="store_true", help="no progress lines")

    def handle(self, *args, skip_roots, quiet, **options):
        started = time.perf_counter()

        def progress(count: int) -> None:
            if not quiet and count % 1_000_000 < 20_000:
                self.stderr.write(f"  {count:,} entries checked ...")

        report = ledger_verify(check_roots=not skip_roots, progress=progress)
        seconds = time.perf_counter() - started
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(f"  {problem}")
            raise CommandError(
                f"ledger verification FAILED after {report.entries:,} entries; first bad: {report.first_problem}"
            )
        self.stdout.write(
            f"OK: {report.entries:,} entries chained, {report.epochs} epoch roots"
            f"{' (not checked)' if skip_roots else ''}, {report.accounts:,} accounts add up to "
            f"{open_amount(report.balances_total)} OPEN = the supply; {seconds:.1f} s"
        )
