"""Issue 14 in a browser, at 1440 and 390 px: a close-up gap filled for real, reviewed,
added with its captions, the balance plan taken step by step with live counts, exported
after the warnings; the phone's gallery, tables, lightbox swipe and touch hints."""

import re

import pytest
from playwright.sync_api import expect

from characters.models import Image
from datasets.models import Dataset
from generation.models import GenerationRun
from tests.browser.walk import finish_runs, goto, log_in, save_screenshot, seed_walked_character

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_close_up_gap_is_filled_reviewed_added_balanced_and_exported(
    wide, live_server, user, loaded_presets, inline_tasks
):
    page = wide
    character = seed_walked_character(user)
    log_in(page, live_server)

    # A new dataset needs no typing: its name and caption template are filled in.
    page.goto(f"{live_server.url}/datasets/for/{character.slug}/")
    expect(page.locator("#id_name")).to_have_value("Fit Mannequin set 1")
    expect(page.locator("#id_caption_template")).to_have_value("{trigger}, {caption}")
    page.get_by_role("button", name="Create dataset").click()
    dataset = Dataset.objects.get()
    counts = page.locator("#ds-counts")
    expect(counts).to_contain_text("0 close-up, 0 mid, 22 far")

    # The plan asks for close-ups; its button prices a run from a crop of the front anchor.
    report = page.locator("#report")
    expect(report.locator("[data-code=plan]")).to_contain_text("The plan below ends at")
    make = report.get_by_role("button", name=re.compile(r"^Make (\d+) close-ups…$"))
    wanted = int(re.search(r"\d+", make.inner_text()).group())
    make.click()
    source = page.locator(".gap-source")
    expect(page.get_by_role("heading", name="Spend about $0.00?")).to_be_visible()
    expect(source).to_contain_text(f"Fill the gap: {wanted} close-up shots")
    expect(source).to_contain_text("head-and-shoulders crop")
    expect(source).to_contain_text("of the Front anchor")
    expect(source.locator(".gap-prompt")).to_have_text(re.compile(r"^close-up portrait, "))
    expect(source.locator(".gap-prompt")).not_to_contain_text("full body")
    expect(source).to_contain_text("0.55")
    start = page.get_by_role("button", name="Start the run")
    assert start.bounding_box()["y"] < 900  # above the fold
    save_screenshot(page, "gap-confirm-wide", full_page=True)
    start.click()
    # Started, the run leads back to the dataset: let that page load before going on (a goto
    # while it is still on its way is refused as an interrupted navigation).
    page.wait_for_url(f"**/datasets/{dataset.id}/")
    finish_runs()
    run = GenerationRun.objects.get(params__has_key="gap")
    made = Image.objects.filter(call__run=run)
    assert made.count() == wanted
    assert set(made.values_list("shot_type", flat=True)) == {"close"}

    # The dataset page says they wait for review, and leads there.
    page.goto(f"{live_server.url}/datasets/{dataset.id}/")
    waiting = page.locator(".ds-gap-waiting")
    expect(waiting).to_contain_text(f"{wanted} close-ups from run #{run.id} await review")
    save_screenshot(page, "gap-waiting-wide", full_page=False)
    waiting.get_by_role("link", name="Review them").click()
    tiles = page.locator("#gallery .tile")
    expect(tiles).to_have_count(wanted)
    tiles.first.locator(".tile-select").check()
    tiles.last.locator(".tile-select").click(modifiers=["Shift"])
    tiles.first.focus()
    page.keyboard.press("a")
    expect(tiles).to_have_count(0)
    assert made.filter(review="approved").count() == wanted

    # Added to the dataset with captions from their prompts, like the first images.
    goto(page, f"{live_server.url}/datasets/{dataset.id}/")
    expect(page.locator(".ds-gap-waiting")).to_have_count(0)
    page.get_by_role("button", name="Add them").click()
    expect(counts).to_contain_text(f"{wanted} close-up, 0 mid, 22 far")
    tile = page.locator(f"[data-image-id='{made.first().id}']")
    expect(tile.locator(".ds-caption")).to_have_text(
        re.compile(r"^fitmannequin, close-up portrait")
    )
    expect(tile.locator("select[name=shot_type]")).to_have_value("close")

    # An exclude step is a button; the header's counts follow without a reload.
    exclude = report.get_by_role("button", name=re.compile(r"^Exclude \d+ far shots$"))
    left_out = int(re.search(r"\d+", exclude.inner_text()).group())
    exclude.click()
    expect(counts).to_contain_text(f"{wanted} close-up, 0 mid, {22 - left_out} far")
    expect(page.locator(".messages")).to_contain_text(f"Left out {left_out} images")

    # Filters: only the far shots, then leave out those shown; counts follow live.
    page.select_option("select[name=f-shot]", "far")
    page.select_option("select[name=f-flag]", "included")
    expect(page.locator(".ds-shown")).to_have_text(f"Showing {22 - left_out} of {22 + wanted}")
    page.get_by_role("button", name="Exclude shown").click()
    expect(counts).to_contain_text(f"{wanted} included of {22 + wanted}")
    page.select_option("select[name=f-flag]", "excluded")
    expect(page.locator(".ds-shown")).to_have_text("Showing 22 of " + str(22 + wanted))
    page.get_by_role("button", name="Include shown").click()
    expect(counts).to_contain_text(f"{22 + wanted} included of {22 + wanted}")
    save_screenshot(page, "dataset-plan-wide", full_page=True)

    # Export: what would train badly is named, and a tick lets it go ahead.
    page.select_option("select[name=f-flag]", "")
    page.select_option("select[name=f-shot]", "")
    warnings = page.locator(".ds-export-warnings")
    if warnings.count():
        warnings.get_by_label(re.compile("Export anyway")).check()
    page.get_by_role("button", name="Export training set").click()
    expect(page.locator(".messages")).to_contain_text(f"Export of {22 + wanted} images started")

    # The same page on a phone: nothing sideways, the counts and plan on screen.
    page.set_viewport_size({"width": 390, "height": 844})
    goto(page, f"{live_server.url}/datasets/{dataset.id}/")
    expect(counts).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 392, width
    save_screenshot(page, "dataset-plan-phone", full_page=True)


