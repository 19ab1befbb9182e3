"""API token authentication that reads the user and their roles in one plain SQL query.

Every API request checks a role. With DRF's own TokenAuthentication that costs a second query per
request (the user's groups), and building the ORM query took about half of a judging request's CPU
under load (profiled with gunicorn on PostgreSQL, benchmarks/bench_load.py). The SQL here is written
once per process, portable (SQLite and PostgreSQL), and maps onto the same User and Token objects.
"""

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models.expressions import Col
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from .roles import GROUP_ROLES, remember_roles


@cache
def _token_sql() -> str:
    user_model = get_user_model()
    user_pk = user_model._meta.pk.column
    memberships = Group.user_set.through._meta.db_table
    role_flags = ", ".join(
        f"EXISTS (SELECT 1 FROM {memberships} m JOIN {Group._meta.db_table} g ON g.id = m.group_id"
        f" WHERE m.user_id = u.{user_pk} AND g.name = '{role.value}') AS is_{role.value}"
        for role in GROUP_ROLES
    )
    columns = ", ".join(f"u.{field.column}" for field in user_model._meta.concrete_fields)
    return (
        f"SELECT {columns}, {role_flags}"
        f" FROM {Token._meta.db_table} t JOIN {user_model._meta.db_table} u ON u.{user_pk} = t.user_id"
        f" WHERE t.key = %s"
    )


@cache
def _user_converters(vendor: str) -> tuple[tuple[Col, tuple], ...]:
    """Per user column, the converters the ORM would apply on this database backend (looked up once)."""
    user_model = get_user_model()
    columns = [Col(user_model._meta.db_table, field) for field in user_model._meta.concrete_fields]
    return tuple(
        (column, tuple(connection.ops.get_db_converters(column) + column.target.get_db_converters(connection)))
        for column in columns
    )


def _user_values(row) -> list:
    values = []
    for value, (column, converters) in zip(row, _user_converters(connection.vendor), strict=True):
        for converter in converters:
            value = converter(value, column, connection)
        values.append(value)
    return values


class TokenWithRolesAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        # A plain cursor and the backend's own converters: what the ORM would give, without building a query.
        with connection.cursor() as cursor:
            cursor.execute(_token_sql(), [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        fields = get_user_model()._meta.concrete_fields
        user = get_user_model().from_db(connection.alias, [field.attname for field in fields], _user_values(row[: len(fields)]))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        flags = row[len(fields):]
        remember_roles(user, {role.value for role, flag in zip(GROUP_ROLES, flags, strict=True) if flag})
        token = Token(key=key, user=user)
        token._state.adding = False
        return user, token


class TokenBearer:
    """An API caller known so far only by their token. The judging endpoints check it on PostgreSQL in the same
    round trip as the work (annotation migration 0004), so it reaches them unchecked: it is no user and has no
    role until a service has checked it."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_superuser = False
    pk = None

    def __init__(self, key: str):
        self.key = key

    def __repr__(self) -> str:
        return "TokenBearer(...)"


class JudgingTokenAuthentication(TokenWithRolesAuthentication):
    """For the judging endpoints: on PostgreSQL the token is passed on unchecked (a TokenBearer) and checked by
    the service with the role the endpoint needs; elsewhere it is checked here, as everywhere else."""

    def authenticate_credentials(self, key):
        if connection.vendor == "postgresql":
            return TokenBearer(key), None
        return super().authenticate_credentials(key)
