"""A tiny sweep for the report tests: 3 small scenarios (attack and crash moved early) x 2 policies x 2 seeds."""

from pathlib import Path

import pytest
import yaml

from simulator.sweep import PolicyVariant, SweepConfig, run_sweep
from tests.simulator.conftest import small

EPOCHS = 20


def tiny_sweep_config(
    folder: Path, *, seeds: int = 2, scenarios=("baseline", "sybil_attack", "price_crash")
) -> SweepConfig:
    paths = []
    for name in scenarios:
        data = small(name, epochs=EPOCHS, contributors=60).to_data()
        # The shipped attacks and shocks start after 30-90 epochs: bring them inside the short run.
        for event in (*data.get("attacks", []), *data.get("shocks", [])):
            event["start_epoch"] = 5
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        paths.append(str(path))
    return SweepConfig(
        name="tiny",
        scenarios=tuple(paths),
        policies=(
            PolicyVariant("attribution_bonded", "attribution_bonded"),
            PolicyVariant("bonded_5x_fees", "attribution_bonded", {"fee_multiple_bps": 50000}),
        ),
        seeds=seeds,
        root_seed=7,
        output=str(folder / "sweep"),
    )


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_sweep")
    return run_sweep(tiny_sweep_config(folder))
