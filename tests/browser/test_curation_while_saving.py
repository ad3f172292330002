"""Curating faster than the server answers: a key pressed while the image's last change is
still being saved is kept, and the counts end on the last review."""

import contextlib
import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from characters.models import Image
from tests.browser.walk import log_in
from tests.factories import CharacterFactory, ImageFactory, PoseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def hold_first_counts(page) -> list:
    """The first refresh of the counts is answered by the server but kept from the page:
    [(route, answer)] once asked for; later refreshes go through."""
    held = []

    def hold_first(route):
        if held:
            route.continue_()
        else:
            held.append((route, route.fetch()))

    page.route("**/gallery/counts/", hold_first)
    return held


def open_gallery(page, live_server, character) -> None:
    log_in(page, live_server)
    page.goto(f"{live_server.url}/characters/{character.slug}/gallery/?sort=oldest")


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
    open_gallery(page, live_server, character)
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


def test_the_counts_follow_the_last_review_when_reviews_come_faster_than_they_refresh(
    page, live_server, user
):
    character = CharacterFactory()
    pose = PoseFactory(character=character, key="front", label="Front")
    images = [
        ImageFactory(character=character, kind=Image.Kind.CANDIDATE, pose=pose) for _ in range(3)
    ]
    held = hold_first_counts(page)  # answered now, delivered after the third review
    open_gallery(page, live_server, character)
    expect(page.locator(f"#image-{images[0].id}")).to_be_focused()

    for n in range(3):
        page.keyboard.press("a")
        expect(page.locator(".tile.review-approved")).to_have_count(n + 1)
    assert held, "the first refresh of the counts was never asked for"
    route, answer = held[0]
    with contextlib.suppress(PlaywrightError):  # the page gave it up for a newer one: as good
        route.fulfill(response=answer)

    expect(page.locator("#curation-counts .approved-count")).to_have_text("3")
    expect(page.locator("#curation-counts")).to_contain_text("0 to review")


def test_a_review_saved_as_the_counts_are_being_swapped_in_still_refreshes_them(
    page, live_server, user
):
    from characters import services

    character = CharacterFactory()
    pose = PoseFactory(character=character, key="front", label="Front")
    first, second = (
        ImageFactory(character=character, kind=Image.Kind.CANDIDATE, pose=pose) for _ in range(2)
    )
    held = hold_first_counts(page)  # delivered once the second review is saved
    open_gallery(page, live_server, character)
    expect(page.locator(f"#image-{first.id}")).to_be_focused()
    page.keyboard.press("a")
    expect(page.locator(".tile.review-approved")).to_have_count(1)
    for _ in range(100):  # the refresh it asked for reaches the route and is held
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the counts were never asked for"
    # The second review is saved (another tab, say), and its change is announced the moment
    # the first counts are swapped in.
    services.review_image(image=second, reviewed_by=user, review=Image.Review.APPROVED)
    page.evaluate(
        """() => document.body.addEventListener('htmx:afterSwap', event => {
            if (event.target.id === 'curation-counts') {
                document.body.dispatchEvent(new CustomEvent('curation-changed'));
            }
        }, {once: true})"""
    )
    route, answer = held[0]
    route.fulfill(response=answer)

    expect(page.locator("#curation-counts .approved-count")).to_have_text("2")
