"""The studio at 1440×900 along seed 000: one approved count everywhere, next steps, the
lightbox, the run page; screenshots of each in test-artifacts/."""

import re

import pytest
from playwright.sync_api import expect

from characters.selectors import curation_counts
from generation.models import GenerationRun
from tests.browser.walk import log_in, save_screenshot, seed_walked_character

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_studio_at_1440_px(wide, live_server, user, loaded_presets, inline_tasks):
    page = wide
    character = seed_walked_character(user, approve=10, fail_pose="back")
    approved = str(curation_counts(character).approved)
    log_in(page, live_server)

    # The list shows the real anchors and the same approved count as every other page.
    expect(page.locator(".character-card .sheet-mini img")).to_have_count(8)
    expect(page.locator(".character-card .approved-count")).to_have_text(approved)
    save_screenshot(page, "wide-01-character-list")

    page.locator(".character-card").click()
    expect(page.locator(".run-failure")).to_contain_text("The simulator was asked to fail")
    expect(page.locator(".sheet .approved-count, .card .approved-count").first).to_have_text(
        approved
    )
    # 8/8 anchors, variations made, under 20 approved: the next thing is to review.
    expect(page.locator(".next-step")).to_have_text(re.compile("Next: review the images"))
    expect(page.locator(".step.current a")).to_have_attribute(
        "href", f"/characters/{character.slug}/gallery/"
    )
    # Only the specs with nothing yet are ticked.
    checked = page.locator("#variations-form input[name=variations]:checked")
    made = page.locator("#variations-form tr:not(.missing) input[name=variations]")
    expect(made.first).not_to_be_checked()
    assert checked.count() == page.locator("#variations-form tr.missing").count()
    save_screenshot(page, "wide-02-character-page")
    page.locator("#variations").scroll_into_view_if_needed()
    save_screenshot(page, "wide-03-spec-table")

    page.goto(f"{live_server.url}/characters/{character.slug}/anchors/")
    expect(page.locator(".board-column")).to_have_count(8)
    expect(page.locator(".run-failure")).to_be_visible()
    save_screenshot(page, "wide-04-anchor-board")
    # "More like this" is one action on the candidate under the pointer, not a link per image.
    page.mouse.move(0, 0)
    more = page.locator(".candidate").first.locator(".candidate-actions")
    expect(more).to_have_css("opacity", "0")
    page.locator(".candidate").first.hover()
    expect(more).to_have_css("opacity", "1")
    last_column = page.locator(".board-column").last.bounding_box()
    assert last_column["x"] + last_column["width"] <= 1440  # all eight poses in view

    page.goto(f"{live_server.url}/characters/{character.slug}/gallery/?sort=pose")
    expect(page.locator(".run-failure")).to_be_visible()
    expect(page.locator("#curation-counts .approved-count")).to_have_text(approved)
    anchor_tiles = page.locator(".tile.is-anchor")
    expect(anchor_tiles).to_have_count(8)
    expect(anchor_tiles.first.locator(".badge")).to_have_text("Anchor")
    expect(page.locator(".tile.is-anchor .badge.unreviewed")).to_have_count(0)
    expect(page.locator("#curation-counts .advice")).to_contain_text("Too few approved")
    save_screenshot(page, "wide-05-gallery")
    page.get_by_role("button", name="L", exact=True).click()
    expect(page.locator("#gallery")).to_have_class(re.compile("size-l"))
    save_screenshot(page, "wide-06-gallery-large")
    page.get_by_role("button", name="M", exact=True).click()

    variation = page.locator(".tile[data-source-url]:not([data-source-url=''])").first
    variation.locator("img").click()
    lightbox = page.locator("#lightbox")
    expect(lightbox).to_be_visible()
    expect(lightbox.locator(".lb-seed")).not_to_have_text("—")
    expect(lightbox.locator(".lb-source")).to_contain_text("#")
    expect(lightbox.locator(".compare-source")).to_be_visible()
    save_screenshot(page, "wide-07-lightbox")
    # Keys review in the lightbox: a approves the image shown and shows the next one.
    shown_id = variation.get_attribute("data-image-id")
    page.keyboard.press("a")
    expect(page.locator(f"#image-{shown_id}")).to_have_class(re.compile("review-approved"))
    expect(lightbox.locator(".lb-label")).not_to_contain_text(f"#{shown_id}")
    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()

    run = GenerationRun.objects.filter(kind="variations").get()
    page.goto(f"{live_server.url}/runs/{run.id}/")
    expect(page.locator(".call-group")).to_have_count(6)
    expect(page.locator(".call-thumbs img").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^\d+ calls?, \d+ images?$")).first).to_be_visible()
    save_screenshot(page, "wide-08-run-page")
    page.get_by_role("link", name="Its images in the gallery").click()
    expect(page.locator(".tile")).to_have_count(run.calls.count() * 3)

    failed = GenerationRun.objects.get(status=GenerationRun.Status.FAILED)
    page.goto(f"{live_server.url}/runs/{failed.id}/")
    page.get_by_role("button", name=re.compile("Price sending the 1 failed call again")).click()
    expect(page.get_by_role("heading", name="Spend about $0.00?")).to_be_visible()
    save_screenshot(page, "wide-09-retry-priced")
    page.get_by_role("button", name="Start the run").click()
    expect(page.locator(".messages")).to_contain_text(f"failed calls of run #{failed.id}")
    assert GenerationRun.objects.filter(params__retry_of=failed.id).count() == 1
