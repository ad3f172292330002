"""The whole of seed 000 in a browser: sheet → anchors → variations → keyboard review."""

import pytest
from playwright.sync_api import expect

from characters.models import Character, Image
from characters.selectors import curation_counts
from tests.browser.walk import finish_runs, reload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def start_run(page, screenshot, name):
    expect(page.get_by_role("heading", name="Spend about $0.00?")).to_be_visible()
    screenshot(name)
    page.get_by_role("button", name="Start the run").click()
    expect(page.locator(".messages")).to_contain_text("started")
    finish_runs()
    reload(page)


def test_from_preset_to_25_approved_images_with_the_keyboard(
    page, live_server, user, loaded_presets, screenshot, inline_tasks
):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "artist")
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")

    page.goto(f"{live_server.url}/characters/new/")
    page.fill("#id_name", "Fit Mannequin")
    page.fill("#id_trigger_word", "fitmannequin")
    page.select_option("#id_preset", "fitness")
    page.get_by_role("button", name="Create character").click()
    page.get_by_role("link", name="Character sheet").first.click()

    # 1. Candidates for every pose, priced first.
    page.fill("input[name=count]", "2")
    page.get_by_role("button", name="Price this run…").click()
    start_run(page, screenshot, "10-confirm-candidates")
    expect(page.locator(".board-column")).to_have_count(8)
    expect(page.locator(".candidate")).to_have_count(16)
    screenshot("11-anchor-board")

    # 2. Pick the first candidate of every pose: htmx swaps the board in place.
    for index in range(8):
        page.locator(".board-column").nth(index).locator(".pick").first.click()
        expect(page.locator(".board-column").nth(index).locator(".candidate.chosen")).to_have_count(
            1
        )
    expect(page.get_by_text("8 of 8 picked")).to_be_visible()
    screenshot("12-sheet-picked")

    # 3. Variations from their anchors: four specs, priced first.
    page.get_by_role("link", name="Fit Mannequin").first.click()
    boxes = page.locator("#variations-form input[name=variations]")
    for i in range(boxes.count()):
        boxes.nth(i).uncheck()
    for key in ["pullup_top", "barbell_row", "bicep_curl", "squat_parallel"]:
        page.check(f"#variations-form input[value={key}]")
    page.get_by_role("button", name="Price the checked variations…").click()
    start_run(page, screenshot, "13-confirm-variations")
    assert Image.objects.filter(kind=Image.Kind.VARIATION).count() >= 12

    # 4. Review with the keyboard: a approves and moves on.
    page.get_by_role("link", name="Gallery").first.click()
    expect(page.locator(".tile").first).to_be_focused()
    for n in range(25):
        page.keyboard.press("a")
        expect(page.locator(".tile.review-approved")).to_have_count(n + 1)
    # The anchors count in: 25 approved plus the anchors that were not among them.
    character = Character.objects.get()
    expected = curation_counts(character).approved
    assert 25 <= expected <= 33
    expect(page.locator("#curation-counts .approved-count")).to_have_text(str(expected))
    expect(page.locator("#curation-counts")).to_contain_text("approved of 20–30")
    screenshot("14-gallery-reviewed")

    # Space compares a variation with its source anchor.
    page.locator(".tile").first.focus()
    page.keyboard.press("Space")
    expect(page.locator("#lightbox")).to_be_visible()
    screenshot("15-compare")
    page.keyboard.press("Escape")
    assert Image.objects.filter(review=Image.Review.APPROVED).count() == 25
