"""Role checks for views and API endpoints: the wrong role gets 403, never a page with less on it."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from .authentication import UncheckedToken, view_checks_token_in_sql
from .roles import Role, user_has_role


def role_required(*roles: Role):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not any(user_has_role(request.user, r) for r in roles):
                raise PermissionDenied(f"This page needs the role: {' or '.join(r.value for r in roles)}.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def api_role(*roles: Role) -> type[BasePermission]:
    class HasRole(BasePermission):
        message = f"This endpoint needs the role: {' or '.join(r.value for r in roles)}."

        def has_permission(self, request, view):
            return any(user_has_role(request.user, r) for r in roles)

    return HasRole


def api_role_or_token_checked_in_sql(role: Role) -> type[BasePermission]:
    """`api_role(role)`, except that an UncheckedToken passes into a view that declares `checks_token_in_sql`:
    that view's service checks the token and the role in the same query as the work, and answers 401 or 403
    as this check would. Into any other view an UncheckedToken does not pass."""
    checked_here = api_role(role)

    class HasRoleOrTokenCheckedInSql(checked_here):
        def has_permission(self, request, view):
            if isinstance(request.user, UncheckedToken):
                return view_checks_token_in_sql(view)
            return super().has_permission(request, view)

    return HasRoleOrTokenCheckedInSql
