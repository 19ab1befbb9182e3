from django.core.management.base import BaseCommand

from feedback_site.annotation.demo_seed import demo_seed


class Command(BaseCommand):
    help = "Seed the demo site: one user per role, a customer-support Datanet and some judgments. Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=7, help="seed of the simulated annotators (recorded in their judgments' pattern)")

    def handle(self, *args, seed, **options):
        logins = demo_seed(seed=seed)
        self.stdout.write("Demo log-ins (role: username / password):")
        for role, (username, password) in logins.items():
            self.stdout.write(f"  {role:12s} {username} / {password}")
