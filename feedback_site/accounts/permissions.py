"""Role checks for views and API endpoints: the wrong role gets 403, never a page with less on it."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

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
