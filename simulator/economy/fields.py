"""Parameter fields and the checks on them, for every config and input of the economy and every
part of a simulator scenario (simulator.params reads them from here: the economy imports
nothing from the rest of the simulator).

A field is declared with :func:`param` (its default, the help people read, the check run on
it); :func:`validate_fields` runs every check, and :func:`describe_fields` is what a form or a
--help listing shows. Each check names the field it looked at (``where``), so that an error
raised deep inside a governance proposal, a scenario file or a settlement run still tells a
person what to fix.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import MISSING, field, fields
from decimal import Decimal
from fractions import Fraction
from typing import Any

BASIS_POINTS = 10_000


def all_exactly(values: Iterable[Any], kind: type) -> bool:
    """True if every value's type is exactly ``kind`` (no subclasses: bool is not an int here).

    One C-level pass, so it is cheap on the million-entry mappings of a large epoch.
    """
    return set(map(type, values)) <= {kind}


def require_int(value: Any, *, where: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` if it is a plain int inside [minimum, maximum]; raise naming ``where`` otherwise.

    bool is refused although Python counts it as an int: ``True`` where a count or an amount belongs
    is always a mistake. Floats are refused because money and counts are exact integers here.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        hint = ""
        if isinstance(value, float | Decimal | str):
            hint = " (this field takes an exact integer; OPEN amounts are integer base units, see open_to_base_units)"
        raise TypeError(f"{where}: expected an integer, got {type(value).__name__} {value!r}{hint}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}: must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{where}: must be <= {maximum}, got {value}")
    return value


def require_bps(value: Any, *, where: str) -> int:
    """A ratio in basis points: an integer in [0, 10000] (10000 = 100%)."""
    return require_int(value, where=where, minimum=0, maximum=BASIS_POINTS)


def require_finite_real(value: Any, *, where: str) -> float | Fraction:
    """A real number usable as a weight: int, float or Fraction, never NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction):
        raise TypeError(f"{where}: expected a number, got {type(value).__name__} {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: must be finite, got {value!r}")
    return value


