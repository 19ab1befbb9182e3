import json

from django.core.management.base import BaseCommand, CommandError

from feedback_site.core.errors import ServiceError
from feedback_site.ledger import services
from simulator.economy.policies import POLICIES


class Command(BaseCommand):
    help = (
        "Make an emission policy, with its parameters, the one in force from an epoch on (an operator's "
        "change outside a governance vote; recorded in the chain as a policy_change entry). The parameters "
        "are a JSON object; missing ones take their defaults; a set that cannot work is refused naming the "
        "field, with nothing recorded. --list shows every policy and its parameters."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help=f"the policy: one of {', '.join(POLICIES)}")
        parser.add_argument("--params", default="{}", help='parameters as JSON, e.g. \'{"min_judgments": 20}\'')
        parser.add_argument("--epoch", type=int, help="the first epoch it settles (not yet settled)")
        parser.add_argument("--list", action="store_true", help="list the policies and their parameters, then stop")

    def handle(self, *args, name, params, epoch, list, **options):
        if list:
            for spec in POLICIES.values():
                self.stdout.write(f"{spec.name} (version {spec.version}): {spec.summary}")
                for field in spec.describe():
                    self.stdout.write(f"    {field['name']} = {json.dumps(field['default'])}: {field['help']}")
            return
        if name is None or epoch is None:
            raise CommandError("give the policy name and --epoch (or --list)")
        try:
            parsed = json.loads(params)
        except ValueError as error:
            raise CommandError(f"--params: not JSON: {error}") from None
        try:
            version = services.policy_activate(name=name, params=parsed, activates_at_epoch=epoch)
        except ServiceError as error:
            raise CommandError(f"policy not activated, the ledger is unchanged: {error.message}") from None
        self.stdout.write(
            f"{version.name} (version {POLICIES[version.name].version}) is in force from epoch {epoch}: {json.dumps(version.params)}"
        )
