"""The last third of the pipeline as a user walks it, at 1440 and at 390 px, on the simulator:
dataset → export → train (watching samples and the loss) → reference set → compare → approve
→ pin in three clicks from the LoRA page. Back after each Start leads to what it started."""

import re
import time

import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from characters.models import Anchor, Image
from datasets import services as datasets
from generation import calls
from generation.models import GenerationRun
from lorastudio.celery import app
from tests.browser.walk import goto, log_in, reload, save_screenshot
from tests.datasets.conftest import jpeg_bytes
from tests.factories import ImageFactory
from training import services
from training.models import Pin, TrainingJob

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def simulator(settings):
    settings.LOCAL_PROVIDER_DELAY = 3  # long enough to be polled while it trains
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def dataset(character, user):
    """Two captioned anchors on the sheet and eight approved, captioned full-body uploads:
    nothing for the export to warn about."""
    for key in ("front", "back"):
        pose = character.poses.get(key=key)
        image = ImageFactory(
            character=character,
            kind=Image.Kind.CANDIDATE,
            pose=pose,
            shot_type="far",
            caption=f"standing, {key} view",
            file=ContentFile(jpeg_bytes((600, 800), (90, 140, 200)), name="anchor.jpg"),
        )
        Anchor.objects.create(character=character, pose=pose, image=image)
    for n in range(8):
        ImageFactory(
            character=character,
            kind=Image.Kind.UPLOAD,
            shot_type="far",
            review=Image.Review.APPROVED,
            caption=f"standing pose {n}",
            file=ContentFile(jpeg_bytes((600, 800), (200, 100 + n * 10, 60)), name="p.jpg"),
        )
    return datasets.create_dataset(character=character, name="Full body", created_by=user)


