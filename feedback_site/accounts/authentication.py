"""API token authentication that reads the user and their roles in one plain SQL query.

Every API request checks a role. With DRF's own TokenAuthentication that costs a second query per
request (the user's groups), and building the ORM query took about half of a judging request's CPU
under load (profiled with gunicorn on PostgreSQL, benchmarks/bench_load.py). The SQL here is written
once per process, portable (SQLite and PostgreSQL), and maps onto the same User and Token objects.

It fails closed: the one object that stands for a token not checked yet, UncheckedToken, is not
authenticated and holds no role, and only a view that declares `checks_token_in_sql` ever receives one.
"""

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group
from django.db import connection
from django.db.models.expressions import Col
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from feedback_site.core.errors import RoleMissing, TokenRejected

from .roles import GROUP_ROLES, Role, remember_roles, user_has_role


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


def token_outcome(key: str, role: Role | None = None):
    """Who may use an API token, for `role` where one is given: ("ok", user), ("bad_token", None) when no token
    has this key, ("inactive", user), ("forbidden", user) when the user lacks the role (a superuser holds
    every role). The twin of annotation_token_user in SQL, which answers the same words on PostgreSQL."""
    # A plain cursor and the backend's own converters: what the ORM would give, without building a query.
    with connection.cursor() as cursor:
        cursor.execute(_token_sql(), [key])
        row = cursor.fetchone()
    if row is None:
        return "bad_token", None
    fields = get_user_model()._meta.concrete_fields
    user = get_user_model().from_db(connection.alias, [field.attname for field in fields], _user_values(row[: len(fields)]))
    if not user.is_active:
        return "inactive", user
    flags = row[len(fields):]
    remember_roles(user, {role.value for role, flag in zip(GROUP_ROLES, flags, strict=True) if flag})
    if role is not None and not user_has_role(user, Role(role)):
        return "forbidden", user
    return "ok", user


def refuse_token(outcome: str, role: Role | str | None = None) -> None:
    """Raises what an outcome of `token_outcome` (or of annotation_token_user) answers; "ok" passes."""
    if outcome == "bad_token":
        raise TokenRejected("Invalid token.")
    if outcome == "inactive":
        raise TokenRejected("User inactive or deleted.")
    if outcome == "forbidden":
        raise RoleMissing(f"This endpoint needs the role: {role}.")


def token_user(*, key: str, role: Role | None = None):
    """The active user an API token names, holding `role` where one is given; TokenRejected or RoleMissing."""
    outcome, user = token_outcome(key, role)
    refuse_token(outcome, role)
    return user


class TokenWithRolesAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        try:
            user = token_user(key=key)
        except TokenRejected as refused:
            raise exceptions.AuthenticationFailed(refused.message) from None
        token = Token(key=key, user=user)
        token._state.adding = False
        return user, token


class UncheckedToken(AnonymousUser):
    """An API token nobody has checked yet. It is no user: not authenticated, no role, no permission, so
    every check that asks for a user refuses it. Only a view that declares `checks_token_in_sql = True`
    receives one (from JudgingTokenAuthentication, on PostgreSQL), and its service checks the token and the
    role in the same round trip as the work."""

    def __init__(self, key: str):
        super().__init__()
        self.key = key

    def __repr__(self) -> str:
        return "UncheckedToken(...)"


def view_checks_token_in_sql(view) -> bool:
    """Whether `view` declares that its services check an UncheckedToken themselves."""
    return getattr(view, "checks_token_in_sql", False) is True


class _TokenKeyOnly(TokenAuthentication):
    """Reads the token from the Authorization header as REST framework does, and checks nothing."""

    def authenticate_credentials(self, key):
        return UncheckedToken(key), None


class JudgingTokenAuthentication(TokenWithRolesAuthentication):
    """The token authentication of the judging endpoints. On PostgreSQL, for a view that declares
    `checks_token_in_sql`, the token is passed on unchecked (an UncheckedToken) and its service checks it with
    the role the view needs; for any other view, and on every other database, the token is checked here,
    as everywhere else. A view that forgets the declaration gets a checked user: it fails closed."""

    def authenticate(self, request):
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if connection.vendor == "postgresql" and view_checks_token_in_sql(view):
            return _TokenKeyOnly().authenticate(request)
        return super().authenticate(request)
