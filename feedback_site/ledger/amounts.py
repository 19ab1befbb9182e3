"""Reading amounts from people and programs: integers of base units, or OPEN as decimal text.

Money never passes through a float: a JSON number with a fraction or an exponent arrives as a
float and is refused with a message that says how to send it instead.
"""

from __future__ import annotations

from typing import Any

from simulator.economy.schedule import ScheduleParams
from simulator.economy.units import OPEN_DECIMALS, open_to_base_units

from .errors import InvalidAmount

# No amount can exceed the whole supply; larger input is a mistake, caught before the database.
MAX_AMOUNT = ScheduleParams().total_supply


def parse_base_units(value: Any, *, field: str, allow_zero: bool = False) -> int:
    """An amount in base units given as an int or a string of ASCII digits -> int."""
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidAmount(
            f"{field}: {value!r} is not an integer; send base units (10**{OPEN_DECIMALS} per OPEN) "
            'as an integer or a string of digits, e.g. "1500000000000000000" for 1.5 OPEN'
        )
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise InvalidAmount(
                f"{field}: {value!r} is not a whole number of base units; use digits only "
                "(no sign, decimal point or exponent)"
            )
        value = int(text)
    if not isinstance(value, int):
        raise InvalidAmount(
            f"{field}: expected an integer of base units or a string of digits, got {type(value).__name__}"
        )
    if value < 0:
        raise InvalidAmount(f"{field}: {value} is negative; amounts are never negative")
    if value == 0 and not allow_zero:
        raise InvalidAmount(f"{field}: must be more than 0")
    if value > MAX_AMOUNT:
        raise InvalidAmount(f"{field}: {value} base units is more than the whole supply of OPEN ({MAX_AMOUNT})")
    return value


def parse_open(text: Any, *, field: str) -> int:
    """An amount typed by a person in OPEN ("12.5") -> base units."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidAmount(f"{field}: enter an amount of OPEN, e.g. 12.5")
    try:
        base_units = open_to_base_units(text.strip())
    except (TypeError, ValueError) as error:
        raise InvalidAmount(f"{field}: {error}") from None
    return parse_base_units(base_units, field=field)
