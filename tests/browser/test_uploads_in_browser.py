"""Uploading real photos on the character page: per-file progress and outcomes, one bad file
spoiling nothing."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.walk import ARTIFACTS, log_in, reload
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


def _twelve_photos(folder):
    """Ten real photos of one face at close, mid and far framings (and two without a face),
    and two bad files."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    from tests.characters.test_shot_types import astronaut, framed

    face = astronaut()
    pictures = {
        "close-1.jpg": framed(face, crop=(150, 20, 330, 240)),
        "close-2.jpg": framed(face, crop=(140, 10, 340, 250)),
        "close-3.jpg": framed(ImageOps.mirror(face), crop=(180, 20, 360, 240)),
        "mid-1.jpg": framed(face),
        "mid-2.jpg": framed(ImageOps.mirror(face)),
        "mid-3.jpg": framed(face, crop=(0, 0, 512, 480)),
        "far-1.jpg": framed(face, widen=2.0),
        "far-2.jpg": framed(ImageOps.mirror(face), widen=2.2),
    }
    paths = []
    for name, array in pictures.items():
        picture = PILImage.fromarray(array).resize((900, 900))
        picture.save(folder / name, "JPEG", quality=92)
        paths.append(str(folder / name))
    for n, name in enumerate(("street.jpg", "park.jpg")):
        (folder / name).write_bytes(photo_bytes(seed=10 + n))
        paths.append(str(folder / name))
    (folder / "receipt.jpg").write_bytes(b"%PDF-1.4 a scanned receipt" * 40)
    (folder / "half.jpg").write_bytes(photo_bytes(seed=20)[:3000])
    paths += [str(folder / "receipt.jpg"), str(folder / "half.jpg")]
    return paths


def test_twelve_photos_to_a_downloaded_training_set(
    page, live_server, user, character, inline_tasks, tmp_path
):

    from tests.browser.walk import download_export, finish_runs

    log_in(page, live_server)
    page.goto(f"{live_server.url}/characters/{character.slug}/")
    page.set_input_files("#upload-files", _twelve_photos(tmp_path))

    items = page.locator(".upload-item")
    expect(items).to_have_count(12)
    expect(items.filter(has_text="Accepted as image #")).to_have_count(
        10, timeout=30_000
    )  # a loaded machine ingests slowly
    expect(items.filter(has_text="receipt.jpg")).to_contain_text("not a picture we can read")
    expect(items.filter(has_text="half.jpg")).to_contain_text("damaged or cut short")
    expect(items.filter(has_text="close-1.jpg")).to_contain_text("close-up, detected")
    expect(items.filter(has_text="far-1.jpg")).to_contain_text("far shot, detected")
    summary = page.locator(".upload-summary")
    expect(summary).to_have_text(
        re.compile(r"^10 accepted, (\d+ with warnings, )?2 rejected\. Approve them in the gallery")
    )
    warned = page.locator(".upload-item.has-warnings")
    if warned.count():  # in amber, with the note as a badge, and the summary in amber too
        expect(warned.first.locator(".badge.warn").first).to_be_visible()
        expect(summary).to_have_class(re.compile("has-warnings"))
    page.screenshot(path=str(ARTIFACTS / "uploads-summary.png"))

    # Uploads wait for review like generated images: approve all ten, then build the dataset.
    page.get_by_role("link", name="Review uploads in the gallery").click()
    tiles = page.locator("#gallery .tile")
    expect(tiles).to_have_count(10)
    tiles.first.locator(".tile-select").check()
    tiles.last.locator(".tile-select").click(modifiers=["Shift"])
    expect(page.locator("#bulk-bar .bulk-count")).to_have_text("10 selected")
    tiles.first.focus()
    page.keyboard.press("a")  # a review key judges the whole selection
    expect(page.locator("#gallery .tile")).to_have_count(0)  # none left to review
    assert character.images.filter(kind="upload", review="approved").count() == 10
    page.goto(f"{live_server.url}/characters/{character.slug}/")
    page.get_by_role("main").get_by_role("link", name="Datasets").click()
    page.fill("#id_name", "photos")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.locator(".messages")).to_contain_text("made with 10 images")
    page.get_by_role("button", name="Caption uploads…").click()
    with page.expect_navigation():  # the page it leads to, loaded, before the reload
        page.get_by_role("button", name="Start the run").click()
    finish_runs()
    reload(page)
    expect(page.locator(".ds-caption-warnings")).to_have_count(0)

    # Fix one shot type by hand; the balance report follows.
    street = character.images.get(original_filename="street.jpg")  # no face: unknown
    assert street.shot_type == "unknown"
    tile = page.locator(f"#item-{street.dataset_items.get().id}")
    tile.locator("select[name=shot_type]").select_option("mid")
    expect(tile.locator(".ds-source")).to_contain_text("set by hand")
    report = page.locator("#report")
    expect(report.locator("tr[data-shot=close] td").nth(1)).to_have_text("3")
    expect(report.locator("tr[data-shot=mid] td").nth(1)).to_have_text("4")
    expect(report.locator("tr[data-shot=far] td").nth(1)).to_have_text("2")
    expect(report.locator("tr[data-shot=unknown] td").nth(1)).to_have_text("1")

    # Export and download the frozen training set: the photo without a shot type is named
    # first, and the export goes ahead once that is ticked.
    warnings = page.locator(".ds-export-warnings")
    expect(warnings).to_contain_text("1 image has no shot type")
    page.get_by_role("button", name="Export training set").click()
    assert not page.locator(".messages").filter(has_text="Export of").count()  # the tick is due
    warnings.get_by_label(re.compile("Export anyway")).check()
    page.get_by_role("button", name="Export training set").click()
    expect(page.locator(".messages")).to_contain_text("Export of 10 images started")
    archive, manifest = download_export(page)
    assert manifest["image_count"] == 10
    captions = [n for n in archive.namelist() if n.endswith(".txt")]
    assert len(captions) == 10
    assert all(archive.read(n).decode().count(character.trigger_word) == 1 for n in captions)
