"""Settings dataclasses: each field declares its default, help string, type and range; one function checks them.

    @dataclass
    class Settings:
        batch_size: int = setting(8, "Rows per step.", minimum=1)
        device: str = setting("auto", "Where to run.", choices=("auto", "cpu", "cuda"))

        def __post_init__(self) -> None:
            fields_validate(self)                          # the type and range of every field
            require(self.batch_size < 99, "batch_size", "must be < 99")   # rules across fields

The declaration is data, so the CLI (`fields_add_arguments`), a YAML file (`fields_load`) and the site's forms
read the same default, help and range, and refuse the same values with the same message: the field's name, then
what is wrong ("batch_size must be >= 1, got 0"), prefixed by the source (a YAML file) where there is one.

Every settings dataclass of rlhf (training runs in rlhf.config, attribution in rlhf.attribution.methods) is
declared with this module.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Settings = TypeVar("Settings", bound="DataclassInstance")


class ConfigError(ValueError):
    """A setting is wrong: the message names the field (and the YAML file when it came from one)."""


@dataclass(frozen=True)
class Bounds:
    """The range of a numeric field: `minimum`/`maximum` inclusive, `above`/`below` exclusive; `also` lists values
    allowed outside the range (-1 meaning "not set"); `unit` is said after the bound; `why` explains it."""

    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    also: tuple[float, ...] = ()
    unit: str = ""
    why: str = ""

    def holds(self, value: float) -> bool:
        if value in self.also:
            return True
        return not ((self.minimum is not None and value < self.minimum)
                    or (self.maximum is not None and value > self.maximum)
                    or (self.above is not None and value <= self.above)
                    or (self.below is not None and value >= self.below))

    def describe(self) -> str:
        """'>= 1', '> 0', 'in [0, 1)', '-1 or > 0', '>= 8 tokens'."""
        low = (f"[{self.minimum}" if self.minimum is not None else f"({self.above}" if self.above is not None
               else None)
        high = (f"{self.maximum}]" if self.maximum is not None else f"{self.below})" if self.below is not None
                else None)
        if low is not None and high is not None:
            text = f"in {low}, {high}"
        else:
            text = " and ".join(part for part in (
                f">= {self.minimum}" if self.minimum is not None else "",
                f"> {self.above}" if self.above is not None else "",
                f"<= {self.maximum}" if self.maximum is not None else "",
                f"< {self.below}" if self.below is not None else "") if part)
        text += f" {self.unit}" if self.unit else ""
        text += f" ({self.why})" if self.why else ""
        return " or ".join([*(str(value) for value in self.also), text])


def setting(default: Any, help: str, *, flag: str | None = None, choices: tuple[str, ...] | None = None,
            minimum: float | None = None, maximum: float | None = None, above: float | None = None,
            below: float | None = None, also: tuple[float, ...] = (), unit: str = "", why: str = "") -> Any:
    """A settings field: its default, the help people read, its CLI `flag` alias, and its allowed values."""
    has_bounds = any(bound is not None for bound in (minimum, maximum, above, below))
    bounds = Bounds(minimum, maximum, above, below, also, unit, why) if has_bounds else None
    return field(default=default, metadata={"help": help, "flag": flag, "choices": choices, "bounds": bounds})


def require(condition: bool, field_name: str, problem: str) -> None:
    """A rule across fields, which a field's own declaration cannot say."""
    if not condition:
        raise ConfigError(f"{field_name} {problem}")


# ---------------------------------------------------------------- types and checks


@functools.cache
def _field_types(settings_class: type) -> dict[str, tuple[Any, bool]]:
    """name -> (base type, accepts None), from the annotations (strings under `from __future__ import annotations`)."""
    found = {}
    for name, hint in typing.get_type_hints(settings_class).items():
        args = typing.get_args(hint)
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            found[name] = (next(arg for arg in args if arg is not type(None)), type(None) in args)
        else:
            found[name] = (hint, False)
    return found


