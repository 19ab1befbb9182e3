"""Entries, accounts and settlements are append-only in the database itself, not only in the
models: an UPDATE is refused by a trigger on both databases, and a DELETE on PostgreSQL. On
SQLite, test flushes empty tables with DELETE, so there only the models refuse deletes.
(TRUNCATE, what PostgreSQL flushes use, fires no row trigger.)"""

from django.db import migrations

TABLES = ("ledger_ledgerentry", "ledger_ledgeraccount", "ledger_epochsettlement")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql;
"""
PG_TRIGGER = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""
PG_DROP = "DROP TRIGGER IF EXISTS {table}_append_only ON {table};"
SQLITE_TRIGGER = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS {table}_append_only;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)
        for table in TABLES:
            schema_editor.execute(PG_TRIGGER.format(table=table), params=None)
    elif vendor == "sqlite":
        for table in TABLES:
            schema_editor.execute(SQLITE_TRIGGER.format(table=table), params=None)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(PG_DROP.format(table=table), params=None)
        schema_editor.execute("DROP FUNCTION IF EXISTS ledger_refuse_change();", params=None)
    elif vendor == "sqlite":
        for table in TABLES:
            schema_editor.execute(SQLITE_DROP.format(table=table), params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
