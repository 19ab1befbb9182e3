import time

from django.core.management.base import BaseCommand, CommandError

from feedback_site.annotation.exports import EXPORT_FORMATS, snapshot_export
from feedback_site.annotation.models import Snapshot


class Command(BaseCommand):
    help = (
        "Export a snapshot: trl (TRL preference JSONL), hf (Hugging Face datasets folder) or log (feedback log JSONL). "
        "Example: python manage.py export 3 --format trl --out harmless.jsonl"
    )

    def add_arguments(self, parser):
        parser.add_argument("snapshot", type=int, help="snapshot id (printed by `manage.py snapshot`)")
        parser.add_argument("--format", dest="export_format", choices=EXPORT_FORMATS, default="trl")
        parser.add_argument("--out", required=True, help="output file (a folder for --format hf)")

    def handle(self, *args, snapshot, export_format, out, **options):
        found = Snapshot.objects.filter(pk=snapshot).first()
        if found is None:
            raise CommandError(f"No snapshot with id {snapshot}.")
        started = time.perf_counter()
        path = snapshot_export(snapshot=found, export_format=export_format, out=out)
        self.stdout.write(
            f"Wrote {export_format} export of snapshot {found.id} (hash {found.content_hash[:12]}) to {path} in {time.perf_counter() - started:.1f} s."
        )
