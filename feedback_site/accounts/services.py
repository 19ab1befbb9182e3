from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from .models import Contributor
from .roles import Role


def contributor_for(*, user) -> Contributor:
    contributor, _ = Contributor.objects.get_or_create(user=user)
    return contributor


@transaction.atomic
def user_create(*, username: str, password: str | None, roles: list[Role] | tuple[Role, ...] = (), email: str = ""):
    """Creates a user with the given roles and their pseudonymous contributor identity (no password: cannot log in)."""
    User = get_user_model()
    if Role.ADMIN in roles:
        user = User.objects.create_superuser(username=username, password=password, email=email)
    else:
        user = User.objects.create_user(username=username, password=password, email=email)
    # get_or_create, not a lookup: the groups come from a data migration, but a database flushed
    # between tests (or restored without that data) must not silently create users without roles.
    groups = [Group.objects.get_or_create(name=r.value)[0] for r in roles if r != Role.ADMIN]
    if groups:
        user.groups.add(*groups)
    contributor_for(user=user)
    return user
