"""Every page of the app fits a 390 px wide phone: no sideways scrolling, a menu that opens."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from playwright.sync_api import expect

from characters.models import Image
from generation.models import GenerationRun, ProviderCall
from tests.browser.walk import log_in, save_screenshot, seed_walked_character

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE_WIDTH = 390
# Not pages of the studio: the admin has its own styles, the rest answer machines.
SKIPPED_PREFIXES = ("admin/", "api/", "webhooks/", "media/", "logout/", "healthz")
PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def route_templates(patterns=None, prefix=""):
    """Every named route of the app as a template such as `characters/<slug:slug>/gallery/`."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if route.startswith(SKIPPED_PREFIXES) or route.lstrip("^").startswith(SKIPPED_PREFIXES):
            continue
        if isinstance(entry, URLResolver):
            yield from route_templates(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and entry.name and "(?P" not in route:
            yield route


def app_pages(values: dict[str, str]) -> list[str]:
    """The app's page URLs: routes without arguments, and those whose arguments we can fill
    from a seeded character (so pages other engineers add are walked too)."""
    urls = []
    for template in route_templates():
        names = [m.group("name") for m in PARAMETER.finditer(template)]
        if any(name not in values for name in names):
            continue
        urls.append("/" + PARAMETER.sub(lambda m: str(values[m.group("name")]), template))
    return sorted(set(urls))


def overflow(page) -> int:
    """How many CSS pixels the document is wider than the phone (0 when it fits).

    Against the phone's width, not `innerWidth`: a mobile browser zooms out to show a page
    that is too wide, and its layout viewport grows with it.
    """
    width = page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )
    return width - PHONE_WIDTH


def test_every_page_fits_a_390_px_phone(phone, live_server, user, loaded_presets, inline_tasks):
    character = seed_walked_character(user, fail_pose="back")
    run = GenerationRun.objects.filter(kind="variations").get()
    values = {
        "slug": character.slug,
        "key": character.variations.first().key,
        "pose": "front",
        "run_id": run.id,
        "image_id": Image.objects.filter(character=character).first().id,
        "call_id": ProviderCall.objects.first().id,
    }
    pages = app_pages(values)
    gallery = f"/characters/{character.slug}/gallery/"
    assert gallery in pages and f"/runs/{run.id}/" in pages and "/characters/" in pages
    pages.append(f"{gallery}?review=approved")

    log_in(phone, live_server)
    too_wide, walked = {}, []
    for url in pages:
        # Ask first (with the page's cookies): form posts and JSON endpoints are not pages.
        response = phone.context.request.get(live_server.url + url, max_redirects=0)
        if response.status >= 500:
            too_wide[url] = f"HTTP {response.status}"
            continue
        if response.status != 200 or "text/html" not in response.headers.get("content-type", ""):
            continue
        if "<html" not in response.text()[:500]:
            continue  # an htmx fragment (counts, progress, suggestion), shown inside a page
        phone.goto(live_server.url + url)
        walked.append(url)
        extra = overflow(phone)
        if extra > 0:
            too_wide[url] = f"{PHONE_WIDTH + extra}px wide"
    assert not too_wide, f"pages wider than a {PHONE_WIDTH}px phone: {too_wide}"
    assert len(walked) >= 10, walked


def test_on_a_phone_the_menu_opens_and_images_are_reviewed_by_touch(
    phone, live_server, user, loaded_presets, inline_tasks
):
    character = seed_walked_character(user, fail_pose="back")
    log_in(phone, live_server)

    phone.goto(f"{live_server.url}/characters/")
    expect(phone.locator("#main-nav")).to_be_hidden()
    save_screenshot(phone, "phone-01-character-list")
    phone.locator(".nav-toggle").tap()
    expect(phone.locator("#main-nav")).to_be_visible()
    save_screenshot(phone, "phone-02-menu-open")

    phone.goto(f"{live_server.url}{character.get_absolute_url()}")
    expect(phone.locator(".run-failure")).to_be_visible()
    save_screenshot(phone, "phone-03-character-page")
    phone.goto(f"{live_server.url}/characters/{character.slug}/anchors/")
    save_screenshot(phone, "phone-04-sheet")

    phone.goto(
        f"{live_server.url}/characters/{character.slug}/gallery/?kind=variation&review=unreviewed"
    )
    save_screenshot(phone, "phone-05-gallery")
    first = phone.locator(".tile").first
    first_id = first.get_attribute("data-image-id")
    first.locator("img").tap()
    lightbox = phone.locator("#lightbox")
    expect(lightbox).to_be_visible()
    save_screenshot(phone, "phone-06-lightbox")
    assert overflow(phone) <= 0

    # The big Approve button approves and moves on to the next image.
    lightbox.get_by_role("button", name="Approve").tap()
    expect(phone.locator(f"#image-{first_id}")).to_have_class(re.compile("review-approved"))
    expect(lightbox.locator(".lb-label")).not_to_contain_text(f"#{first_id}")
    shown = lightbox.locator(".lb-label").text_content()

    # A swipe to the right goes back to the previous image.
    box = lightbox.locator(".lb-media").bounding_box()
    y = box["y"] + box["height"] / 2
    phone.evaluate(
        """([x0, x1, y]) => {
          const target = document.querySelector('#lightbox .lb-media');
          const touch = (x) => new Touch({identifier: 1, target, clientX: x, clientY: y});
          const send = (type, x, touches) => target.dispatchEvent(new TouchEvent(
            type, {bubbles: true, touches, changedTouches: [touch(x)]}));
          send('touchstart', x0, [touch(x0)]);
          send('touchend', x1, []);
        }""",
        [60, 300, y],
    )
    expect(lightbox.locator(".lb-label")).not_to_have_text(shown)
    expect(lightbox.locator(".lb-label")).to_contain_text(f"#{first_id}")
    assert Image.objects.get(id=first_id).review == Image.Review.APPROVED

    run = GenerationRun.objects.filter(kind="variations").get()
    phone.goto(f"{live_server.url}/runs/{run.id}/")
    save_screenshot(phone, "phone-07-run-page")
