"""The judging API's two requests in one round trip each, token check included.

`annotation_token_assign_next` and `annotation_token_submit` check an API token and the role it needs
(the user exists and is active, is a superuser or in the role's group), find the Datanet by slug, and
then call the functions of migration 0003. Under load, the token query and the Datanet lookup that
REST framework and the view did before were three of a judgment's five round trips (benchmarks/bench_load.py).
The checks and their order are those of the API: token (401), role (403), Datanet (404), then the
service's own rules. The gold draw is made here from a uniform number the site sends, because the
Datanet's gold rate is read here.
"""

from django.db import migrations

from feedback_site.annotation.judging.sql import sql_file, sql_files

from ._postgres import run_on_postgresql

# The SQL as this migration created it, kept unchanged in its files (migration 0006 loads version 2).
PG_FORWARD = sql_files("v1", "token_user", "token_assign_next", "token_submit")
PG_BACKWARD = sql_file("v1/drop_0004.sql")


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0003_judging_hot_path_functions"),
        ("authtoken", "0003_tokenproxy"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [run_on_postgresql(PG_FORWARD, PG_BACKWARD)]
