"""The judging functions on PostgreSQL are those of the current .sql files, whether the database was
migrated from scratch or upgraded from the version before; going back restores that version."""

import re

import pytest
from django.core.management import call_command
from django.db import connection

from feedback_site.annotation.judging.sql import HERE, VERSIONS, current, sql_files


def functions_in_database() -> dict[str, str]:
    """Each annotation_* function's signature and body, as PostgreSQL stores them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.oid::regprocedure::text, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = current_schema() AND p.proname LIKE 'annotation\\_%'")
        return dict(cursor.fetchall())


def functions_in(*texts: str) -> dict[str, str]:
    """Each function the SQL texts create: its name and its body between the dollar quotes."""
    return {function: body for text in texts
            for function, body in re.findall(r"CREATE OR REPLACE FUNCTION (\w+)\(.*?\$\$(.*?)\$\$;", text, re.S)}


def by_name(functions: dict[str, str]) -> dict[str, str]:
    return {signature.split("(")[0]: body for signature, body in functions.items()}


def test_each_file_holds_the_function_it_is_named_after_and_every_file_is_loaded():
    for version, functions in VERSIONS.items():
        for function in functions:
            assert list(functions_in(sql_files(version, function))) == [f"annotation_{function}"], (version, function)
        on_disk = {path.stem for path in (HERE / version).glob("*.sql") if not path.stem.startswith("drop_")}
        assert on_disk == set(functions), f"judging/sql/{version}/ and VERSIONS disagree"
    with pytest.raises(ValueError, match="v2/ has no file for submit"):
        sql_files("v2", "submit")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fresh_and_upgraded_databases_hold_the_current_files_functions():
    fresh = functions_in_database()
    assert len(fresh) == len(by_name(fresh)), "one function per name: no version's leftover beside its successor"
    assert by_name(fresh) == functions_in(*current().values())

    call_command("migrate", "annotation", "0006", verbosity=0)  # back to v2, with v1's functions v2 did not change
    as_of_v2 = {**functions_in(sql_files("v1", *VERSIONS["v1"])), **functions_in(sql_files("v2", *VERSIONS["v2"]))}
    assert by_name(functions_in_database()) == as_of_v2 != by_name(fresh)

    call_command("migrate", "annotation", "0005", verbosity=0)  # back to what migrations 0003 and 0004 made
    before = functions_in_database()
    assert by_name(before) == functions_in(sql_files("v1", *VERSIONS["v1"])) != by_name(fresh)

    call_command("migrate", verbosity=0)  # every app: going back also unapplied the apps that depend on annotation
    assert functions_in_database() == fresh
