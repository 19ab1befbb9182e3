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
