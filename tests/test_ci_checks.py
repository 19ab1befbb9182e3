"""CI checks lint and types before the tests: .ci/run runs `make lint` and `make typecheck`, the type check
covers simulator/ and rlhf/ strictly and the site's services and selectors, and it passes."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_lint_and_the_type_check_before_the_tests():
    steps = [line.split("#")[0].strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    commands = [step for step in steps if step.startswith("make ")]
    assert commands[:3] == ["make lint", "make typecheck", "make test"]


def test_the_type_check_covers_both_packages_strictly_and_the_site_services():
    listed = subprocess.run(["make", "-s", "-n", "typecheck"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.split()
    assert {"simulator", "rlhf"} <= set(listed)
    assert "feedback_site/training/services.py" in listed and "feedback_site/ledger/selectors.py" in listed
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert mypy["strict"] is True
    for override in mypy.get("overrides", []):
        modules = override["module"] if isinstance(override["module"], list) else [override["module"]]
        if override.get("strict") is False:
            assert not any(re.match(r"(simulator|rlhf)(\.|$)", name) for name in modules)


@pytest.mark.slow
def test_the_helpers_of_both_packages_pass_strict_mypy():
    from mypy import api

    out, err, status = api.run(["rlhf/fields.py", "rlhf/config.py", "simulator/economy/fields.py",
                                "simulator/params.py"])
    assert status == 0, out + err
