"""python manage.py report SWEEP_DIR --out FILE.html [--store]: the same page as `python -m simulator report`."""

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Write the HTML report of a sweep folder (the same output as `python -m simulator report`); --store also keeps it in the site."

    def add_arguments(self, parser):
        parser.add_argument("sweep_dir")
        parser.add_argument("--out", required=True, help="where to write the HTML file")
        parser.add_argument("--store", action="store_true", help="also store it as a report in the site")
        parser.add_argument("--title", default="", help="title of the stored report")

    def handle(self, *args, sweep_dir, out, store, title, **options):
        from simulator.report import ReportError, write_report

        try:
            path = write_report(sweep_dir, out)
        except (ReportError, OSError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"-> {path}")
        if store:
            from feedback_site.governance.services import report_create_from_sweep

            report = report_create_from_sweep(sweep_dir=sweep_dir, title=title)
            self.stdout.write(f"stored as report {report.id}")
