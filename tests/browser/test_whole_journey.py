"""One user's whole journey, as the project brief asks every feature to be tested: real photos
of more than one person, the whole path from upload to pin, at 1440 and 390 px, with the worker
stopped once, Back pressed once and the same action sent twice.

Every task runs in a real Celery worker process (tests/generation/conftest.py's `worker`,
consuming every queue); the test plays beat by sending beat's own tasks to it. The sheet's
candidates are made on fal (its protocol fake, which counts what it is asked and bills), the
rest on the local simulator.
"""

import re
import time

import httpx
import pytest
from playwright.sync_api import expect

from characters.models import Character, Image
from datasets.models import Dataset, DatasetExport
from generation.models import GenerationRun, ProviderCall
from lorastudio.celery import app
from lorastudio.health import worker_last_seen
from lorastudio.queues import GROUPS
from lorastudio.tokens import issue_api_token
from tests.browser.walk import download_export, log_in, photos_of_people, reload, save_screenshot
from tests.generation.conftest import clean_cache, fal, queue, wait_for, worker  # noqa: F401
from training.models import LoraModel, Pin, TrainingJob

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker_stopped,  # no heartbeat played by the test: the real worker beats
]

ULTRA = "fal-ai/flux-pro/v1.1-ultra"  # fal's text-to-image: the sheet's candidates
WIDE, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}
BEAT_TASKS = (  # what beat sends on its short schedule (CELERY_BEAT_SCHEDULE)
    "lorastudio.tasks.beat_heartbeat",
    "generation.tasks.tick",
    "training.tasks.sync_training_jobs",
)
Status = ProviderCall.Status


def play_beat(until, *, what: str, timeout: float = 60.0) -> None:
    """Send beat's periodic tasks to the worker until `until()` holds."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            states = list(ProviderCall.objects.values_list("status", "error"))
            raise AssertionError(f"timed out waiting for {what}: calls {states}")
        for name in BEAT_TASKS:
            app.send_task(name, expires=5)
        time.sleep(0.3)  # beat's tick, shortened


def all_runs_finished() -> bool:
    return not GenerationRun.objects.filter(finished_at__isnull=True).exists()


def submit_twice(page, form_selector: str) -> list[int]:
    """POST the form twice at once, as a double click on a slow page or a retried request
    does: the two answers' statuses (redirects followed)."""
    return page.evaluate(
        """async selector => {
            const form = document.querySelector(selector);
            const send = () => fetch(form.action, {method: 'POST', body: new FormData(form),
                                                   credentials: 'same-origin'});
            const answers = await Promise.all([send(), send()]);
            return answers.map(answer => answer.status);
        }""",
        form_selector,
    )