def field_type(settings_class: type, name: str) -> tuple[Any, bool]:
    """(base type, accepts None) of a field: `int | None` gives (int, True), `tuple[float, ...]` stays whole."""
    return _field_types(settings_class)[name]


def field_spec(settings_class: type, name: str) -> dataclasses.Field[Any]:
    """The dataclass field `name` of `settings_class`, or a ConfigError naming the known ones."""
    by_name = {f.name: f for f in dataclasses.fields(settings_class)}
    if name not in by_name:
        raise ConfigError(f"unknown setting {name!r}; known: {sorted(by_name)}")
    return by_name[name]


_TYPE_WORDS = {int: "an integer", float: "a number", str: "text", bool: "true or false"}


def _type_problem(base: Any, value: Any) -> str | None:
    if typing.get_origin(base) is tuple:
        (item_type, *_) = typing.get_args(base)
        if not isinstance(value, list | tuple):
            return f"must be a list of {item_type.__name__} values, got {value!r}"
        bad = next((item for item in value if _type_problem(item_type, item) is not None), None)
        return None if bad is None else f"must hold {item_type.__name__} values, got {bad!r}"
    if base is bool:
        ok = isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, base)
    return None if ok else f"must be {_TYPE_WORDS.get(base, base.__name__)}, got {value!r}"


def field_check(settings_class: type, name: str, value: Any) -> Any:
    """`value` as field `name` holds it (an int for a float field becomes a float, a list a tuple), or a
    ConfigError naming the field and what is wrong: the type, the declared choices or the declared range."""
    spec = field_spec(settings_class, name)
    base, optional = field_type(settings_class, name)
    bounds: Bounds | None = spec.metadata.get("bounds")
    if value is None:
        require(optional, name, "cannot be empty")
        return None
    problem = _type_problem(base, value)
    if problem is not None:
        raise ConfigError(f"{name} {problem}")
    if base is float:
        value = float(value)
    if typing.get_origin(base) is tuple:
        value = tuple(float(item) if typing.get_args(base)[0] is float else item for item in value)
    choices = spec.metadata.get("choices")
    require(choices is None or value in choices, name, f"must be one of {choices}, got {value!r}")
    if bounds is not None:
        empty = " or empty" if optional else ""
        require(bounds.holds(value), name, f"must be {bounds.describe()}{empty}, got {value}")
    return value


def fields_validate(settings: Any) -> None:
    """Check every field of `settings` by its declaration, storing the normalised value (see field_check)."""
    for spec in dataclasses.fields(settings):
        value = field_check(type(settings), spec.name, getattr(settings, spec.name))
        if value is not getattr(settings, spec.name):
            object.__setattr__(settings, spec.name, value)


def field_describe(settings_class: type, name: str) -> dict[str, Any]:
    """What a form shows of a field: its type, default, help, choices and bounds."""
    spec = field_spec(settings_class, name)
    base, optional = field_type(settings_class, name)
    return {"name": name, "type": base, "optional": optional, "help": spec.metadata.get("help", ""),
            "default": None if spec.default is dataclasses.MISSING else spec.default,
            "choices": spec.metadata.get("choices"), "bounds": spec.metadata.get("bounds")}


# ---------------------------------------------------------------- YAML and CLI


