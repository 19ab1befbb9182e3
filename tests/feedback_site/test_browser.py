"""The annotator and the ML engineer in a real browser (Playwright driving Debian's Chromium)."""

import json
import os
from pathlib import Path

import pytest

from feedback_site.accounts.roles import Role
from feedback_site.accounts.services import user_create
from feedback_site.annotation import services
from feedback_site.annotation.models import Judgment, Snapshot
from tests.conftest import CHROMIUM, CHROMIUM_ARGS

from .conftest import jsonl, own_rows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def browser_page():
    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)  # generous: CI machines are small and shared
        yield page
        browser.close()
        # The test's ORM calls under Playwright's event loop open a connection of their own (Django keeps one per
        # context), which nothing else closes; left open, it keeps the test database from being dropped at the end.
        from django.db import connections

        connections.close_all()


def log_in(page, base, username, password):
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login")
    page.wait_for_url(f"{base}/")


def test_annotator_judges_with_the_keyboard_and_engineer_exports(live_server, browser_page, tmp_path):
    page, base = browser_page, live_server.url
    annotator = user_create(username="ann", password="ann-pass-1", roles=[Role.ANNOTATOR])
    user_create(username="eng", password="eng-pass-1", roles=[Role.ML_ENGINEER])
    datanet = services.datanet_create(name="Support", guidelines="# Be kind\nPrefer **helpful** answers.", overlap=1)
    services.datanet_import(datanet=datanet, stream=jsonl(own_rows(5)), origin="test")
    services.datanet_member_add(datanet=datanet, user=annotator)

    log_in(page, base, "ann", "ann-pass-1")
    page.goto(f"{base}/datanets/{datanet.slug}/judge/")
    expected = []
    for i, (key, strength_key, shown) in enumerate([("1", "s", "A"), ("2", "m", "B"), ("3", "c", "tie")]):
        page.wait_for_selector("#judgment[data-action=submit]")
        assignment_id = page.get_attribute("#judgment", "data-assignment")
        prompt = page.inner_text("#prompt")
        page.keyboard.press(key)
        page.keyboard.press(strength_key)
        if i == 0:
            page.screenshot(path=str(_artifact("judging-page.png")))
        url_before = page.url
        page.keyboard.press("Enter")
        # the next comparison arrives in place, without a page load
        page.wait_for_function(
            "id => document.querySelector('#judgment') && document.querySelector('#judgment').dataset.assignment !== id",
            arg=assignment_id,
        )
        assert page.url == url_before
        expected.append((int(assignment_id), shown, {"s": 1, "c": 2, "m": 3}[strength_key], prompt))
    # revise the last judgment (tie -> B, much)
    page.keyboard.press("r")
    page.wait_for_selector("#judgment[data-action=revise]")
    assert page.is_checked("input[name=choice][value=tie]")
    page.keyboard.press("2")
    page.keyboard.press("m")
    page.keyboard.press("Enter")
    page.wait_for_selector("#judgment[data-action=submit]")
    assert "Revision saved" in page.inner_text("#notice")
    page.click("#logout")
    page.wait_for_url("**/login/**")

    judgments = list(Judgment.objects.order_by("id"))
    assert len(judgments) == 4
    for judgment, (assignment_id, shown, strength, prompt) in zip(judgments[:3], expected, strict=True):
        assert judgment.assignment_id == assignment_id
        assert (judgment.choice_as_shown, judgment.strength) == (shown, strength)
        assert judgment.comparison.prompt.text == prompt
        assert judgment.time_spent_ms > 0
    assert judgments[3].revision_of_id == judgments[2].id and judgments[3].choice_as_shown == "B"

    log_in(page, base, "eng", "eng-pass-1")
    page.goto(f"{base}/datanets/{datanet.slug}/")
    page.click("#snapshot")
    page.wait_for_selector("#snapshots .export-trl")
    with page.expect_download() as download:
        page.click("#snapshots .export-trl")
    path = tmp_path / "export.jsonl"
    download.value.save_as(path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    snapshot = Snapshot.objects.get()
    assert snapshot.counts["judgment_events"] == 4
    # 3 comparisons judged once each; all three are now A or B, so three preference rows
    assert len(rows) == 3 == snapshot.counts["trl_rows"]
    assert sorted(j for r in rows for j in r["judgment_ids"]) == [judgments[0].id, judgments[1].id, judgments[3].id]


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