def test_one_user_from_real_photos_to_a_pinned_character(
    page,
    live_server,
    user,
    loaded_presets,
    worker,  # noqa: F811 - the fixture imported above
    fal,  # noqa: F811
    settings,
    tmp_path,
):
    start, kill = worker
    media = str(settings.STORAGES["default"]["OPTIONS"]["location"])
    worker_env = {
        "MEDIA_ROOT": media,
        "LOCAL_PROVIDER_DELAY": "1",
        "PROVIDER_CONCURRENCY": "fal=4",
        "CELERY_VISIBILITY_TIMEOUT": "3",
        # Leases as in production's order of size: a slow submit on a loaded machine is never
        # taken for a lost one (nothing here dies while a submit is on the wire).
        "CALL_SUBMIT_LEASE_SECONDS": "60",
        "CALL_CLAIM_LEASE_SECONDS": "30",
    }
    settings.LOCAL_PROVIDER_DELAY = 1
    settings.PROVIDER_CONCURRENCY = {"fal": "4"}  # four of the sheet's eight calls at a time
    # fal takes each job for six seconds, whoever polls it; its pictures are small.
    fal.script(ULTRA, duration=6.0, image_size=(384, 512))
    first_worker = start(concurrency=4, env=worker_env, groups=GROUPS)
    play_beat(lambda: worker_last_seen() is not None, what="the worker's first heartbeat")
    _, key = issue_api_token(user=user, name="downstream")
    api = httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {key}"})

    def likeness(image) -> dict:
        """An image's likeness as the JSON API gives it, with a token and no session."""
        return api.get(f"/api/images/{image.id}").json()["likeness"]

    def both(name: str, *, then=WIDE) -> None:
        """The page at 1440 and at 390 px, each screenshotted; left at `then`."""
        for size in (WIDE, PHONE):
            page.set_viewport_size(size)
            save_screenshot(page, f"journey-{name}-{size['width']}", full_page=True)
        page.set_viewport_size(then)

    # 1. Log in and make the character, at 1440 px.
    page.set_viewport_size(WIDE)
    log_in(page, live_server)
    page.goto(f"{live_server.url}/characters/new/")
    page.fill("#id_name", "Eileen")
    page.fill("#id_trigger_word", "ohwxeileen")
    page.select_option("#id_preset", "fitness")
    page.get_by_role("button", name="Create character").click()
    expect(page.get_by_role("heading", name="Eileen", exact=True)).to_be_visible()
    character = Character.objects.get()
    both("01-character")

    # 2. On a phone: real photos of three people; the worker ingests and measures them.
    page.set_viewport_size(PHONE)
    page.set_input_files(
        "#upload-files",
        photos_of_people(tmp_path, astronaut="eileen", others=("cameraman", "grace_hopper")),
    )
    items = page.locator(".upload-item")
    expect(items.filter(has_text="Accepted as image #")).to_have_count(6, timeout=60_000)
    both("02-uploaded", then=PHONE)
    cameraman = character.images.get(original_filename="cameraman.jpg")
    hopper = character.images.get(original_filename="grace-hopper.jpg")
    eileen = list(character.images.filter(original_filename__startswith="eileen"))

    # 3. The worker measures each face against the others: the two other people stand out.
    others = {cameraman.id, hopper.id}

    def measured() -> bool:
        # None until the worker has measured the image
        flags = {i.id: (likeness(i) or {}).get("flag") for i in [cameraman, hopper, *eileen]}
        return all(flags[i] == ("other_person" if i in others else "ok") for i in flags)

    wait_for(measured, timeout=60, what="the other two people to be told apart")
    assert likeness(cameraman)["measure"] == "face"
    assert likeness(cameraman)["score"] < min(likeness(image)["score"] for image in eileen)

    # The gallery shows it; the user rejects them and approves the rest, so only Eileen's
    # photos will enter a dataset.
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/characters/{character.slug}/gallery/")
    for other in (cameraman, hopper):
        expect(page.locator(f"#image-{other.id} .badge.likeness")).to_have_text("Other person?")
    for image in eileen:
        expect(page.locator(f"#image-{image.id} .badge.likeness")).to_have_count(0)
    page.locator(f"#image-{cameraman.id} img").click()
    expect(page.locator("#lightbox .lb-likeness")).to_contain_text("other person?")
    both("03-lightbox-other-person")
    page.keyboard.press("Escape")
    page.select_option("select[name=flag]", "other_person")
    tiles = page.locator("#gallery .tile")
    expect(tiles).to_have_count(2)
    tiles.first.locator(".tile-select").check()
    tiles.last.locator(".tile-select").check()
    page.locator("#bulk-bar").get_by_role("button", name="Reject").click()
    expect(page.locator("#gallery .tile.review-rejected")).to_have_count(2)
    page.goto(f"{live_server.url}/characters/{character.slug}/gallery/?review=unreviewed")
    expect(tiles).to_have_count(4)
    tiles.first.locator(".tile-select").check()
    tiles.last.locator(".tile-select").click(modifiers=["Shift"])
    page.locator("#bulk-bar").get_by_role("button", name="Approve").click()
    expect(page.locator("#gallery .tile")).to_have_count(0)
    assert set(character.images.filter(review="rejected").values_list("id", flat=True)) == {
        cameraman.id,
        hopper.id,
    }

    # 4. The sheet: one candidate per pose on fal, priced first. A second tab keeps the same
    # confirm page open (a stale page to submit later).
    page.goto(f"{live_server.url}/characters/{character.slug}/anchors/")
    page.fill("input[name=count]", "1")
    page.select_option("select[name=provider]", "fal")
    page.get_by_role("button", name="Price this run…").click()
    expect(page.get_by_role("heading", name="Spend about $0.48?")).to_be_visible()
    expect(page).to_have_url(re.compile(r"once="))
    both("04-confirm-sheet")
    stale = page.context.new_page()
    stale.goto(page.url)
    page.get_by_role("button", name="Start the run").click()
    expect(page.locator(".messages")).to_contain_text("started")
    run = GenerationRun.objects.get()

    # The worker is killed once fal has four of the eight calls (its cap) and four wait here.
    at_fal = run.calls.filter(status__in=[Status.SUBMITTED, Status.RUNNING])
    wait_for(lambda: at_fal.count() == 4, timeout=30, what="four calls at fal, their ids saved")
    kill(first_worker)
    assert fal.requests.accepted[ULTRA] == 4
    assert run.calls.count() == 8

    # Back, once: the confirm page leads to the run it started, and starts nothing.
    page.go_back()
    expect(page).to_have_url(re.compile(rf"/runs/{run.id}/$"))
    expect(page.locator(".messages")).to_contain_text(f"Run #{run.id} was started from this page")
    # The stale tab's Start, pressed now: the same answer, nothing paid twice.
    stale.get_by_role("button", name="Start the run").click()
    expect(stale).to_have_url(re.compile(rf"/runs/{run.id}/$"))
    expect(stale.locator(".messages")).to_contain_text("was started from this page")
    stale.close()
    assert GenerationRun.objects.count() == 1

    # With no worker, the run page (polling itself) tells the truth: running, four at fal,
    # four queued.
    stats = page.locator("#run-progress .stats")
    expect(stats.locator(".badge")).to_have_text("Running")
    expect(stats).to_contain_text("8 calls")
    expect(stats.locator(".status-created")).to_contain_text("4 queued")
    assert at_fal.count() == 4 and run.calls.filter(status=Status.CREATED).count() == 4
    both("05-run-worker-stopped")

    # A new worker takes over: polls what fal has, sends what waited, never a submit again.
    start(concurrency=4, env=worker_env, groups=GROUPS)
    play_beat(lambda: GenerationRun.objects.get(id=run.id).finished_at, what="the sheet run")
    expect(page.locator("#run-progress .stats .badge")).to_have_text("Succeeded")
    expect(page.locator("#run-progress .stats .status-done")).to_contain_text("8 done")
    assert fal.requests.accepted[ULTRA] == 8  # eight calls, each sent and billed once
    assert len(fal.jobs) == 8
    assert run.calls.filter(status=Status.DONE).count() == 8
    assert len(set(run.calls.values_list("external_id", flat=True))) == 8
    both("06-run-finished")

    # 5. Pick an anchor per pose on a phone: the board swaps in place.
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/characters/{character.slug}/anchors/")
    columns = page.locator(".board-column")
    expect(columns).to_have_count(8)
    for index in range(8):
        columns.nth(index).locator(".pick").first.click()
        expect(columns.nth(index).locator(".candidate.chosen")).to_have_count(1)
    expect(page.get_by_text("8 of 8 picked")).to_be_visible()
    both("07-sheet-picked", then=PHONE)

    # 6. Variations from two specs on the simulator; Start double-clicked: one run.
    page.set_viewport_size(WIDE)
    page.goto(f"{live_server.url}/characters/{character.slug}/")
    page.locator("#variations-form [data-tick=none]").click()
    for key in ("pullup_bottom", "reverse_fly"):  # three images each
        page.check(f"#variations-form input[value={key}]")
    page.locator("#variations-form select[name=provider]").select_option("local")
    page.get_by_role("button", name="Price the checked variations…").click()
    expect(page.get_by_role("heading", name="Spend about $0.00?")).to_be_visible()
    page.get_by_role("button", name="Start the run").dblclick()
    expect(page.locator(".messages")).to_contain_text("started")
    assert GenerationRun.objects.filter(kind="variations").count() == 1
    play_beat(all_runs_finished, what="the variations")
    variations = character.images.filter(kind=Image.Kind.VARIATION)
    assert variations.count() == 6

    # 7. Curate in the gallery with the keyboard: approve five, reject one, star the first.
    page.goto(f"{live_server.url}/characters/{character.slug}/gallery/?kind=variation")
    expect(page.locator("#gallery .tile")).to_have_count(6)
    expect(page.locator(".tile").first).to_be_focused()
    page.keyboard.press("s")
    for n in range(5):
        page.keyboard.press("a")
        expect(page.locator(".tile.review-approved")).to_have_count(n + 1)
    page.keyboard.press("r")
    expect(page.locator(".tile.review-rejected")).to_have_count(1)
    # 8 anchors, 5 variations and Eileen's 4 photos; the other two people and 1 variation out.
    expect(page.locator("#curation-counts .approved-count")).to_have_text("17")
    expect(page.locator("#curation-counts")).to_contain_text("3 rejected")
    both("08-gallery-curated")
    assert variations.filter(review="approved").count() == 5
    assert variations.filter(starred=True).count() == 1

    # 8. The dataset: the approved images and anchors, Eileen's photos, not the others.
    page.goto(f"{live_server.url}/datasets/for/{character.slug}/")
    page.fill("#id_name", "Eileen v1")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.locator(".messages")).to_contain_text("made with 17 images")
    dataset = Dataset.objects.get()
    in_dataset = set(dataset.items.values_list("image_id", flat=True))
    assert {image.id for image in eileen} <= in_dataset
    assert not {cameraman.id, hopper.id} & in_dataset
    both("09-dataset")

    # Captions for the uploads, on the simulator, priced first.
    page.locator(".ds-caption-run select[name=provider]").select_option("local")
    page.get_by_role("button", name="Caption uploads…").click()
    expect(page.get_by_role("heading", name="Spend about $0.00?")).to_be_visible()
    page.get_by_role("button", name="Start the run").click()
    play_beat(all_runs_finished, what="the captions")
    reload(page)
    expect(page.locator(".ds-caption-warnings")).to_have_count(0)

    # Export, sent twice at once: one export.
    accept = page.locator(".ds-export-form input[name=accept_warnings]")
    if accept.count():
        accept.check()
    statuses = submit_twice(page, ".ds-export-form")
    assert statuses == [200, 200], statuses
    assert DatasetExport.objects.count() == 1
    wait_for(
        lambda: DatasetExport.objects.get().status == "ready", timeout=30, what="the export zip"
    )
    archive, manifest = download_export(page)
    assert manifest["image_count"] == 17
    captions = [name for name in archive.namelist() if name.endswith(".txt")]
    assert len(captions) == 17
    assert all(archive.read(name).decode().count("ohwxeileen") == 1 for name in captions)
    page.set_viewport_size(PHONE)  # the export's status reads as one word on a phone
    lines = page.locator(".ds-exports .badge").evaluate(
        "badge => { const r = document.createRange(); r.selectNodeContents(badge);"
        " return new Set([...r.getClientRects()].map(rect => Math.round(rect.top))).size; }"
    )
    assert lines == 1, f"the status badge takes {lines} lines at 390 px"
    both("10-exported")

    # 9. Train on the simulator from the export.
    page.get_by_role("link", name="Train a LoRA").first.click()
    expect(page).to_have_url(re.compile(r"once="))
    page.select_option("#id_provider", "local")
    expect(page.locator("#estimate")).to_contain_text("About $0.00")
    both("11-training-new")
    page.get_by_role("button", name="Start training").click()
    expect(page).to_have_url(re.compile(r"/training/jobs/\d+/$"))
    job = TrainingJob.objects.get()
    play_beat(lambda: TrainingJob.objects.get(id=job.id).status == "succeeded", what="training")
    reload(page)
    expect(page.get_by_test_id("job-status")).to_have_text("Succeeded")
    both("12-trained")

    # 10. The reference set with v1, approve it, pin with it (sent twice: one pin).
    lora = LoraModel.objects.get()
    page.goto(f"{live_server.url}/training/loras/{lora.id}/")
    page.locator("form.generate-form select[name=provider]").select_option("local")
    page.get_by_role("button", name="Price the reference set").click()
    expect(page.get_by_role("heading", name="Spend about $0.00?")).to_be_visible()
    with page.expect_navigation():  # the page it leads to, loaded, before the next goto
        page.get_by_role("button", name="Start the run").click()
    play_beat(all_runs_finished, what="the reference set")
    page.goto(f"{live_server.url}/training/loras/{lora.id}/")
    expect(page.locator(".reference-shot img")).to_have_count(5)
    both("13-reference-set")
    page.get_by_role("button", name="Approve v1").click()
    expect(page.get_by_test_id("lora-status")).to_have_text("Approved")
    page.get_by_role("link", name="Pin with v1").click()
    expect(page.get_by_test_id("pin-summary")).to_contain_text("Primary and 4 references")
    both("14-pin-form")
    primary = int(page.locator("form.pin-form input[name=primary]:checked").input_value())
    references = page.locator("form.pin-form input[name=references]:checked").evaluate_all(
        "boxes => boxes.map(box => Number(box.value))"
    )
    assert len(references) == 4 and primary not in references
    statuses = submit_twice(page, "form.pin-form")
    assert statuses == [200, 200], statuses
    assert Pin.objects.count() == 1
    pin = Pin.objects.get()
    assert pin.primary_image_id == primary
    page.goto(f"{live_server.url}/training/characters/{character.slug}/pins/1/")
    both("15-pinned")

    # 11. Downstream reads the pin with a token, no session: the same primary and references.
    answer = api.get(f"/api/characters/{character.slug}/pin")
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["version"] == 1 and document["trigger_word"] == "ohwxeileen"
    assert document["primary"]["image_id"] == primary
    assert sorted(ref["image_id"] for ref in document["references"]) == sorted(references)
    pinned = list(pin.references.order_by("order").values_list("image_id", flat=True))
    assert [ref["image_id"] for ref in document["references"]] == pinned  # in the pin's order
    assert document["lora"]["id"] == lora.id

    # Nothing was paid twice on the whole journey: fal billed the sheet's eight calls once.
    assert fal.requests.accepted.total() == 8
    assert ProviderCall.objects.filter(provider="fal").count() == 8
