import re

import pytest
from playwright.sync_api import expect

from characters.models import Character

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server):
    page.goto(f"{live_server.url}/characters/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/characters/")
    page.fill("#id_username", "artist")
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Characters", exact=True)).to_be_visible()


def test_create_a_character_from_the_fitness_preset_and_see_where_it_stands(
    page, live_server, user, loaded_presets, screenshot
):
    log_in(page, live_server)
    expect(page.get_by_text("No characters yet")).to_be_visible()
    screenshot("01-character-list-empty")

    page.get_by_role("link", name="New character").click()
    page.fill("#id_name", "Fit Mannequin")
    page.fill("#id_trigger_word", "fitmannequin")
    # A click on the preset's card chooses it and fills in its example prompts
    # (static/js/character-form.js).
    page.locator('.preset-info[data-preset="fitness"]').click()
    expect(page.locator("#id_preset")).to_have_value("fitness")
    expect(page.locator('.preset-info[data-preset="fitness"]')).to_have_class(re.compile("chosen"))
    expect(page.locator("#id_base_prompt")).to_have_value(loaded_presets["fitness"].base_prompt)
    screenshot("02-new-character-form")
    page.get_by_role("button", name="Create character").click()

    expect(page.get_by_role("heading", name="Fit Mannequin")).to_be_visible()
    expect(page.locator(".step.current")).to_contain_text("Character sheet")
    expect(page.locator(".sheet figure")).to_have_count(8)
    expect(page.get_by_text("0 of 8 anchors picked")).to_be_visible()
    expect(page.get_by_role("link", name="Pull-up, top")).to_be_visible()
    screenshot("03-character-page")

    page.get_by_role("link", name="Characters").first.click()
    expect(page.locator(".character-card")).to_have_count(1)
    screenshot("04-character-list")


def test_a_duplicate_trigger_word_is_explained_in_the_form(page, live_server, user, screenshot):
    Character.objects.create(
        name="First", slug="first", trigger_word="jdoe", base_prompt="a figure"
    )
    log_in(page, live_server)
    page.goto(f"{live_server.url}/characters/new/")
    page.fill("#id_name", "Second")
    page.fill("#id_trigger_word", "jdoe")
    page.fill("#id_base_prompt", "another figure")
    page.get_by_role("button", name="Create character").click()
    expect(page.get_by_text("Another character already uses this trigger word.")).to_be_visible()
    screenshot("05-duplicate-trigger-word")
    assert Character.objects.count() == 1
