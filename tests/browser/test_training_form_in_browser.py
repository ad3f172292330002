"""The training form shows only the settings the chosen provider's trainer takes."""

import pytest
from playwright.sync_api import expect

from tests.browser.walk import log_in, save_screenshot
from tests.factories import DatasetFactory, ReadyExportFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1440, 390])
def test_choosing_fal_hides_the_settings_fal_sets_itself(
    browser, live_server, user, character, settings, width
):
    settings.FAL_KEY, settings.REPLICATE_API_TOKEN, settings.REPLICATE_OWNER = "k", "t", "me"
    ReadyExportFactory(dataset=DatasetFactory(character=character), image_count_=4)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in(page, live_server)
        page.goto(f"{live_server.url}/training/new/")
        expect(page.get_by_text("fal.ai needs at least 4 images.")).to_be_visible()

        page.select_option("#id_provider", "fal")
        expect(page.locator("#id_learning_rate")).to_be_hidden()
        expect(page.locator("#id_learning_rate")).to_be_disabled()
        expect(page.locator("#id_rank")).to_be_hidden()
        expect(page.locator("#id_steps")).to_be_visible()
        expect(page.locator("#estimate")).to_contain_text("itself: they are not sent")
        save_screenshot(page, f"training-form-fal-{width}", full_page=True)

        page.select_option("#id_provider", "replicate")
        expect(page.locator("#id_learning_rate")).to_be_visible()
        expect(page.locator("#id_rank")).to_be_enabled()
        expect(page.locator("#estimate")).to_contain_text("recommends at least 10 images")
        save_screenshot(page, f"training-form-replicate-{width}", full_page=True)
    finally:
        context.close()
