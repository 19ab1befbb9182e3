"""The judging loop's two hot paths as PostgreSQL functions: one round trip each.

`annotation_assign_next` serves a comparison and `annotation_submit` records a judgment. They do
exactly what the ORM code (now `annotation/judging/orm.py`) does on SQLite (the same tests run against
both), but in one statement from the site's side instead of seven to ten round trips, which is
most of the time a judgment costs under load. The Python side keeps everything that is not about
rows and locks: validating input, drawing the side shown on the left, mapping errors to messages.

Why a function and not one SQL statement: after the chosen comparison is locked, its live locks
must be counted again with a snapshot taken *after* the lock (another transaction may have
committed an assignment for it meanwhile). Inside a PL/pgSQL function each statement takes a new
snapshot, as the ORM's separate statements do; within a single statement it would not.
"""

from django.db import migrations

from feedback_site.annotation.judging.sql import sql_file, sql_files

from ._postgres import run_on_postgresql

# The SQL as this migration created it, kept unchanged in its files (migration 0006 loads version 2).
PG_FORWARD = sql_files("v1", "comparison_texts", "assign_next", "submit")
PG_BACKWARD = sql_file("v1/drop_0003.sql")


class Migration(migrations.Migration):
    dependencies = [("annotation", "0002_judgment_append_only")]
    operations = [run_on_postgresql(PG_FORWARD, PG_BACKWARD)]
