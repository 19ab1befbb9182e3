from django.core.management.base import BaseCommand, CommandError

from feedback_site.core import errors
from feedback_site.rounds import services

from ._lookup import datanet_named, version_named


class Command(BaseCommand):
    help = (
        "Score a Datanet's judging queue with a reward model version: each comparison's uncertainty, the order the "
        "uncertainty strategy serves (done by a worker after a reward model registers on such a Datanet). "
        "Example: python manage.py score_queue harmless --model-version harmless-reward_linear-4"
    )

    def add_arguments(self, parser):
        parser.add_argument("datanet", help="Datanet name or slug")
        parser.add_argument("--model-version", required=True, help="registered reward model (or linear head) version")
        parser.add_argument("--device", default="cpu", choices=services.DEVICES)

    def handle(self, *args, datanet, model_version, device, **options):
        target = datanet_named(datanet)
        try:
            scored = services.queue_score(datanet=target, model_version=version_named(model_version, "model_version"),
                                          device=device)
        except errors.ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Scored {scored} comparisons of {target.name!r} with {model_version}; the queue is served "
                          f"by {target.assignment_strategy}.")
