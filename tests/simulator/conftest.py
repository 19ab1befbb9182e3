"""Small worlds for the simulator's tests: the shipped scenarios, shrunk so a run takes well
under a second, with their attacks and shocks kept."""

import dataclasses

import pytest

from simulator.params import Scenario
from simulator.scenarios import load_scenario


def shrink(scenario: Scenario, *, epochs: int = 40, contributors: int = 150) -> Scenario:
    return scenario.with_changes(
        epochs=epochs,
        contributors=dataclasses.replace(
            scenario.contributors, initial=contributors, arrivals_per_epoch=contributors / 100
        ),
        stakers=dataclasses.replace(scenario.stakers, count=30),
        consumers=dataclasses.replace(scenario.consumers, count=60),
    )


def small(name: str, **changes) -> Scenario:
    return shrink(load_scenario(name), **changes)


@pytest.fixture
def tiny_baseline() -> Scenario:
    return small("baseline")


def profile_with_spread(folder, factor: float):
    """A copy of the shipped attribution profile with every per-judgment standard deviation times
    ``factor``: the same means, a more (factor < 1) or less precise attribution method."""
    import json

    from simulator.attribution_model import default_profile_path

    document = json.loads(default_profile_path().read_text())
    for method in document["methods"].values():
        for figures in method["overlaps"].values():
            groups = list((figures.get("judgments") or {}).values()) + [figures.get("pooled") or {}]
            for group in groups:
                for outcome in ("correct", "wrong"):
                    if group.get(outcome) and group[outcome]["sd"] is not None:
                        group[outcome]["sd"] *= factor
    path = folder / f"profile-spread-{factor}.json"
    path.write_text(json.dumps(document))
    return str(path)
