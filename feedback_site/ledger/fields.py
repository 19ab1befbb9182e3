"""OPEN amounts in the database: exact integers of base units, beyond int64.

The supply is 10**27 base units, far above int64 (9.2 * 10**18), so a BIGINT cannot hold it.
- PostgreSQL: ``numeric(40, 0)``. Exact, summed exactly by ``SUM``; psycopg turns a Python int of
  any size into a numeric, so no Decimal round trip is needed on the way in.
- SQLite: ``text`` holding the decimal digits. Django's DecimalField is not used because SQLite
  gives a NUMERIC column a value above int64 as a double (rounded to ~16 digits) and Django reads
  it back through a float context. Text keeps every digit; ``ExactSum`` below sums it with an
  exact Python aggregate registered on each SQLite connection.

Either way the model attribute is a Python int. Amounts are never negative (a check constraint on
the entry table), so text comparisons with ``'0'`` on SQLite still order correctly.
"""

from __future__ import annotations

from typing import Any

from django.core import exceptions
from django.db import models

SQLITE_EXACT_SUM = "LEDGER_EXACT_SUM"
MAX_DIGITS = 40


class BaseUnitsField(models.Field):
    description = "Integer amount of OPEN base units (10**18 per OPEN), exact beyond int64"

    def db_type(self, connection) -> str:
        if connection.vendor == "postgresql":
            return f"numeric({MAX_DIGITS}, 0)"
        return "text"

    def from_db_value(self, value: Any, expression, connection) -> int | None:
        return None if value is None else int(value)

    def to_python(self, value: Any) -> int | None:
        if value is None or isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value)
        if not text.lstrip("-").isdigit():
            raise exceptions.ValidationError(f"{value!r} is not a whole number of base units")
        return int(text)

    def get_prep_value(self, value: Any) -> int | None:
        return self.to_python(value)

    def get_db_prep_value(self, value: Any, connection, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is None:
            return None
        if len(str(abs(value))) > MAX_DIGITS:
            raise exceptions.ValidationError(f"{value} has more than {MAX_DIGITS} digits")
        return str(value) if connection.vendor == "sqlite" else value


class ExactSum(models.Aggregate):
    """SUM of a BaseUnitsField, exact on both databases; None over no rows, like SUM."""

    function = "SUM"
    name = "ExactSum"

    def __init__(self, expression, **extra):
        super().__init__(expression, output_field=BaseUnitsField(), **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function=SQLITE_EXACT_SUM, **extra_context)


class _ExactIntegerSum:
    """The SQLite aggregate behind ExactSum: Python ints, so nothing rounds."""

    def __init__(self) -> None:
        self.total = 0
        self.seen = False

    def step(self, value: Any) -> None:
        if value is not None:
            self.total += int(value)
            self.seen = True

    def finalize(self) -> str | None:
        # Text, because SQLite cannot return an integer above int64.
        return str(self.total) if self.seen else None


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """connection_created receiver: give every SQLite connection the exact sum."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate(SQLITE_EXACT_SUM, 1, _ExactIntegerSum)