def beat(until, *, page, timeout=40.0):
    """Play beat's periodic passes (calls, training jobs) until `until()` is true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls.sweep()
        services.sync_open_jobs()
        if until():
            return
        page.wait_for_timeout(200)
    raise AssertionError("the simulator did not finish in time")


def fits(page, what: str) -> None:
    overflow = page.evaluate(
        "Math.max(...[...document.querySelectorAll('main *')]"
        ".map(e => e.getBoundingClientRect().right)) - window.innerWidth"
    )
    assert overflow <= 1, f"{what} is {overflow}px too wide at {page.viewport_size['width']} px"


@pytest.mark.parametrize("width", [1440, 390])
def test_dataset_to_pin_as_a_user_sees_it(
    browser, live_server, user, character, dataset, simulator, width
):
    phone = width < 600
    context = browser.new_context(
        viewport={"width": width, "height": 844 if phone else 900},
        has_touch=phone,
        is_mobile=phone,
    )
    page = context.new_page()
    page.set_default_timeout(10_000)

    def shot(name):
        save_screenshot(page, f"last-third-{width}-{name}", full_page=True)

    try:
        log_in(page, live_server)

        # 1. Export the dataset, then train from the export: the price before anything starts.
        goto(page, f"{live_server.url}/datasets/{dataset.id}/")
        expect(page.locator(".ds-export-warnings")).to_have_count(0)
        page.get_by_role("button", name="Export training set").click()
        expect(page.locator(".messages")).to_contain_text("Export of 10 images started")
        goto(page, f"{live_server.url}/datasets/{dataset.id}/")
        page.get_by_role("link", name="Train a LoRA").click()
        expect(page).to_have_url(re.compile(r"once="))
        expect(page.locator("#estimate")).to_contain_text("About $0.00")
        fits(page, "the training form")
        shot("1-training-new")
        page.get_by_role("button", name="Start training").click()
        expect(page).to_have_url(re.compile(r"/training/jobs/\d+/$"))
        expect(page.locator(".messages")).to_contain_text("started on Local simulator")
        job = TrainingJob.objects.get()

        # Back to the training page: it leads to the training it started, never a second one.
        page.go_back()
        expect(page).to_have_url(re.compile(rf"/training/jobs/{job.id}/$"))
        expect(page.locator(".messages")).to_contain_text(
            f"Training #{job.id} was started from this page"
        )
        assert TrainingJob.objects.count() == 1

        # 2. While it trains: samples of the reference suite, the loss curve, then done.
        beat(lambda: TrainingJob.objects.get(id=job.id).status == "succeeded", page=page)
        reload(page)
        expect(page.get_by_test_id("job-status")).to_have_text("Succeeded")
        expect(
            page.get_by_test_id("samples").locator("img[alt='Frontal at step 1000']")
        ).to_be_visible()
        expect(page.get_by_test_id("loss-curve")).to_be_visible()
        fits(page, "the job page")
        shot("2-training-done")

        # 3. The LoRA page: no Approve before a reference set; the set is priced, started once.
        page.get_by_role("link", name="v1").first.click()
        expect(page.get_by_test_id("lora-status")).to_have_text("Ready")
        expect(page.get_by_role("button", name="Approve v1")).to_have_count(0)
        expect(page.get_by_test_id("approve-after-references")).to_be_visible()
        page.get_by_role("button", name="Price the reference set").click()
        expect(page.get_by_role("heading", name="Spend about $0.00?")).to_be_visible()
        page.get_by_role("button", name="Start the run").click()
        expect(page.locator(".messages")).to_contain_text("Reference set run #")
        page.go_back()  # to the confirm page: it says what it started instead
        expect(page.locator(".messages")).to_contain_text("was started from this page")
        expect(page.get_by_text("Nothing has been sent yet")).to_have_count(0)
        assert GenerationRun.objects.filter(kind="reference_set").count() == 1
        beat(lambda: not GenerationRun.objects.filter(finished_at__isnull=True).exists(), page=page)

        # 4. Compare: the sheet beside, click to zoom, Approve under the version.
        goto(page, f"{live_server.url}/training/characters/{character.slug}/compare/")
        expect(page.locator(".compare-sheet img")).to_have_count(2)
        expect(page.locator(".compare-table tbody img")).to_have_count(5)
        page.locator(".compare-table tbody a[data-zoom]").first.click()
        expect(page.locator("dialog.zoom")).to_be_visible()
        expect(page.locator("[data-zoom-caption]")).to_contain_text("Frontal")
        shot("3-compare-zoom")
        page.keyboard.press("Escape")
        expect(page.locator("dialog.zoom")).to_be_hidden()
        expect(page.locator(".compare-approve")).to_contain_text("Approve v1")
        fits(page, "the compare page")
        shot("4-compare")

        # 5. A pin from the LoRA page in three clicks: Approve, Pin with v1, Save.
        lora = job.lora
        goto(page, f"{live_server.url}/training/loras/{lora.id}/")
        page.get_by_role("button", name="Approve v1").click()  # 1
        expect(page.get_by_test_id("lora-status")).to_have_text("Approved")
        page.get_by_role("link", name="Pin with v1").click()  # 2
        expect(page.get_by_role("heading", name="Pin Fit with v1")).to_be_visible()
        expect(page.locator("#id_lora")).to_have_value(str(lora.id))
        expect(page.get_by_test_id("pin-summary")).to_contain_text("Primary and 4 references")
        save = page.get_by_role("button", name="Pin as a new version")
        assert save.bounding_box()["y"] < page.viewport_size["height"], "Save is below the fold"
        expect(page.locator("details.pin-source")).to_have_count(2)  # anchors, gallery: folded
        fits(page, "the pin form")
        shot("5-pin-form")
        save.click()  # 3
        expect(page.locator(".messages")).to_contain_text("Pinned Fit as version 1")
        shot("6-pinned")

        pin = Pin.objects.get()
        frontal = Image.objects.get(id=pin.primary_image_id)
        assert frontal.call.context["image"]["shot"] == "frontal" and pin.lora_id == lora.id
        assert [r.role for r in pin.references.order_by("order")] == [
            "side",
            "three_quarter",
            "action",
            "close_up",
        ]
        document = page.request.get(f"{live_server.url}/api/characters/{character.slug}/pin")
        assert document.json()["lora"]["scale"] == 1.0

        # The character page's steps say it all.
        goto(page, f"{live_server.url}/characters/{character.slug}/")
        for step in ("train", "reference_set", "pin"):
            expect(page.locator(f"[data-step='{step}']")).to_have_class("step done")
        expect(page.locator("[data-step='pin']")).to_contain_text("Pinned: version 1")
        shot("7-character-steps")
    finally:
        context.close()
