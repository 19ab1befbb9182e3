from django.core.management.base import BaseCommand, CommandError

from feedback_site.annotation.models import Snapshot
from feedback_site.annotation.services import snapshot_create
from feedback_site.core import errors
from feedback_site.training import services
from feedback_site.training.models import Method

from ._lookup import base_model_named, datanet_named


class Command(BaseCommand):
    help = (
        "Train a reward model or a DPO policy on a Datanet's judgments (a new snapshot, or --snapshot ID): the "
        "training step of a round. Queued for a worker, or run here with --run-here; a finished version registers, "
        "is attributed, and scores the queue when the Datanet serves by uncertainty. Settings as name=value. "
        "Example: python manage.py train harmless --method reward_linear --base-model minilm --set l2=0.1"
    )

    def add_arguments(self, parser):
        parser.add_argument("datanet", help="Datanet name or slug")
        parser.add_argument("--method", required=True, choices=Method.values)
        parser.add_argument("--base-model", required=True, help="registered base model name")
        parser.add_argument("--snapshot", type=int, help="train on this snapshot (default: a new one of every judgment)")
        parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                            help=f"a job setting, repeatable ({', '.join(services.JOB_SETTINGS)})")
        parser.add_argument("--run-here", action="store_true", help="run in this process instead of queueing it")

    def handle(self, *args, datanet, method, base_model, snapshot, set, run_here, **options):
        target = datanet_named(datanet)
        params = {}
        for item in set:
            name, equals, value = item.partition("=")
            if not equals:
                raise CommandError(f"--set {item!r}: expected NAME=VALUE")
            params[name.strip()] = value.strip()
        try:
            if snapshot is None:
                frozen = snapshot_create(datanet=target, note="train command")
            else:
                frozen = Snapshot.objects.filter(pk=snapshot, datanet=target).first()
                if frozen is None:
                    raise CommandError(f"snapshot: no snapshot {snapshot} of Datanet {target.name!r}")
            job = services.training_job_create(snapshot=frozen, method=method,
                                               base_model=base_model_named(base_model, "base_model"), params=params,
                                               enqueue=not run_here)
        except errors.ServiceError as exc:
            raise CommandError(exc.message) from None
        if not run_here:
            self.stdout.write(f"Training job {job.id} queued on the {job.queue} queue (snapshot {frozen.id}).")
            return
        job = services.training_job_run(job_id=job.id)
        if job.state != "completed":
            raise CommandError(f"Training job {job.id} {job.state}: {job.error}")
        version = job.model_version
        accuracy = (version.metrics.get("heldout") or {})
        self.stdout.write(f"Training job {job.id} completed: registered {version.name}; held-out "
                          + ", ".join(f"{k} {v:.3f}" for k, v in accuracy.items() if isinstance(v, int | float)))
