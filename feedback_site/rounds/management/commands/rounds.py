from django.core.management.base import BaseCommand

from feedback_site.rounds import selectors

from ._lookup import datanet_named


class Command(BaseCommand):
    help = (
        "List a Datanet's rounds of the online loop: each round's generation job, the comparisons it queued, the "
        "judgments bought, the training jobs and their held-out accuracy, and attribution. "
        "Example: python manage.py rounds harmless"
    )

    def add_arguments(self, parser):
        parser.add_argument("datanet", help="Datanet name or slug")

    def handle(self, *args, datanet, **options):
        target = datanet_named(datanet)
        rounds = selectors.rounds_of(datanet=target)
        if not rounds:
            self.stdout.write(f"{target.name}: no rounds yet.")
            return
        self.stdout.write(f"{'round':>5}  {'generation':<28} {'comparisons':>11} {'judgments':>9}  training (held-out accuracy)")
        for r in rounds:
            job = r.generation
            generation = f"job {job.id} {job.state} {job.prompts_done}/{job.prompts_total}" if job else "imported"
            training = "; ".join(
                f"{step.job.method} {step.job.id} {step.job.state}"
                + (f" {step.version_name}" if step.version_name else "")
                + (f" ({step.heldout_accuracy:.3f})" if step.heldout_accuracy is not None else "")
                + "".join(f" attribution {a.state}" for a in step.attribution)
                for step in r.training) or "-"
            self.stdout.write(f"{r.number:>5}  {generation:<28} {r.comparisons:>11} {r.judgments:>9}  {training}")
