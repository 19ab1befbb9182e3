"""Judgments are append-only in the database itself, not only in the model: an UPDATE of a
judgment row is refused by a trigger (and a DELETE on PostgreSQL; on SQLite, test flushes use
DELETE, so there only the model refuses deletes)."""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION ledgerloop_refuse_judgment_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'annotation_judgment is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER judgment_append_only BEFORE UPDATE OR DELETE ON annotation_judgment
    FOR EACH ROW EXECUTE FUNCTION ledgerloop_refuse_judgment_change();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS judgment_append_only ON annotation_judgment;
DROP FUNCTION IF EXISTS ledgerloop_refuse_judgment_change();
"""
SQLITE_FORWARD = """
CREATE TRIGGER judgment_append_only BEFORE UPDATE ON annotation_judgment
BEGIN SELECT RAISE(ABORT, 'annotation_judgment is append-only: UPDATE refused'); END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS judgment_append_only;"


def forward(apps, schema_editor):
    sql = {"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)


def backward(apps, schema_editor):
    sql = {"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("annotation", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
