"""A refused click says why on the page: the htmx refusal event lands in the message list."""

import pytest
from playwright.sync_api import expect

from characters.models import Image
from tests.factories import ImageFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_picking_an_anchor_that_was_moved_meanwhile_shows_the_refusal(
    page, live_server, user, character, screenshot
):
    front = character.poses.get(key="front")
    image = ImageFactory(character=character, pose=front, kind=Image.Kind.CANDIDATE)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "artist")
    page.fill("#id_password", "correct horse battery")
    page.click("main button[type=submit]")
    page.goto(f"{live_server.url}/characters/{character.slug}/anchors/")

    # Someone else files the candidate under another pose before this click lands.
    Image.objects.filter(id=image.id).update(pose=character.poses.get(key="back"))
    page.locator("#pose-front button.pick").first.click()

    message = page.locator("main .messages li.error")
    expect(message).to_contain_text("was made for the Back pose, not Front")
    expect(page.locator("#pose-front button.pick")).to_have_count(1)  # the board stayed
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("refusal-on-the-anchor-board-phone")
