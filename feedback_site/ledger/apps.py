from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "feedback_site.ledger"
    label = "ledger"
