import json

from django.core.management.base import BaseCommand, CommandError

from feedback_site.annotation.models import Datanet
from feedback_site.core import errors
from feedback_site.quality.simulation import annotators_simulate


class Command(BaseCommand):
    help = (
        "Create simulated annotators in a Datanet and have them judge through the site's own services, answering against "
        "each comparison's gold or reference answer. The last line is a JSON object keyed by contributor id. "
        "Example: python manage.py simulate_annotators harmless --annotators 50 --overlap 3 "
        "--mix honest=0.7,random=0.1,flip=0.1,left=0.1 --seed 1"
    )

    def add_arguments(self, parser):
        parser.add_argument("datanet", help="Datanet name")
        parser.add_argument("--annotators", type=int, default=20)
        parser.add_argument("--overlap", type=int, default=None, help="must equal the Datanet's k (default: the Datanet's)")
        parser.add_argument(
            "--mix", default="honest=0.7,random=0.1,flip=0.1,left=0.1",
            help="share of each kind: honest, random, flip, left, constant, duplicate; shares add up to 1",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--per-annotator", type=int, default=None, help="stop each simulated annotator after this many judgments")

    def handle(self, *args, datanet, annotators, overlap, mix, seed, per_annotator, **options):
        target = Datanet.objects.filter(name=datanet).first()
        if target is None:
            raise CommandError(f"No Datanet named {datanet!r}.")
        try:
            people = annotators_simulate(
                datanet=target, annotators=annotators, mix=mix, seed=seed, overlap=overlap, per_annotator=per_annotator
            )
        except errors.ServiceError as exc:
            raise CommandError(exc.message) from None
        kinds = {}
        for p in people:
            kinds[p.kind] = kinds.get(p.kind, 0) + 1
        self.stdout.write(f"Simulated {len(people)} annotators in {target.name!r} (seed {seed}): " + ", ".join(f"{n} {k}" for k, n in kinds.items()))
        self.stdout.write(json.dumps({p.pseudonym: {"username": p.username, "kind": p.kind, "accuracy": p.accuracy} for p in people}))
