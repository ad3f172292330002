"""Uploading real photos on the character page: per-file progress and outcomes, one bad file
spoiling nothing."""

import pytest
from playwright.sync_api import expect

from tests.browser.walk import ARTIFACTS, log_in
from tests.datasets.test_ingest import photo_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_photos_dropped_on_the_character_page_each_get_their_outcome(
    page, live_server, user, character, inline_tasks, tmp_path
):
    files = {
        "beach.jpg": photo_bytes(seed=1),
        "studio.jpg": photo_bytes(seed=2),
        "notes.jpg": b"these are my notes, not a photo" * 10,
        "empty.png": b"",
    }
    paths = []
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        paths.append(str(tmp_path / name))
    log_in(page, live_server)
    page.goto(f"{live_server.url}/characters/{character.slug}/")

    page.set_input_files("#upload-files", paths)

    items = page.locator(".upload-item")
    expect(items).to_have_count(4)
    for name in ("beach.jpg", "studio.jpg"):
        expect(items.filter(has_text=name)).to_contain_text("Accepted as image #")
    expect(items.filter(has_text="notes.jpg")).to_contain_text("not a picture we can read")
    expect(items.filter(has_text="empty.png")).to_contain_text("Rejected: The file is empty")
    page.locator("#upload").screenshot(path=str(ARTIFACTS / "uploads-per-file-outcomes.png"))

    page.set_input_files("#upload-files", paths[:1])  # the same photo again
    expect(items.first).to_contain_text("Duplicate of image #")
    expect(items.first.locator("img.upload-thumb")).to_be_visible()
    assert character.images.filter(kind="upload").count() == 2
