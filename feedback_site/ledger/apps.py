from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "feedback_site.ledger"
    label = "ledger"
    verbose_name = "OPEN ledger"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from .fields import register_sqlite_functions

        connection_created.connect(register_sqlite_functions, dispatch_uid="ledger_sqlite_functions")
