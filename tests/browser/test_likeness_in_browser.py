"""Likeness in the browser: uploads of one person, another person and a cup; the other
person and the cup are flagged where they show and leave the dataset in one click; Compare
versions ranks the versions by likeness."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.walk import log_in, photos_of_people, save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_other_person_and_the_cup_are_flagged_and_excluded_in_one_click(
    page, live_server, user, character, inline_tasks, tmp_path
):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/characters/{character.slug}/")
    page.set_input_files(
        "#upload-files",
        photos_of_people(tmp_path, astronaut="astronaut", others=("cameraman", "coffee")),
    )
    items = page.locator(".upload-item")
    # Six photos ingested and measured at once on a shared 2-core machine: allow a minute.
    expect(items.filter(has_text="Accepted as image #")).to_have_count(6, timeout=60_000)
    cameraman = character.images.get(original_filename="cameraman.jpg")
    cup = character.images.get(original_filename="coffee.jpg")

    # The gallery: badges on the tiles, the number in the lightbox, a filter by flag.
    page.goto(f"{live_server.url}/characters/{character.slug}/gallery/")
    expect(page.locator(f"#image-{cameraman.id} .badge.likeness")).to_have_text("Other person?")
    expect(page.locator(f"#image-{cup.id} .badge.likeness")).to_have_text("No face")
    expect(page.locator(".badge.likeness")).to_have_count(2)
    page.locator(f"#image-{cameraman.id} img").click()
    expect(page.locator("#lightbox .lb-likeness")).to_contain_text("other person?")
    expect(page.locator("#lightbox .lb-likeness")).to_contain_text("from consensus")
    page.keyboard.press("Escape")
    page.select_option("select[name=flag]", "other_person")
    expect(page.locator(".tile")).to_have_count(1)
    expect(page.locator(f"#image-{cameraman.id}")).to_be_visible()
    page.select_option("select[name=flag]", "")
    page.select_option("select[name=sort]", "likeness")
    # The grid of each choice comes back in turn: wait for the last one (the cameraman may be
    # first in both, and a grid swapped in after a tile is ticked drops the ticks).
    expect(page).to_have_url(re.compile(r"sort=likeness"))
    expect(page.locator(".htmx-request")).to_have_count(0)
    expect(page.locator(".tile").first).to_have_id(f"image-{cameraman.id}")
    page.set_viewport_size({"width": 1440, "height": 900})
    save_screenshot(page, "likeness-gallery-1440", full_page=False)
    page.set_viewport_size({"width": 390, "height": 844})
    save_screenshot(page, "likeness-gallery-390", full_page=False)
    page.set_viewport_size({"width": 1280, "height": 900})

    # Uploads enter a dataset only once approved: a hurried artist approves all six at once,
    # the other person and the cup too, so the dataset is where they are caught.
    tiles = page.locator("#gallery .tile")
    expect(tiles).to_have_count(6)
    tiles.first.locator(".tile-select").check()
    tiles.last.locator(".tile-select").click(modifiers=["Shift"])
    expect(page.locator("#bulk-bar .bulk-count")).to_have_text("6 selected")
    page.locator("#bulk-bar").get_by_role("button", name="Approve").click()
    expect(page.locator("#gallery .tile.review-approved")).to_have_count(6)

    # The dataset: badges on its tiles, the outliers listed, both excluded in one click.
    page.goto(f"{live_server.url}/datasets/for/{character.slug}/")
    page.fill("#id_name", "photos")
    page.get_by_role("button", name="Create dataset").click()
    identity = page.locator("#identity")
    expect(identity.locator(".ds-outliers li")).to_have_count(2)
    expect(identity.locator("li[data-flag=other_person]")).to_contain_text(f"#{cameraman.id}")
    expect(identity.locator("li[data-flag=no_face]")).to_contain_text(f"#{cup.id}")
    item = cameraman.dataset_items.get()
    expect(page.locator(f"#item-{item.id} .badge.likeness")).to_have_text("Other person?")
    save_screenshot(page, "likeness-dataset-outliers-1280", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    identity.scroll_into_view_if_needed()
    save_screenshot(page, "likeness-dataset-outliers-390", full_page=False)
    page.set_viewport_size({"width": 1280, "height": 900})
    identity.get_by_role("button", name="Exclude these 2").click()
    expect(page.locator(".messages")).to_contain_text("Excluded 2 images")
    expect(page.locator(f"#item-{item.id}")).to_have_class("ds-item excluded")
    expect(page.locator(f"#item-{cup.dataset_items.get().id}")).to_have_class("ds-item excluded")
    expect(page.locator("#identity .ds-good")).to_contain_text("looks like the character")
    assert set(item.dataset.items.filter(included=False).values_list("image_id", flat=True)) == {
        cameraman.id,
        cup.id,
    }


def test_compare_versions_shows_a_ranked_likeness_per_version(page, live_server, user, tmp_path):
    from characters.likeness import scoring
    from tests.factories import AnchorFactory, CharacterFactory, PoseFactory
    from tests.training.test_likeness_of_versions import embedded, version

    character = CharacterFactory()
    anchor = AnchorFactory(character=character, pose=PoseFactory(character=character))
    embedded(anchor.image, 0.0)
    version(character, 1, [0.1, 0.3])
    version(character, 2, [0.5, 0.7])
    version(character, 3, [0.05, 0.05], provider="replicate")
    scoring.score_character(character_id=character.id)

    log_in(page, live_server)
    page.goto(f"{live_server.url}/training/characters/{character.slug}/compare/")
    rows = page.locator("#likeness-ranking tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_attribute("data-version", "3")
    expect(rows.nth(1)).to_have_attribute("data-version", "1")
    expect(rows.nth(2)).to_have_attribute("data-version", "2")
    expect(rows.nth(0).locator(".rank")).to_have_text("1")
    expect(page.locator(".compare-table .likeness-numbers")).to_have_count(6)
    page.set_viewport_size({"width": 1440, "height": 900})
    save_screenshot(page, "likeness-compare-1440", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    save_screenshot(page, "likeness-compare-390", full_page=True)


def test_the_pin_forms_likeness_warning_changes_with_the_choice_before_saving(
    page, live_server, user, character
):
    from characters.models import ImageEmbedding
    from tests.factories import ImageFactory
    from training.models import Pin

    def measured(offset: float):
        image = ImageFactory(character=character, review="approved")
        vector = [1.0, offset] + [0.0] * 126  # face vectors `offset` apart from the primary's
        ImageEmbedding.objects.create(
            image=image, measure="face", model="dlib", flag="ok", vector=vector, face_px=200
        )
        return image

    primary, near, far = measured(0.0), measured(0.2), measured(0.8)
    log_in(page, live_server)
    page.goto(f"{live_server.url}/training/characters/{character.slug}/pin/")
    warning = page.locator("#pin-drift")
    page.check(f"input[name=primary][value='{primary.id}']")
    page.check(f"input[name=references][value='{near.id}']")
    page.check(f"input[name=references][value='{far.id}']")
    expect(warning).to_contain_text(f"Reference #{far.id}")
    expect(warning).to_contain_text("looks like another person than the primary image")
    expect(warning).not_to_contain_text(f"Reference #{near.id}")
    page.uncheck(f"input[name=references][value='{far.id}']")
    expect(warning.locator(".pin-drift")).to_have_count(0)
    assert not Pin.objects.exists()  # nothing was submitted
