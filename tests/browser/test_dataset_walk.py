"""Seeds 002 and 003 in a browser: a dataset is built, captioned, fixed, balanced, exported
and downloaded."""

import re
import time

import pytest
from playwright.sync_api import expect

from characters.models import Image
from datasets.models import Dataset
from generation import calls
from generation.models import GenerationRun
from lorastudio.celery import app
from tests.browser.walk import download_export, reload
from tests.datasets.conftest import stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def inline_tasks(settings):
    settings.LOCAL_PROVIDER_DELAY = 0
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def stocked(character):
    return stock(character)


def finish_runs(timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls.sweep()
        if not GenerationRun.objects.filter(finished_at__isnull=True).exists():
            return
        time.sleep(0.1)
    raise AssertionError("runs did not finish")


def login(page, live_server):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "artist")
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")


def test_a_dataset_is_captioned_fixed_balanced_exported_and_downloaded(
    page,
    live_server,
    user,
    stocked,
    screenshot,
    inline_tasks,
):
    login(page, live_server)
    page.goto(f"{live_server.url}/characters/{stocked.slug}/")
    page.get_by_role("main").get_by_role("link", name="Datasets").click()
    expect(page.get_by_text("Starts with 20 images")).to_be_visible()
    page.fill("#id_name", "first set")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.locator(".messages")).to_contain_text("made with 20 images")
    dataset = Dataset.objects.get(name="first set")

    # Caption the uploads: priced first, then one run through the simulator.
    expect(page.locator(".ds-caption-warnings")).to_contain_text("has no caption yet")
    page.get_by_role("button", name="Caption uploads…").click()
    expect(page.get_by_role("heading", name="Spend about $0.00?")).to_be_visible()
    screenshot("dataset-caption-confirm")
    page.get_by_role("button", name="Start the run").click()
    expect(page.locator(".messages")).to_contain_text("Captioning run")
    finish_runs()
    reload(page)
    expect(page.locator(".ds-caption-warnings")).to_have_count(0)
    upload = dataset.items.filter(image__kind=Image.Kind.UPLOAD).order_by("order").first()
    tile = page.locator(f"#item-{upload.id}")
    expect(tile.locator(".ds-caption")).to_contain_text("fitmannequin, a ")

    # Edit a caption inline.
    tile.get_by_role("button", name="Edit caption").click()
    tile.locator("textarea").fill("smiling by a window, soft light")
    tile.get_by_role("button", name="Save").click()
    expect(tile.locator(".ds-caption")).to_have_text(
        "fitmannequin, smiling by a window, soft light"
    )

    # Fix a shot type by hand: the tile says where the value came from.
    expect(tile.locator(".ds-source")).to_contain_text("detected")
    tile.locator("select[name=shot_type]").select_option("far")
    expect(page.locator(f"#item-{upload.id} .ds-source")).to_contain_text("set by hand")
    assert Image.objects.get(id=upload.image_id).shot_source == "hand"

    # The balance report follows (htmx refresh) and says what to do.
    report = page.locator("#report")
    expect(report.locator("tr[data-shot=far] td").nth(1)).to_have_text("15")
    expect(report.locator("[data-code=few_close]")).to_contain_text("close-up shots.")
    expect(report.get_by_role("button", name=re.compile(r"^Make \d+ close-ups…$"))).to_be_visible()
    expect(page.locator("#ds-counts")).to_contain_text("2 close-up, 3 mid, 15 far")
    screenshot("dataset-page")

    # Find and replace: the preview counts, then the change is applied everywhere.
    page.fill("#find", "arms relaxed")
    page.fill("#replace", "arms loose")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#replace-result")).to_contain_text("4 captions would change")
    page.get_by_role("button", name="Replace in 4 captions").click()
    expect(page.locator(".ds-item .ds-caption", has_text="arms loose")).to_have_count(4)

    # Leave one image out: the report counts it no more.
    side = dataset.items.get(image__pose__key="side", image__kind="candidate")
    page.locator(f"#item-{side.id} input[name=included]").uncheck()
    expect(page.locator(f"#item-{side.id}")).to_have_class(re.compile("excluded"))
    expect(page.locator("#report h2")).to_contain_text("19 images included")

    # Export, and download the zip through its signed link.
    page.get_by_role("button", name="Export training set").click()
    expect(page.locator(".messages")).to_contain_text("Export of 19 images started")
    _, manifest = download_export(page)
    assert manifest["image_count"] == 19

    page.set_viewport_size({"width": 390, "height": 844})
    reload(page)
    screenshot("dataset-page-phone")
    wide = page.evaluate(
        """[...document.querySelectorAll('main *')]
        .filter(e => e.getBoundingClientRect().right > 392).slice(0, 8)
        .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""
    )
    assert wide == [], wide
