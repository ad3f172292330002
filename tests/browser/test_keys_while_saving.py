"""A review key pressed while the image's previous change is still being saved is kept."""

import re

import pytest
from playwright.sync_api import expect

from characters.models import Image
from tests.browser.walk import log_in
from tests.factories import CharacterFactory, ImageFactory, PoseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_star_then_approve_at_once_saves_both_and_moves_on(page, live_server, user):
    character = CharacterFactory()
    pose = PoseFactory(character=character, key="front", label="Front")
    first, second = (
        ImageFactory(character=character, kind=Image.Kind.CANDIDATE, pose=pose) for _ in range(2)
    )
    held = []  # the star's request, kept on the wire until the approve has been pressed
    page.route(
        f"**/images/{first.id}/review/",
        lambda route: held.append(route) if not held else route.continue_(),
    )
    log_in(page, live_server)
    page.goto(f"{live_server.url}/characters/{character.slug}/gallery/?sort=oldest")
    expect(page.locator(f"#image-{first.id}")).to_be_focused()

    page.keyboard.press("s")
    page.wait_for_function("() => document.querySelector('.tile.pending') !== null")
    page.keyboard.press("a")  # while the star is still being saved
    expect(page.locator(f"#image-{second.id}")).to_be_focused()  # moved on at once
    held[0].continue_()

    expect(page.locator(f"#image-{first.id}")).to_have_class(re.compile("review-approved"))
    first.refresh_from_db()
    assert first.starred and first.review == Image.Review.APPROVED
    assert Image.objects.get(id=second.id).review == Image.Review.UNREVIEWED
