"""The two longest pages on a 390 px phone: a run's calls fit the width (cost and errors
in view, no sideways scrolling inside the table), and a character's 32 variation specs do
not bury the sections below them."""

from decimal import Decimal

import pytest
from django.utils import timezone

from characters.models import Image
from generation.models import GenerationRun, ProviderCall
from tests.browser.walk import log_in, save_screenshot
from tests.factories import GenerationRunFactory, ImageFactory, ProviderCallFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE_WIDTH = 390
# A provider's error as it reaches the page: long, with an unbroken URL and request id.
LONG_ERROR = (
    "fal answered 422 Unprocessable Entity: image_url could not be downloaded from "
    "https://storage.example.com/lorastudio/media/characters/fitmannequin/anchors/"
    "front-0001-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.png "
    "(request req_01HZX3K9V7Q2M8N4P6R5T1W0YB_a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8); "
    "check that PUBLIC_BASE_URL is reachable from the internet, then send the call again."
)


@pytest.fixture
def finished_run(character, user):
    """A variations run of the fitness character: a call done with its images and source
    anchor, one failed with a long error, one whose outcome is unknown (its retry button)."""
    run = GenerationRunFactory(
        character=character,
        kind=GenerationRun.Kind.VARIATIONS,
        provider="fal",
        status=GenerationRun.Status.PARTIAL,
        created_by=user,
        estimated_cost=Decimal("0.150"),
        actual_cost=Decimal("0.050"),
        error="1 of 3 calls failed: " + LONG_ERROR,
        finished_at=timezone.now(),
    )
    pose = character.poses.get(key="front")
    source = ImageFactory(character=character, kind=Image.Kind.CANDIDATE, pose=pose)
    context = {
        "label": "Pull-up, top position, chin above the bar",
        "image": {"source_image_id": source.id},
        "inputs": {"strength": 0.55},
    }
    done = ProviderCallFactory(
        run=run,
        provider="fal",
        task="image_to_image",
        status=ProviderCall.Status.DONE,
        external_id="0f4c2a9e-7b1d-4e5f-9a3c-2d8b6e1f0a7c",
        units=2,
        estimated_cost=Decimal("0.050"),
        actual_cost=Decimal("0.050"),
        context=context,
    )
    for n in range(2):
        ImageFactory(
            character=character,
            kind=Image.Kind.VARIATION,
            pose=pose,
            call=done,
            call_output=n,
            source_image=source,
        )
    ProviderCallFactory(
        run=run,
        provider="fal",
        task="image_to_image",
        status=ProviderCall.Status.FAILED,
        units=2,
        estimated_cost=Decimal("0.050"),
        error=LONG_ERROR,
        context=context,
    )
    ProviderCallFactory(
        run=run,
        provider="fal",
        task="image_to_image",
        status=ProviderCall.Status.UNKNOWN,
        units=2,
        estimated_cost=Decimal("0.050"),
        error="The connection dropped after the request was sent: it may have reached fal.",
        context=context,
    )
    return run


def overflow(page, selector: str = "") -> int:
    """How many CSS pixels the document (or the element) is wider than it shows."""
    if not selector:
        width = page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        )
        return width - PHONE_WIDTH
    return page.locator(selector).evaluate("e => e.scrollWidth - e.clientWidth")


def test_a_runs_calls_fit_a_390_px_phone_with_cost_and_errors_in_view(
    phone, live_server, user, finished_run
):
    log_in(phone, live_server)
    phone.goto(f"{live_server.url}/runs/{finished_run.id}/")
    save_screenshot(phone, "phone-run-calls", full_page=True)

    assert overflow(phone) <= 0
    assert overflow(phone, ".run-calls") <= 0, "the call table scrolls sideways in its card"
    assert overflow(phone, ".table-wrap:has(.run-calls)") <= 0
    rows = phone.locator(".run-calls tr.call-row")
    assert rows.count() == 3
    for n in range(3):
        row = rows.nth(n)
        for cell in row.locator("td").all():
            if not cell.is_visible():
                continue
            box = cell.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH, (
                f"call {n}: a cell ({cell.inner_text()[:40]!r}) ends at "
                f"{box['x'] + box['width']:.0f}px"
            )
    # Every column's information is still there, labelled, on the phone.
    failed = phone.locator(".run-calls tr.call-row.status-failed")
    for label in ("Status", "Results", "Source anchor", "Strength", "Cost", "What happened"):
        assert failed.locator(f"td[data-label='{label}']").count() == 1, label
    cost = failed.locator("td[data-label='Cost']")
    assert cost.is_visible() and "$0.050" in cost.inner_text()
    error = failed.locator("td[data-label='What happened']")
    assert "PUBLIC_BASE_URL is reachable" in error.inner_text()
    box = error.bounding_box()
    assert box["x"] + box["width"] <= PHONE_WIDTH
    # A call with nothing to say has no empty "What happened" line.
    done = phone.locator(".run-calls tr.call-row.status-done")
    assert not done.locator("td[data-label='What happened']").is_visible()
    retry = phone.get_by_role("button", name="Send again (may pay twice)")
    box = retry.bounding_box()
    assert retry.is_visible() and box["x"] + box["width"] <= PHONE_WIDTH


def heights(page) -> dict[str, int]:
    """The page's height, the variations section's, and where the aside (the next sections
    on a phone: upload, prompts) starts, in CSS pixels."""
    return page.evaluate(
        """() => {
          const box = (selector) => document.querySelector(selector).getBoundingClientRect();
          return {
            page: document.documentElement.scrollHeight,
            variations: Math.round(box('#variations').height),
            below: Math.round(box('.columns > aside').top + window.scrollY),
          };
        }"""
    )


def test_a_character_with_32_variation_specs_stays_short_on_a_390_px_phone(
    phone, live_server, user, character
):
    assert character.variations.count() == 32
    log_in(phone, live_server)
    phone.goto(f"{live_server.url}{character.get_absolute_url()}")
    measured = heights(phone)
    print(f"character page at {PHONE_WIDTH}px with 32 specs: {measured}")
    save_screenshot(phone, "phone-character-32-specs", full_page=True)
    assert overflow(phone) <= 0
    assert measured["variations"] < 3000, measured
    assert measured["below"] < 4000, measured
    # Every spec is still in the form (a folded one's tick is sent like any other).
    assert phone.locator("#variations-form input[name=variations]").count() == 32
    assert phone.locator("#variations-form input[name=variations]:visible").count() == 8


def test_on_a_phone_show_all_unfolds_every_spec_without_javascript(
    browser, live_server, user, character
):
    context = browser.new_context(
        viewport={"width": PHONE_WIDTH, "height": 844},
        has_touch=True,
        is_mobile=True,
        java_script_enabled=False,
    )
    phone = context.new_page()
    try:
        log_in(phone, live_server)
        phone.goto(f"{live_server.url}{character.get_absolute_url()}")
        boxes = phone.locator("#variations-form input[name=variations]")
        assert boxes.locator("visible=true").count() == 8
        show_all = phone.locator("label[for=specs-unfold]")
        assert show_all.inner_text() == "Show all 32 specs (24 more)"
        show_all.tap()
        assert boxes.locator("visible=true").count() == 32
        unfolded = heights(phone)
        print(f"character page at {PHONE_WIDTH}px, all 32 specs shown: {unfolded}")
        assert overflow(phone) <= 0
        assert show_all.inner_text() == "Show fewer specs"
        show_all.tap()
        assert boxes.locator("visible=true").count() == 8
    finally:
        context.close()
