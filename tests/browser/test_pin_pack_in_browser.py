"""A pin answers at once; its character pack is built by a worker and its link appears on the
pin page when ready, without a reload. Screenshots at 1440 and 390 px of both states."""

import pytest

from characters.models import Image
from tests.browser.walk import log_in, save_screenshot
from tests.factories import ImageFactory
from training import pins

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("view", ["wide", "phone"])
def test_the_pack_link_appears_on_the_pin_page_once_the_worker_has_built_it(
    view, request, live_server, user, character
):
    page = request.getfixturevalue(view)
    primary = ImageFactory(character=character, kind=Image.Kind.REFERENCE)
    side = ImageFactory(character=character, kind=Image.Kind.REFERENCE)
    # No worker runs here: the pin is made, its pack waits (as behind a busy queue).
    pin, _ = pins.pin_character(
        character=character,
        primary_image_id=primary.id,
        reference_image_ids=[side.id],
        pinned_by=user,
    )
    log_in(page, live_server)
    page.goto(f"{live_server.url}{pin.get_absolute_url()}")
    building = page.get_by_role("status")
    assert "building" in building.inner_text()
    assert page.get_by_role("link", name="Character pack (.zip)").count() == 0
    save_screenshot(page, f"pin-pack-building-{view}", full_page=True)

    pins.build_pack(pin.id)  # the worker's turn
    link = page.get_by_role("link", name="Character pack (.zip)")
    link.wait_for()  # the page asks again every 2 s and swaps the link in
    save_screenshot(page, f"pin-pack-ready-{view}", full_page=True)
    response = page.request.get(f"{live_server.url}{link.get_attribute('href')}")
    assert response.ok and response.body()[:2] == b"PK"
