from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from feedback_site.annotation import errors, services
from feedback_site.annotation.models import Datanet


class Command(BaseCommand):
    help = (
        "Import prompts and responses from a JSONL file into a Datanet (created with default settings if it does not exist). "
        "All or nothing. Example: python manage.py import_datanet ../shared/data/hh-rlhf-harmless-1k.jsonl --datanet harmless"
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSONL: our format, TRL prompt/chosen/rejected, or HH-RLHF chosen/rejected")
        parser.add_argument("--datanet", required=True, help="Datanet name")
        parser.add_argument("--domain", default="", help="domain, when the Datanet is created")

    def handle(self, *args, file, datanet, domain, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        target = Datanet.objects.filter(name=datanet).first()
        created = target is None
        try:
            if created:
                target = services.datanet_create(name=datanet, domain=domain)
            with path.open("rb") as stream:
                batch = services.datanet_import(datanet=target, stream=stream, filename=str(path), origin="cli")
        except errors.ImportRejected as exc:
            if created:
                target.delete()  # the Datanet was made for this import only; the import failed, so leave nothing
            raise CommandError(exc.message) from None
        except errors.ServiceError as exc:
            raise CommandError(exc.message) from None
        if created:
            self.stdout.write(
                f"Created Datanet {target.name!r} with default settings (overlap k={target.overlap}, gold rate {target.gold_rate})."
            )
        self.stdout.write(
            f"Imported {path.name} into {target.name!r}: {batch.prompts_created} prompts, {batch.comparisons_created} comparisons."
        )
