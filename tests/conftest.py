"""Shared fixtures. Tests that need a server (PostgreSQL, Redis, Chromium) skip without one and
say why, except under CI=true, where a missing server is a failure: CI must test for real."""

import os
import shutil

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


@pytest.fixture
def _needs_browser():
    require(shutil.which(CHROMIUM) is not None, f"this test needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="session")
def hh_sample_path():
    """A slice of real HH-RLHF preference pairs kept with the tests (the full file lives outside the repo)."""
    from pathlib import Path

    return Path(__file__).parent / "data" / "hh-rlhf-harmless-sample.jsonl"
