"""SQL that only PostgreSQL runs (functions of the judging hot path); SQLite keeps the ORM code instead.
The migration loader skips modules whose names start with an underscore, so this one is no migration."""

from django.db import migrations


def run_on_postgresql(forward_sql: str, backward_sql: str) -> migrations.RunPython:
    def forward(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(forward_sql, params=None)

    def backward(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(backward_sql, params=None)

    return migrations.RunPython(forward, backward)
