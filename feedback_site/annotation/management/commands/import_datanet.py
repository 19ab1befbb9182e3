from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from feedback_site.annotation import services
from feedback_site.annotation.forms import DatanetForm
from feedback_site.annotation.models import Datanet
from feedback_site.core import errors

# The Datanet settings the site's form offers, besides the name (`--datanet`): each becomes an option
# with the model field's help and default, so the command offers what the form does and no more.
SETTINGS = [name for name in DatanetForm._meta.fields if name != "name"]
SKIPPED_SHOWN = 50


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _option_type(model_field):
    return {"PositiveSmallIntegerField": int, "FloatField": float}.get(model_field.get_internal_type(), str)


class Command(BaseCommand):
    help = (
        "Import prompts and responses from a JSONL file into a Datanet, all or nothing (or leaving out invalid "
        "lines with --skip-invalid). The Datanet is created if it does not exist, with the settings given here. "
        "Example: python manage.py import_datanet ../shared/data/hh-rlhf-harmless-1k.jsonl --datanet harmless "
        "--overlap 1 --gold-rate 0.05"
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSONL: our format, TRL prompt/chosen/rejected, or HH-RLHF chosen/rejected")
        parser.add_argument("--datanet", required=True, help="Datanet name")
        for name in SETTINGS:
            model_field = Datanet._meta.get_field(name)
            default = model_field.default if model_field.has_default() else ""
            parser.add_argument(
                _option(name), dest=name, type=_option_type(model_field), default=None,
                help=f"{model_field.help_text or model_field.verbose_name} When the Datanet is created; "
                     f"default {default!r}.",
            )
        parser.add_argument(
            "--skip-invalid", action="store_true",
            help="Leave out each line with a problem and import the rest; the lines left out are listed "
                 "and kept with the import. Without it, one bad line refuses the whole file.",
        )

    def handle(self, *args, file, datanet, skip_invalid, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        given = {name: options[name] for name in SETTINGS if options[name] is not None}
        target = Datanet.objects.filter(name=datanet).first()
        created = target is None
        if created:
            target = self._created(datanet, given)
        elif given:
            raise CommandError(
                f"Datanet {datanet!r} exists; {', '.join(map(_option, given))} only apply when it is created "
                "(change its settings on its page)."
            )
        try:
            with path.open("rb") as stream:
                batch = services.datanet_import(
                    datanet=target, stream=stream, filename=str(path), origin="cli", skip_invalid=skip_invalid
                )
        except errors.ServiceError as exc:
            if created:
                target.delete()  # the Datanet was made for this import only; the import failed, so leave nothing
            raise CommandError(exc.message) from None
        if created:
            shown = ", ".join(f"{name}={getattr(target, name)!r}" for name in SETTINGS if name != "guidelines")
            self.stdout.write(f"Created Datanet {target.name!r} ({shown}).")
        self.stdout.write(
            f"Imported {path.name} into {target.name!r}: {batch.prompts_created} prompts, {batch.comparisons_created} comparisons."
        )
        if batch.skipped:
            self._report_skipped(batch.skipped, path)

    def _created(self, name: str, given: dict) -> Datanet:
        defaults = {field: Datanet._meta.get_field(field).get_default() for field in SETTINGS}
        form = DatanetForm(data={**defaults, **given, "name": name})
        if not form.is_valid():
            problems = "; ".join(
                f"{_option(field) if field in SETTINGS else '--datanet'}: {' '.join(messages)}"
                for field, messages in form.errors.items()
            )
            raise CommandError(f"Datanet settings refused, nothing was imported: {problems}")
        try:
            return services.datanet_create(**form.cleaned_data)
        except errors.ServiceError as exc:
            raise CommandError(exc.message) from None

    def _report_skipped(self, skipped: list[dict], path: Path) -> None:
        lines = sorted({problem["line"] for problem in skipped})
        self.stderr.write(f"Skipped {len(lines)} invalid line(s) of {path.name}:")
        for problem in skipped[:SKIPPED_SHOWN]:
            where = f"line {problem['line']}" + (f": {problem['field']}" if problem["field"] else "")
            self.stderr.write(f"  {where}: {problem['message']}")
        if len(skipped) > SKIPPED_SHOWN:
            self.stderr.write(f"  ... and {len(skipped) - SKIPPED_SHOWN} more, kept with the import's record")
