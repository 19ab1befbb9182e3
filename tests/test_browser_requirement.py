"""The browser tests skip, saying why, where Chromium is missing or half-installed, and fail under CI=true."""

import pytest

from tests import conftest


def fake_chromium(tmp_path, body: str) -> str:
    script = tmp_path / "chromium"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return str(script)


def test_a_missing_chromium_is_named(tmp_path):
    assert "needs Debian's Chromium at" in conftest.chromium_problem(str(tmp_path / "nowhere"))


def test_a_chromium_that_does_not_start_is_a_reason_with_its_message(tmp_path):
    broken = fake_chromium(tmp_path, 'echo "error while loading shared libraries: libnss3.so" >&2; exit 127')
    problem = conftest.chromium_problem(broken)
    assert "does not start (exit 127)" in problem and "libnss3.so" in problem


def test_a_chromium_that_starts_is_no_problem(tmp_path):
    assert conftest.chromium_problem(fake_chromium(tmp_path, "echo '<html></html>'")) is None


def test_without_ci_a_missing_server_skips_and_under_ci_it_fails(monkeypatch):
    monkeypatch.setattr(conftest, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="Chromium at /x does not start"):
        conftest.require(False, "Chromium at /x does not start")
    monkeypatch.setattr(conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI=true but Chromium at /x does not start"):
        conftest.require(False, "Chromium at /x does not start")
    conftest.require(True, "never shown")
