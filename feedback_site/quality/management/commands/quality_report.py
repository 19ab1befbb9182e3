import json as jsonlib

from django.core.management.base import BaseCommand, CommandError

from feedback_site.annotation.models import Datanet
from feedback_site.quality.services import quality_report_compute


class Command(BaseCommand):
    help = (
        "Compute a Datanet's quality report now (alpha with its interval, each annotator's reliability, gold accuracy and flags). "
        "With --json the last line is a JSON object. Example: python manage.py quality_report harmless --json"
    )

    def add_arguments(self, parser):
        parser.add_argument("datanet", help="Datanet name")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")
        parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap interval")

    def handle(self, *args, datanet, seed, **options):
        as_json = options["json"]
        target = Datanet.objects.filter(name=datanet).first()
        if target is None:
            raise CommandError(f"No Datanet named {datanet!r}.")
        stored = quality_report_compute(datanet=target, seed=seed)
        report = stored.report
        alpha = report["alpha"]
        flagged = [a for a in report["annotators"] if a["flags"]]
        shown = f"{alpha['value']:.3f}" if alpha["value"] is not None else f"not computable ({alpha['reason']})"
        self.stdout.write(
            f"{target.name}: {report['counts']['judgments']} judgments by {report['counts']['annotators']} annotators; "
            f"alpha {shown}; {len(flagged)} flagged; report {stored.id} in {stored.seconds:.1f} s"
        )
        for note in report["notes"]:
            self.stdout.write(f"note: {note}")
        if as_json:
            summary = {
                "datanet": target.name,
                "report_id": stored.id,
                "alpha": alpha,
                "annotators": {
                    a["annotator_id"]: {
                        "reliability": a["reliability"]["value"],
                        "reliability_reason": a["reliability"]["reason"],
                        "gold_accuracy": a["gold_accuracy"],
                        "agreement": a["agreement"]["value"],
                        "flags": [f["code"] for f in a["flags"]],
                        "flag_reasons": [f["reason"] for f in a["flags"]],
                    }
                    for a in report["annotators"]
                },
            }
            self.stdout.write(_dumps(summary))


def _dumps(value) -> str:
    return jsonlib.dumps(value, allow_nan=False)
