from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "feedback_site.governance"
    label = "governance"
    verbose_name = "Governance: simulation reports, proposals and stake-weighted votes"
