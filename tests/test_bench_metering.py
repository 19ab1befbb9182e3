"""A small run of the metering benchmark (benchmarks/bench_metering.py): both parts on a tiny model, a gunicorn
worker killed in each concurrent load, and the run fails unless every call is stored and charged exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_metering.py"
LOADS = 2

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_a_small_run_charges_each_call_once_through_a_killed_worker():
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--runs", "1", "--calls", "4", "--consumers", "4", "--calls-per-consumer", "4",
         "--concurrency-runs", str(LOADS), "--hidden", "32", "--layers", "1", "--heads", "2", "--seconds", "60"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ), cwd=BENCHMARK.parents[1],
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "ratio" in done.stdout and "SQL statements per metered call" in done.stdout
    assert done.stdout.count("SIGKILLed") == LOADS
    assert done.stdout.count("lost 0, recorded but unanswered 0, keys charged twice 0") == LOADS
    assert done.stdout.count("answered 16 of 16") == LOADS
