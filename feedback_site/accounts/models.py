import secrets

from django.conf import settings
from django.db import models


def new_pseudonym() -> str:
    return "c_" + secrets.token_hex(6)


class Contributor(models.Model):
    """The pseudonymous identity under which a person's work leaves the site (exports, feedback log, payouts).

    Exports never carry usernames: the pseudonym is what contributors are credited and paid under.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="contributor")
    pseudonym = models.CharField(max_length=32, unique=True, default=new_pseudonym, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.pseudonym
