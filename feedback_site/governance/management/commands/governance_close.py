"""python manage.py governance_close: close every proposal whose deadline has passed (as beat does)."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Close every open proposal past its deadline: record its tally; an accepted one becomes the next epoch's policy."

    def handle(self, *args, **options):
        from feedback_site.governance.services import proposals_close_due

        for proposal in proposals_close_due():
            activates = (
                f", policy from epoch {proposal.policy_version.activates_at_epoch}"
                if proposal.policy_version
                else ""
            )
            self.stdout.write(f"proposal {proposal.id}: {proposal.status}{activates}")
