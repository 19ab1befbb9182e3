"""The ledger's settings, each with a default, so the site runs with nothing configured.

    LEDGER_UNSTAKE_COOLDOWN_EPOCHS   epochs between an unstake request and the withdrawal (default 7)
    LEDGER_FEE_SPLIT                 dict of FeeSplitParams fields in basis points (default 50/20/20/10)
"""

from django.conf import settings

from simulator.economy.fees import FeeSplitParams

DEFAULT_UNSTAKE_COOLDOWN_EPOCHS = 7


def unstake_cooldown_epochs() -> int:
    value = getattr(settings, "LEDGER_UNSTAKE_COOLDOWN_EPOCHS", DEFAULT_UNSTAKE_COOLDOWN_EPOCHS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"settings.LEDGER_UNSTAKE_COOLDOWN_EPOCHS: expected an int >= 0, got {value!r}")
    return value


def fee_split_params() -> FeeSplitParams:
    return FeeSplitParams(**getattr(settings, "LEDGER_FEE_SPLIT", {}))
