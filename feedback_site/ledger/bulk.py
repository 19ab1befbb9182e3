"""Inserting many rows at once: COPY on PostgreSQL, batched bulk_create elsewhere.

Settlement writes a million entries in one transaction; COPY does that in seconds where
``bulk_create`` builds a million model instances and SQL statements. Both run inside the
caller's transaction and skip ``save()``, which is why only append paths use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection

BULK_CREATE_BATCH = 2000


def bulk_insert(model, fields: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert ``rows`` (tuples in the order of ``fields``, attribute names such as
    ``credit_id``) into ``model``'s table. Values go in as they are: ints for amounts."""
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(model._meta.get_field(f).column) for f in fields)
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    batch = []
    for row in rows:
        batch.append(model(**dict(zip(fields, row, strict=True))))
        if len(batch) == BULK_CREATE_BATCH:
            model.objects.bulk_create(batch)
            batch = []
    if batch:
        model.objects.bulk_create(batch)
