"""Keyboard review does not stop at the end of a gallery page."""

import re

import pytest
from playwright.sync_api import expect

from characters.models import Image
from tests.browser.walk import log_in
from tests.factories import CharacterFactory, ImageFactory, PoseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_approving_the_last_image_of_a_page_goes_on_to_the_next_page(page, live_server, user):
    character = CharacterFactory()
    pose = PoseFactory(character=character, key="front", label="Front")
    images = [
        ImageFactory(character=character, kind=Image.Kind.CANDIDATE, pose=pose) for _ in range(62)
    ]
    log_in(page, live_server)
    page.goto(f"{live_server.url}/characters/{character.slug}/gallery/?sort=oldest")
    expect(page.locator(".tile").first).to_be_focused()
    page.keyboard.press("End")
    last = images[59]
    expect(page.locator(f"#image-{last.id}")).to_be_focused()

    page.keyboard.press("a")
    expect(page).to_have_url(re.compile(r"sort=oldest&page=2$"))
    expect(page.locator(".tile")).to_have_count(2)
    expect(page.locator(f"#image-{images[60].id}")).to_be_focused()
    assert Image.objects.get(id=last.id).review == Image.Review.APPROVED

    page.keyboard.press("a")
    expect(page.locator(f"#image-{images[61].id}")).to_be_focused()
    expect(page.locator(f"#image-{images[60].id}")).to_have_class(re.compile("review-approved"))
    # On the last page, → from the last image stays there.
    page.keyboard.press("ArrowRight")
    expect(page.locator(f"#image-{images[61].id}")).to_be_focused()
    assert Image.objects.filter(review=Image.Review.APPROVED).count() == 2
