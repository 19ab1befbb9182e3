from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from feedback_site.annotation.models import Datanet
from feedback_site.governance.sweeps import site_simulate


class Command(BaseCommand):
    help = (
        "Simulate the OPEN economy calibrated from this site's own feedback log: exports the log, calibrates, runs a sweep "
        "(on Celery workers when a Redis broker and result backend are configured, else local processes). "
        "Example: python manage.py simulate --scenario baseline --scenario sybil_attack --policy attribution_bonded --seeds 8"
    )

    def add_arguments(self, parser):
        parser.add_argument("--scenario", action="append", dest="scenarios", help="scenario name (repeatable; default baseline)")
        parser.add_argument("--policy", action="append", dest="policies", help="policy name (repeatable; default attribution_bonded)")
        parser.add_argument("--seeds", type=int, default=4)
        parser.add_argument("--root-seed", type=int, default=0)
        parser.add_argument("--epochs", type=int, default=None, help="shorten every scenario to this many epochs")
        parser.add_argument("--processes", type=int, default=1, help="local processes when no workers are configured")
        parser.add_argument("--datanet", default=None, help="only this Datanet's judgments (default: all)")
        parser.add_argument("--out", default=None, help="output folder (default var/simulate/<timestamp>)")
        parser.add_argument("--local", action="store_true", help="run on local processes even when Celery workers are configured")

    def handle(self, *args, scenarios, policies, seeds, root_seed, epochs, processes, datanet, out, local, **options):
        import time

        target = None
        if datanet:
            target = Datanet.objects.filter(name=datanet).first()
            if target is None:
                raise CommandError(f"No Datanet named {datanet!r}.")
        out = Path(out) if out else settings.VAR_DIR / "simulate" / time.strftime("%Y%m%d-%H%M%S")
        try:
            folder = site_simulate(
                scenarios=tuple(scenarios or ["baseline"]), policies=tuple(policies or ["attribution_bonded"]), seeds=seeds,
                root_seed=root_seed, out=out, datanet=target, epochs=epochs, processes=processes, local=local,
                progress=self.stdout.write,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"sweep: {folder}")
