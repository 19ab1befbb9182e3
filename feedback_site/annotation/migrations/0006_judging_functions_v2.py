"""The judging functions, version 2: the files of `annotation/judging/sql/v2/`, each of which says what
changed. CREATE OR REPLACE, so a database migrated from scratch and one upgraded from 0005 end with the same
functions. Backward: what v1 did not have is dropped and v1's versions of the changed functions come back."""

from django.db import migrations

from feedback_site.annotation.judging.sql import sql_file, sql_files

from ._postgres import run_on_postgresql

PG_FORWARD = sql_files("v2", "gold_first", "comparisons_open", "assign_next", "token_assign_next")
PG_BACKWARD = sql_file("v2/drop_0006.sql") + sql_files("v1", "assign_next", "token_assign_next")


class Migration(migrations.Migration):
    dependencies = [("annotation", "0005_importbatch_skipped")]
    operations = [run_on_postgresql(PG_FORWARD, PG_BACKWARD)]
