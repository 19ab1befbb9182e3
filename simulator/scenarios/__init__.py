"""The named scenarios, one YAML file each in this folder, and the loader.

A scenario file may start with ``extends: OTHER`` (a name here, or a path relative to the file):
the other scenario's data is read first and this file's mappings are merged into it, key by key
(lists, such as ``attacks``, replace the other's list). So ``sybil_attack.yaml`` only says what
differs from ``baseline.yaml``.

    load_scenario("sybil_attack")            # a name in this folder
    load_scenario("my_scenarios/x.yaml")     # or a path
    scenario_names()                         # the names in this folder
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

from simulator.params import Scenario, ScenarioError, scenario_from_data

# The order a sweep crosses them in, and a report lists them in.
STANDARD_SCENARIOS = (
    "baseline",
    "spam_wave",
    "sybil_attack",
    "collusion_ring",
    "label_flipping",
    "demand_shock",
    "price_crash",
    "unlock_cliff",
)


def _folder() -> Path:
    return Path(str(resources.files("simulator") / "scenarios"))


def scenario_names() -> list[str]:
    """Names of the scenarios shipped here, the standard ones first."""
    found = sorted(path.stem for path in _folder().glob("*.yaml"))
    return [name for name in STANDARD_SCENARIOS if name in found] + [
        n for n in found if n not in STANDARD_SCENARIOS
    ]


def _resolve(reference: str, relative_to: Path | None) -> Path:
    candidate = Path(reference)
    if candidate.suffix in (".yaml", ".yml", ".json"):
        if not candidate.is_absolute() and relative_to is not None and not candidate.exists():
            candidate = relative_to.parent / candidate
        if not candidate.exists():
            raise ScenarioError(f"scenario file {reference} does not exist")
        return candidate
    shipped = _folder() / f"{reference}.yaml"
    if not shipped.exists():
        raise ScenarioError(
            f"unknown scenario {reference!r}; known: {', '.join(scenario_names())} (or give a .yaml/.json path)"
        )
    return shipped


def _read(path: Path) -> dict[str, Any]:
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ScenarioError(f"{path}: cannot parse: {error}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario file holds a mapping of field: value")
    return data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and not _is_distribution(value):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _is_distribution(value: dict[str, Any]) -> bool:
    # A distribution replaces the other one whole: {beta: ...} must not merge into {lognormal: ...}.
    return len(value) == 1 and next(iter(value)) in ("lognormal", "beta", "uniform", "pareto", "constant")


def scenario_data(
    reference: str, *, _seen: tuple[Path, ...] = (), _relative_to: Path | None = None
) -> dict[str, Any]:
    """The merged plain data of a scenario (``extends`` resolved)."""
    path = _resolve(reference, _relative_to)
    if path.resolve() in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path.resolve()))
        raise ScenarioError(f"scenario files extend each other in a loop: {chain}")
    data = _read(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError(f"{path}.extends: expected a scenario name or file, got {parent!r}")
    base = scenario_data(parent, _seen=(*_seen, path.resolve()), _relative_to=path)
    return _merge(base, data)


def load_scenario(reference: str | Scenario | dict[str, Any]) -> Scenario:
    """A scenario by name (shipped here), by file path, or from plain data; validated."""
    if isinstance(reference, Scenario):
        return reference
    if isinstance(reference, dict):
        return scenario_from_data(reference)
    path = _resolve(reference, None)
    return scenario_from_data(
        scenario_data(reference), where=str(path.name if path.parent == _folder() else path)
    )