def test_on_a_phone_the_gallery_tables_and_lightbox_fit_the_hand(
    phone, wide, live_server, user, loaded_presets, inline_tasks
):
    character = seed_walked_character(user)
    for page in (phone, wide):
        log_in(page, live_server)

    # The character page: "Add photos" at the top, in the first screenful.
    phone.goto(f"{live_server.url}/characters/{character.slug}/")
    add = phone.locator(".page-head").get_by_text("Add photos")
    expect(add).to_be_visible()
    assert add.bounding_box()["y"] < 844
    # The spec table is a stack of cards: no header row, each value with its label.
    expect(phone.locator(".spec-table thead")).to_be_hidden()
    first = phone.locator(".spec-table tbody tr").first
    assert first.evaluate("tr => getComputedStyle(tr).display") == "block"
    expect(first.locator("td[data-label='Strength']")).to_be_visible()
    save_screenshot(phone, "character-phone", full_page=True)

    # The gallery: 2–3 columns, no keyboard hints on a touch screen, the touch hint instead.
    phone.goto(f"{live_server.url}/characters/{character.slug}/gallery/")
    columns = phone.evaluate(
        "getComputedStyle(document.getElementById('gallery')).gridTemplateColumns.split(' ').length"
    )
    assert 2 <= columns <= 3, columns
    expect(phone.locator(".keys-hint")).to_be_hidden()
    expect(phone.locator(".touch-hint")).to_be_visible()
    save_screenshot(phone, "gallery-phone", full_page=False)

    # Swipe in the lightbox steps to the next image.
    tiles = phone.locator("#gallery .tile")
    tiles.first.locator("img").click()
    heading = phone.locator("#lightbox .lb-heading")
    expect(heading).to_be_visible()
    before = heading.inner_text()
    phone.evaluate(
        """() => {
          const box = document.getElementById('lightbox');
          const touch = (x) => new Touch({identifier: 1, target: box, clientX: x, clientY: 300});
          box.dispatchEvent(new TouchEvent('touchstart', {touches: [touch(320)], bubbles: true}));
          const end = {changedTouches: [touch(80)], bubbles: true};
          box.dispatchEvent(new TouchEvent('touchend', end));
        }"""
    )
    expect(heading).not_to_have_text(before)
    expect(phone.locator("#lightbox button kbd").first).to_be_hidden()
    save_screenshot(phone, "lightbox-phone", full_page=False)

    # Runs: cards with labelled values.
    phone.goto(f"{live_server.url}/runs/")
    row = phone.locator("table.cards-on-phone tbody tr").first
    assert row.evaluate("tr => getComputedStyle(tr).display") == "block"
    expect(row.locator("td[data-label='Status']")).to_be_visible()
    expect(phone.locator("table.cards-on-phone thead")).to_be_hidden()
    save_screenshot(phone, "runs-phone", full_page=False)

    # At 1440 px the same pages keep their tables, columns and keyboard hints.
    wide.goto(f"{live_server.url}/characters/{character.slug}/gallery/")
    columns = wide.evaluate(
        "getComputedStyle(document.getElementById('gallery')).gridTemplateColumns.split(' ').length"
    )
    assert columns >= 5, columns
    expect(wide.locator(".keys-hint")).to_be_visible()
    expect(wide.locator(".touch-hint")).to_be_hidden()
    wide.goto(f"{live_server.url}/runs/")
    expect(wide.locator("table.cards-on-phone thead")).to_be_visible()
    save_screenshot(wide, "runs-wide", full_page=False)
