"""Back after "Start the run" never starts a second paid run: the confirm page, asked for
again, leads to the run it started."""

import re

import pytest
from playwright.sync_api import expect

from generation.models import GenerationRun
from tests.browser.walk import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_back_after_start_the_run_shows_the_run_it_started(
    page, live_server, user, character, inline_tasks
):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/characters/{character.slug}/anchors/")
    page.fill("input[name=count]", "1")
    page.get_by_role("button", name="Price this run…").click()
    expect(page.get_by_role("heading", name="Spend about $0.00?")).to_be_visible()
    expect(page).to_have_url(re.compile(r"once="))
    confirm_url = page.url
    page.get_by_role("button", name="Start the run").click()
    expect(page.locator(".messages")).to_contain_text("started")
    run = GenerationRun.objects.get()

    page.go_back()
    expect(page).to_have_url(re.compile(rf"/runs/{run.id}/$"))
    expect(page.locator(".messages")).to_contain_text(f"Run #{run.id} was started from this page")
    expect(page.get_by_text("Nothing has been sent yet")).to_have_count(0)

    page.goto(confirm_url)  # the same confirm page in another tab: the same answer
    expect(page).to_have_url(re.compile(rf"/runs/{run.id}/$"))
    assert GenerationRun.objects.count() == 1
