from django.core.management.base import BaseCommand, CommandError

from feedback_site.training.models import BaseModel


class Command(BaseCommand):
    help = (
        "Register a base model that training jobs may start from. "
        "Example: python manage.py register_base_model tiny-llama var/models/tiny-llama --family causal_lm"
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("path", nargs="?", default="", help="local folder or hub id; empty: the packaged MiniLM (encoder)")
        parser.add_argument("--family", choices=["causal_lm", "encoder"], required=True)

    def handle(self, *args, name, path, family, **options):
        from pathlib import Path

        if path and not Path(path).exists() and "/" not in path:
            raise CommandError(f"{path}: no such folder (and not a hub id)")
        model, created = BaseModel.objects.update_or_create(name=name, defaults={"path": path, "family": family})
        self.stdout.write(f"{'Registered' if created else 'Updated'} base model {model.name} ({model.family}) at {model.path or 'the packaged MiniLM'}.")
