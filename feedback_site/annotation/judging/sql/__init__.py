"""The judging functions' SQL: one file per function and version (`v1/assign_next.sql`, ...), each holding
that function's CREATE OR REPLACE as the migration of its version runs it. A version directory holds only
the functions it changed; the functions a database holds are, for each name, its newest version's file
(`current`). Why it is laid out so: `feedback_site.annotation.judging`."""

from pathlib import Path

HERE = Path(__file__).resolve().parent

# Each version, oldest first, with the functions it created or changed (file names without ".sql").
VERSIONS = {
    "v1": ("comparison_texts", "assign_next", "submit", "token_user", "token_assign_next", "token_submit"),
    "v2": ("gold_first", "comparisons_open", "assign_next", "token_assign_next"),
    "v3": ("strategy_drawn", "comparisons_open", "assign_next", "token_assign_next"),
}


def sql_file(name: str) -> str:
    """The text of `name` (e.g. "v2/assign_next.sql"), read as migrations run it."""
    return (HERE / name).read_text(encoding="utf-8")


def sql_files(version: str, *functions: str) -> str:
    """The given functions' files of `version`, one after the other (a migration runs them as one script)."""
    unknown = sorted(set(functions) - set(VERSIONS[version]))
    if unknown:
        raise ValueError(f"judging/sql/{version}/ has no file for {', '.join(unknown)} (see VERSIONS)")
    return "\n".join(sql_file(f"{version}/{function}.sql") for function in functions)


def current() -> dict[str, str]:
    """Each function's file in its newest version: what a migrated database holds."""
    newest = {function: version for version, functions in VERSIONS.items() for function in functions}
    return {function: sql_file(f"{version}/{function}.sql") for function, version in newest.items()}