def fields_load(settings_class: type[Settings], yaml_path: str | Path | None = None,
                overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build settings from a YAML file (optional) and then `overrides` (e.g. parsed CLI flags), validated."""
    values: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(settings_class)}
    if yaml_path is not None:
        import yaml

        try:
            loaded = yaml.safe_load(Path(yaml_path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{yaml_path}: not valid YAML ({error})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{yaml_path}: expected a mapping of setting names to values")
        unknown = sorted(set(loaded) - known)
        if unknown:
            raise ConfigError(f"{yaml_path}: unknown setting(s) {unknown}; known: {sorted(known)}")
        values.update({key: field_parse(settings_class, key, value, source=str(yaml_path))
                       for key, value in loaded.items()})
    for key, value in (overrides or {}).items():
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}; known: {sorted(known)}")
        values[key] = field_parse(settings_class, key, value, source="overrides")
    try:
        return settings_class(**values)
    except ConfigError as error:
        where = f"{yaml_path}: " if yaml_path is not None else ""
        raise ConfigError(f"{where}{error}") from None


def field_parse(settings_class: type, name: str, value: Any, *, source: str) -> Any:
    """A value for field `name` from YAML or a flag's text ("none" empties an optional field); the range is
    checked when the settings are built. Errors name `source` and the field."""
    base, optional = field_type(settings_class, name)
    if isinstance(value, str) and optional and value.lower() in ("none", "null"):
        value = None
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{source}: {name} cannot be empty")
    if typing.get_origin(base) is tuple:
        return _tuple_value(base, value, name, source=source)
    if isinstance(value, str) and base is not str:
        return _parse_text(base, value, name)
    problem = _type_problem(base, value)
    if problem is not None:
        raise ConfigError(f"{source}: {name} {problem}")
    return float(value) if base is float else value


def _tuple_value(base: Any, value: Any, name: str, *, source: str) -> tuple[Any, ...]:
    """A `tuple[T, ...]` field from a YAML list or a comma-separated flag value."""
    (item_type, *_) = typing.get_args(base)
    items = [item for item in value.split(",") if item.strip()] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError(f"{source}: {name} must be a list of {item_type.__name__} values, got {value!r}")
    return tuple(_parse_text(item_type, item.strip(), name) if isinstance(item, str)
                 else field_parse_item(item_type, item, name, source=source) for item in items)


def field_parse_item(item_type: type, item: Any, name: str, *, source: str) -> Any:
    if _type_problem(item_type, item) is not None:
        raise ConfigError(f"{source}: {name} must hold {item_type.__name__} values, got {item!r}")
    return float(item) if item_type is float else item


def _parse_text(base: type, text: str, name: str) -> Any:
    try:
        if base is bool:
            if text.lower() in ("true", "yes", "1"):
                return True
            if text.lower() in ("false", "no", "0"):
                return False
            raise ValueError(text)
        return base(text)
    except ValueError:
        raise ConfigError(f"{name} must be a {base.__name__}, got {text!r}") from None


def fields_add_arguments(parser: argparse.ArgumentParser, settings_class: type,
                         *, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per field (help from its declaration); unset flags stay out of the namespace."""
    group = parser.add_argument_group(f"{settings_class.__name__} settings (override --config)")
    for spec in dataclasses.fields(settings_class):
        if spec.name in skip:
            continue
        base, _ = field_type(settings_class, spec.name)
        flags = ["--" + spec.name.replace("_", "-")]
        alias = spec.metadata.get("flag")
        if alias and alias not in flags:
            flags.insert(0, alias)
        default = spec.default if spec.default is not dataclasses.MISSING else None
        help_text = f"{spec.metadata.get('help', '')} (default: {default})"
        common: dict[str, Any] = {"dest": spec.name, "default": argparse.SUPPRESS, "help": help_text}
        if base is bool:
            group.add_argument(*flags, action=argparse.BooleanOptionalAction, **common)
        else:
            group.add_argument(*flags, metavar=spec.name.upper(), **common)


def fields_from_namespace(settings_class: type[Settings], namespace: argparse.Namespace, *,
                          yaml_path: str | None = None, extra: Mapping[str, Any] | None = None) -> Settings:
    """Settings from a YAML file plus the flags that were actually given on the command line."""
    known = {f.name for f in dataclasses.fields(settings_class)}
    overrides = {key: value for key, value in vars(namespace).items() if key in known}
    overrides.update(extra or {})
    return fields_load(settings_class, yaml_path, overrides)
