"""A user's own API tokens, and the banner a stopped worker puts on every page, as seen at
1440 and 390 px."""

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.walk import log_in, save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1440, 390])
def test_a_token_is_made_shown_once_and_revoked(browser, live_server, user, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in(page, live_server)
        page.locator(".userbox a.username").click() if width > 600 else page.goto(
            f"{live_server.url}/account/api-tokens/"
        )
        expect(page.get_by_role("heading", name="Your API tokens")).to_be_visible()
        page.get_by_label("What it is for").fill("video pipeline")
        page.get_by_role("button", name="Create a token").click()
        key = page.get_by_test_id("token-key").inner_text()
        assert key.startswith("ls_")
        save_screenshot(page, f"api-tokens-{width}", full_page=True)
        bearer = {"Authorization": f"Bearer {key}"}  # no cookies: the token alone
        assert httpx.get(f"{live_server.url}/api/characters", headers=bearer).status_code == 200
        page.reload()  # shown once: not again
        expect(page.get_by_test_id("token-key")).to_have_count(0)
        page.get_by_role("button", name="Revoke video pipeline").click()
        expect(page.locator(".messages")).to_contain_text("revoked")
        assert httpx.get(f"{live_server.url}/api/characters", headers=bearer).status_code == 401
    finally:
        context.close()


@pytest.mark.worker_stopped
@pytest.mark.parametrize("width", [1440, 390])
def test_a_stopped_worker_is_said_on_every_page(browser, live_server, user, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in(page, live_server)
        for path in ("/characters/", "/runs/", "/training/"):
            page.goto(f"{live_server.url}{path}")
            expect(page.get_by_test_id("worker-banner")).to_contain_text(
                "Background worker not running: queued work starts when it is back."
            )
        save_screenshot(page, f"worker-banner-{width}")
    finally:
        context.close()
