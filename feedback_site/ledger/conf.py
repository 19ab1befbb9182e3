"""The ledger's settings, each with a default, so the site runs with nothing configured.

    LEDGER_UNSTAKE_COOLDOWN_EPOCHS   epochs between an unstake request and the withdrawal (default 7)

The fee split is not a setting: it is a money rule, one of the emission policy's parameters
(``fee_*_bps``), governed like the rest of the policy and read by the simulator alike.
"""

from django.conf import settings

DEFAULT_UNSTAKE_COOLDOWN_EPOCHS = 7


def unstake_cooldown_epochs() -> int:
    value = getattr(settings, "LEDGER_UNSTAKE_COOLDOWN_EPOCHS", DEFAULT_UNSTAKE_COOLDOWN_EPOCHS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"settings.LEDGER_UNSTAKE_COOLDOWN_EPOCHS: expected an int >= 0, got {value!r}")
    return value
