"""Shared fixtures. Tests that need a server (PostgreSQL, Redis, Chromium) skip without one and
say why, except under CI=true, where a missing server is a failure: CI must test for real."""

import functools
import os
import shutil
import subprocess

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("postgres"):
            item.fixturenames.append("_needs_postgres")
        if item.get_closest_marker("redis"):
            item.fixturenames.append("_needs_redis")
        if item.get_closest_marker("browser"):
            item.fixturenames.append("_needs_browser")


@pytest.fixture
def _needs_postgres():
    url = os.environ.get("DATABASE_URL", "")
    require(url.startswith(("postgres://", "postgresql://")), "this test needs PostgreSQL: set DATABASE_URL=postgres://...")


@pytest.fixture
def _needs_redis():
    url = os.environ.get("CELERY_BROKER_URL", "")
    require(url.startswith("redis://"), "this test needs Redis: set CELERY_BROKER_URL=redis://...")


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_problem(path: str = CHROMIUM) -> str | None:
    """Why the browser tests cannot run here, or None: Chromium missing, Playwright missing, or a Chromium
    that is there but does not start (a half-installed package, missing libraries)."""
    if shutil.which(path) is None:
        return f"this test needs Debian's Chromium at {path} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        return f"this test needs Playwright's Python package ({error}); pip install -e '.[dev]'"
    try:
        started = subprocess.run([path, "--headless", *CHROMIUM_ARGS, "--dump-dom", "about:blank"],
                                 capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"Chromium at {path} does not start: {error}"
    if started.returncode != 0:
        last = (started.stderr.strip().splitlines() or ["no message"])[-1]
        return f"Chromium at {path} does not start (exit {started.returncode}): {last}"
    return None


@functools.cache
def _chromium_problem_here() -> str | None:
    return chromium_problem()


@pytest.fixture
def _needs_browser():
    problem = _chromium_problem_here()
    require(problem is None, problem or "")


@pytest.fixture(scope="session")
def hh_sample_path():
    """A slice of real HH-RLHF preference pairs kept with the tests (the full file lives outside the repo)."""
    from pathlib import Path

    return Path(__file__).parent / "data" / "hh-rlhf-harmless-sample.jsonl"
