"""Shared steps of the browser tests: play the beat, seed a character part-way along seed 000."""

import time
from pathlib import Path

from django.utils import timezone
from PIL import Image as PILImage
from playwright.sync_api import Error as PlaywrightError

from characters import services
from characters.models import Character, Image
from generation import calls, runs
from generation.models import GenerationRun, ProviderCall

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def finish_runs(timeout=60.0):
    """Play the periodic pass (beat's job) until every run has finished.

    Time passes for the calls: each pass makes every pending check due, so a poll put off by
    learned durations or a lease (a slow machine makes both long) is not waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        Status = ProviderCall.Status
        ProviderCall.objects.filter(
            status__in=[Status.SUBMITTED, Status.RUNNING, Status.SUCCEEDED],
            next_check_at__gt=timezone.now(),
        ).update(next_check_at=timezone.now())
        calls.sweep()
        if not GenerationRun.objects.filter(finished_at__isnull=True).exists():
            return
        time.sleep(0.1)
    states = list(ProviderCall.objects.values_list("status", "error"))
    raise AssertionError(f"runs did not finish: {states}")


SETTLED = """() => document.readyState === 'complete'
    && ![...document.querySelectorAll('[hx-trigger]')]
        .some(element => /^(load|every)/.test(element.getAttribute('hx-trigger')))"""


def reload(page, timeout=20.0):
    """Reload once the page's own pollers have stopped (see `when_settled`)."""
    when_settled(page, page.reload, timeout=timeout)


def goto(page, url, timeout=20.0):
    """Go to url once the page's own pollers have stopped (see `when_settled`)."""
    when_settled(page, lambda: page.goto(url), timeout=timeout)


def when_settled(page, navigate, timeout=20.0):
    """Navigate once the page's own pollers have stopped.

    A poll that sees its run or training end reloads the page itself (HX-Refresh); a
    navigation sent at that moment is aborted by the browser. So wait until no element still
    polls or waits to load, across that page's own reload, and only then navigate."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            page.wait_for_function(SETTLED, timeout=2_000)
            navigate()
            return
        except PlaywrightError:  # the page navigated under us, or is still polling
            if time.monotonic() > deadline:
                raise


def photos_of_people(folder, *, astronaut: str, others: tuple[str, ...]) -> list[str]:
    """Real photos as JPEGs of 1024 px: four framings of the astronaut (files named
    `<astronaut>-N.jpg`), then each of `others` (calibration photos of other people, or the
    coffee cup)."""
    from characters.likeness import calibration

    photo = calibration.photo("astronaut")
    changes = calibration.changes("astronaut")
    pictures = {
        f"{astronaut}-1.jpg": photo,
        f"{astronaut}-2.jpg": changes["head and shoulders"](photo),
        f"{astronaut}-3.jpg": changes["mirror"](photo),
        f"{astronaut}-4.jpg": changes["off-centre crop"](photo),
        **{f"{name.replace('_', '-')}.jpg": calibration.photo(name) for name in others},
    }
    paths = []
    for name, array in pictures.items():
        picture = PILImage.fromarray(array)
        scale = 1024 / max(picture.size)
        picture = picture.resize((round(picture.width * scale), round(picture.height * scale)))
        picture.save(folder / name, "JPEG", quality=92)
        paths.append(str(folder / name))
    return paths


def log_in(page, live_server):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "artist")
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/characters/")


def _launch(character, user, **arguments):
    plan = runs.plan_run(character=character, provider="local", **arguments)
    return runs.launch_run(plan=plan, character=character, created_by=user, params=arguments)


def seed_walked_character(user, *, approve=14, fail_pose: str | None = None) -> Character:
    """The fitness character with its sheet picked, variations made and some approved.

    With `fail_pose`, that pose's prompt asks the simulator to fail (simulate:fail), and a
    run of candidates for it has failed.
    """
    character = services.create_character(
        name="Fit Mannequin",
        trigger_word="fitmannequin",
        base_prompt="orange anatomical mannequin, wireframe mesh, cream background",
        preset="fitness",
        created_by=user,
    )
    _launch(character, user, kind="anchors", count=2)
    finish_runs()
    for pose in character.poses.all():
        first = character.images.filter(pose=pose).order_by("id").first()
        services.pick_anchor(
            character=character, pose_key=pose.key, image_id=first.id, picked_by=user
        )
    keys = list(character.variations.values_list("key", flat=True)[:6])
    _launch(character, user, kind="variations", variations=keys, count=3)
    finish_runs()
    variations = character.images.filter(kind=Image.Kind.VARIATION).order_by("id")
    for n, image in enumerate(variations[: approve + 2]):
        review = Image.Review.APPROVED if n < approve else Image.Review.REJECTED
        services.review_image(image=image, reviewed_by=user, review=review, starred=n == 0)
    if fail_pose:
        pose = character.poses.get(key=fail_pose)
        pose.prompt += ", simulate:fail"
        pose.save()
        _launch(character, user, kind="anchors", poses=[fail_pose], count=2)
        finish_runs()
    return character


def save_screenshot(page, name: str, *, full_page: bool = False) -> Path:
    """A PNG of the page in test-artifacts/, as chromium encodes it. (PNG, not JPEG: the tools
    that show a reviewer these pictures read PNG only. Bringing them down to 128 colours cost the
    suite 20 s of CPU for 125 pictures nobody compares pixel by pixel.)"""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def download_export(page):
    """Click the newest export's download link; the zip as read, checked against its sha256 and
    against its manifest file by file."""
    import hashlib
    import io
    import json
    import zipfile

    from datasets.models import DatasetExport

    export = DatasetExport.objects.order_by("-created_at").first()
    assert export.status == "ready", export.error
    reload(page)
    with page.expect_download() as info:
        page.locator(".ds-download").first.click()
    with open(info.value.path(), "rb") as handle:
        data = handle.read()
    assert hashlib.sha256(data).hexdigest() == export.sha256
    archive = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(archive.read("manifest.json"))
    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["name"])).hexdigest() == entry["sha256"]
    return archive, manifest