def require_real(
    value: Any,
    *,
    where: str,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> float | Fraction:
    """A finite number (see :func:`require_finite_real`) inside [minimum, maximum] and above ``above``."""
    require_finite_real(value, where=where)
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        raise ValueError(f"{where}: must be between {minimum} and {maximum}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}: must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{where}: must be <= {maximum}, got {value!r}")
    if above is not None and value <= above:
        raise ValueError(f"{where}: must be > {above}, got {value!r}")
    number: float | Fraction = value
    return number


def require_text(value: Any, *, where: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{where}: expected text, got {type(value).__name__} {value!r}")
    return value


def require_account_id(value: Any, *, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{where}: account ids are non-empty strings, got {type(value).__name__} {value!r}")
    return value


def require_int_mapping(mapping: Any, *, where: str) -> Mapping[str, int]:
    """A mapping account id -> non-negative int (counts, bonds, stakes)."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{where}: expected a mapping of account id to integer, got {type(mapping).__name__}")
    # One fast pass over all values; the slow pass only runs to name the culprit.
    values = mapping.values()
    if all_exactly(values, int) and (not mapping or min(values) >= 0):
        require_account_ids(mapping, where=where)
        return mapping
    for key, value in mapping.items():
        require_int(value, where=f"{where}[{key!r}]", minimum=0)
    raise AssertionError("unreachable: the slow pass must have raised")


def require_real_mapping(mapping: Any, *, where: str, unit_interval: bool = False) -> Mapping[str, Any]:
    """A mapping account id -> finite number (int, float or Fraction), in [0, 1] if ``unit_interval``."""
    import numpy as np

    if not isinstance(mapping, Mapping):
        raise TypeError(f"{where}: expected a mapping of account id to number, got {type(mapping).__name__}")
    values = list(mapping.values())
    if all_exactly(values, float):
        array = np.fromiter(values, dtype=np.float64, count=len(values))
        all_good = bool(np.isfinite(array).all()) and (
            not unit_interval or not values or (array.min() >= 0.0 and array.max() <= 1.0)
        )
    else:
        all_good = False
    if not all_good:
        for key, value in mapping.items():
            require_finite_real(value, where=f"{where}[{key!r}]")
            if unit_interval and not 0 <= value <= 1:
                raise ValueError(f"{where}[{key!r}]: must be between 0 and 1, got {value!r}")
    require_account_ids(mapping, where=where)
    return mapping


def require_account_ids(mapping: Mapping[Any, Any], *, where: str) -> None:
    if all_exactly(mapping, str) and "" not in mapping:
        return
    for key in mapping:
        require_account_id(key, where=f"{where} key")


def optional(check: Callable[..., Any]) -> Callable[..., Any]:
    """A check that also lets None through (None meaning "switched off")."""

    def check_unless_none(value: Any, *, where: str) -> Any:
        return None if value is None else check(value, where=where)

    return check_unless_none


def non_negative_int(value: Any, *, where: str) -> int:
    return require_int(value, where=where, minimum=0)


def positive_int(value: Any, *, where: str) -> int:
    return require_int(value, where=where, minimum=1)


def int_in(minimum: int | None = None, maximum: int | None = None) -> Callable[..., int]:
    """The check of an integer field with these inclusive bounds."""
    return functools.partial(require_int, minimum=minimum, maximum=maximum)


def real_in(
    minimum: float | None = None, maximum: float | None = None, *, above: float | None = None
) -> Callable[..., float | Fraction]:
    """The check of a number field with these bounds (``above`` exclusive)."""
    return functools.partial(require_real, minimum=minimum, maximum=maximum, above=above)


def probability(value: Any, *, where: str) -> float | Fraction:
    """A share or a probability: a number between 0 and 1."""
    return require_real(value, where=where, minimum=0, maximum=1)


def one_of(choices: Sequence[str]) -> Callable[..., str]:
    """The check of a text field that takes one of ``choices``."""

    def check_choice(value: Any, *, where: str) -> str:
        if value not in choices:
            raise ValueError(f"{where}: must be one of {', '.join(choices)}, got {value!r}")
        choice: str = value
        return choice

    return check_choice


def param(
    default: Any = MISSING,
    help: str = "",
    check: Callable[..., Any] | None = None,
    *,
    default_factory: Any = MISSING,
) -> Any:
    """A config field: its default, the help text shown to people, and the check run on it.

    ``default=MISSING`` makes the field required; a mutable default (a dict, a list) is copied
    for each instance; ``default_factory`` builds one.
    """
    metadata = {"help": help, "check": check}
    if default_factory is MISSING and type(default).__hash__ is None:
        default_factory = functools.partial(copy.copy, default)
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def validate_fields(config: Any, *, where: str | None = None) -> None:
    """Run the check of every field declared with :func:`param`; errors name ``where``.field
    (``where`` defaults to the class name)."""
    prefix = type(config).__name__ if where is None else where
    for config_field in fields(config):
        check = config_field.metadata.get("check")
        if check is not None:
            check(getattr(config, config_field.name), where=f"{prefix}.{config_field.name}")


def require_known_fields(config_type: type, data: Collection[str], *, where: str) -> None:
    """Refuse keys of ``data`` that are not fields of ``config_type``, naming them and the known ones."""
    known = {f.name for f in fields(config_type)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )


def require_whole_split(config: Any, share_fields: Sequence[str]) -> list[int]:
    """The basis-point fields ``share_fields`` of ``config`` must add up to 100%; returns them."""
    shares = [getattr(config, name) for name in share_fields]
    if sum(shares) != BASIS_POINTS:
        raise ValueError(
            f"{type(config).__name__}: {' + '.join(share_fields)} must be {BASIS_POINTS} (100%), got {sum(shares)}"
        )
    return shares


def describe_fields(config_type: type) -> list[dict[str, Any]]:
    """Name, default and help of each field: what a form or a --help listing shows."""
    return [
        {
            "name": f.name,
            "default": None if f.default is MISSING else f.default,
            "help": f.metadata.get("help", ""),
        }
        for f in fields(config_type)
    ]
