"""A run that fails says so, in red, on the page it was launched from, with a way to the run."""

import re

import pytest
from playwright.sync_api import expect

from characters import services
from generation.models import GenerationRun
from tests.browser.walk import finish_runs, log_in, save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_failed_run_shows_its_error_on_the_sheet_it_was_launched_from(
    page, live_server, user, loaded_presets, inline_tasks
):
    character = services.create_character(
        name="Fit Mannequin",
        trigger_word="fitmannequin",
        base_prompt="orange mannequin, cream background",
        preset="fitness",
    )
    # The simulator fails any request whose prompt carries "simulate:fail" (providers/local.py).
    back = character.poses.get(key="back")
    back.prompt += ", simulate:fail"
    back.save()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/characters/{character.slug}/anchors/")

    # Nothing ticked is a form error, never "every pose".
    page.get_by_role("button", name="none").click()
    expect(page.locator(".tick-count")).to_have_text("0 of 8 ticked")
    page.get_by_role("button", name="Price this run…").click()
    expect(page.locator(".messages .error")).to_contain_text("Tick at least one pose")
    assert not GenerationRun.objects.exists()

    page.get_by_role("button", name="none").click()
    page.get_by_label("Back").check()
    page.fill("input[name=count]", "2")
    page.get_by_role("button", name="Price this run…").click()
    page.get_by_role("button", name="Start the run").click()
    expect(page.locator(".messages")).to_contain_text("1 call, 2 images")
    finish_runs()
    run = GenerationRun.objects.get()
    assert run.status == GenerationRun.Status.FAILED

    # The progress poll notices the run has ended and reloads the page: the failure shows.
    failure = page.locator(".run-failure")
    expect(failure).to_be_visible(timeout=15_000)
    expect(failure).to_contain_text(f"run #{run.id} failed")
    expect(failure).to_contain_text("The simulator was asked to fail")
    assert re.search(
        r"rgb\(1[5-9]\d, \d{1,2}, \d{1,2}\)", failure.evaluate("e => getComputedStyle(e).color")
    )
    save_screenshot(page, "failure-on-the-sheet")

    # The gallery and the character page say so too; the link leads to the run.
    page.goto(f"{live_server.url}/characters/{character.slug}/gallery/")
    expect(page.locator(".run-failure")).to_contain_text("The simulator was asked to fail")
    page.goto(f"{live_server.url}{character.get_absolute_url()}")
    page.locator(".run-failure").get_by_role("link", name=f"Open run #{run.id}").click()
    expect(page).to_have_url(f"{live_server.url}/runs/{run.id}/")
    expect(
        page.get_by_role("button", name=re.compile("Price sending the 1 failed call again"))
    ).to_be_visible()

    # Dismissed, it stays away from the character's pages.
    page.goto(f"{live_server.url}{character.get_absolute_url()}")
    page.locator(".run-failure").get_by_role("button", name=re.compile("Dismiss")).click()
    expect(page.locator(".run-failure")).to_have_count(0)
    page.reload()
    expect(page.locator("#progress")).not_to_have_attribute("hx-trigger", "load")  # loaded
    expect(page.locator(".run-failure")).to_have_count(0)
