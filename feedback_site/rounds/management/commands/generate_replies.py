from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize

from feedback_site.core import errors
from feedback_site.rounds import services
from rlhf.fields import field_describe
from rlhf.generation import GenerationSettings

from ._lookup import base_model_named, datanet_named, version_named


class Command(BaseCommand):
    help = (
        "Start a generation job: a DPO policy version's replies to a Datanet's prompts become comparisons in its "
        "judging queue (the first step of a round of the online loop). Queued for a worker, or run here with "
        "--run-here. Example: python manage.py generate_replies harmless --policy harmless-dpo-3 --replies-per-prompt 2"
    )

    def add_arguments(self, parser):
        parser.add_argument("datanet", help="Datanet name or slug")
        parser.add_argument("--policy", required=True, help="registered DPO policy version whose replies are judged")
        parser.add_argument("--second-version", help="another policy version to compare against, reply for reply")
        parser.add_argument("--reference", help="a causal-LM base model to compare against instead")
        parser.add_argument("--prompt-limit", type=int, help="only the first N prompts (default: all)")
        parser.add_argument("--device", default="cpu", choices=services.DEVICES, help="default cpu; cuda: the gpu queue")
        for name in services.GENERATION_SETTINGS:
            info = field_describe(GenerationSettings, name)
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name,
                                help=f"{info['help']} (default {info['default']})")
        parser.add_argument("--run-here", action="store_true", help="run in this process instead of queueing it")

    def handle(self, *args, datanet, policy, second_version, reference, prompt_limit, device, run_here, **options):
        target = datanet_named(datanet)
        settings = {name: options[name] for name in services.GENERATION_SETTINGS if options.get(name) is not None}
        try:
            job = services.generation_job_create(
                datanet=target, policy=version_named(policy, "policy"),
                second_version=version_named(second_version, "second_version"),
                reference=base_model_named(reference, "reference"), settings=settings, prompt_limit=prompt_limit,
                device=device, enqueue=not run_here)
        except errors.ServiceError as exc:
            raise CommandError(exc.message) from None
        if not run_here:
            self.stdout.write(f"Generation job {job.id} queued on the {job.queue} queue: {job.prompts_total} prompts.")
            return

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"\r{done}/{total} prompts", ending="")
            self.stdout.flush()

        job = services.generation_job_run(job_id=job.id, on_prompt=progress)
        self.stdout.write("")
        if job.state != "completed":
            raise CommandError(f"Generation job {job.id} {job.state}: {job.error}")
        self.stdout.write(f"Generation job {job.id} completed: {job.comparisons_created} comparison{pluralize(job.comparisons_created)} "
                          f"queued from {job.prompts_done} prompt{pluralize(job.prompts_done)} ({job.pairs_left_out} "
                          f"pair{pluralize(job.pairs_left_out)} left out, {job.prompts_cut} prompt{pluralize(job.prompts_cut)} "
                          "cut).")
