from django.core.management.base import BaseCommand, CommandError

from feedback_site.annotation import services
from feedback_site.annotation.models import Datanet
from feedback_site.core import errors


class Command(BaseCommand):
    help = "Freeze an immutable, content-hashed snapshot of a Datanet's judgments. Example: python manage.py snapshot harmless"

    def add_arguments(self, parser):
        parser.add_argument("name", help="Datanet name")
        parser.add_argument("--note", default="", help="free text stored with the snapshot")
        parser.add_argument(
            "--aggregation",
            choices=["majority", "reliability", "each"],
            default="majority",
            help="preference labels: majority vote, reliability-weighted (Dawid-Skene posterior), or every judgment separately",
        )

    def handle(self, *args, name, note, aggregation, **options):
        datanet = Datanet.objects.filter(name=name).first()
        if datanet is None:
            raise CommandError(f"No Datanet named {name!r}.")
        try:
            snapshot = services.snapshot_create(datanet=datanet, note=note, aggregation=aggregation)
        except errors.ServiceError as exc:
            raise CommandError(exc.message) from None
        c = snapshot.counts
        self.stdout.write(
            f"Snapshot {snapshot.id} of {datanet.name!r}: {c['judgment_events']} judgment events, {c['trl_rows']} preference rows, "
            f"{c['annotators']} annotators."
        )
        self.stdout.write(f"id {snapshot.id} hash {snapshot.content_hash}")
