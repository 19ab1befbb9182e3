"""The four roles. Annotator, ML engineer and governance member are Django groups; admin is a superuser.

Groups are created by a data migration, so a fresh database already has them.
"""

from enum import StrEnum


class Role(StrEnum):
    ANNOTATOR = "annotator"
    ML_ENGINEER = "ml_engineer"
    GOVERNANCE = "governance"
    ADMIN = "admin"


GROUP_ROLES = (Role.ANNOTATOR, Role.ML_ENGINEER, Role.GOVERNANCE)


def user_has_role(user, role: Role) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    if role == Role.ADMIN:
        return False
    # The group list is cached on the user object for the request: views check roles more than once.
    cached = getattr(user, "_ledgerloop_roles", None)
    if cached is None:
        cached = remember_roles(user, set(user.groups.values_list("name", flat=True)))
    return role.value in cached


def remember_roles(user, group_names: set[str]) -> set[str]:
    """Caches the user's group names on the user object, for this request only (the object dies with it)."""
    user._ledgerloop_roles = group_names
    return group_names
