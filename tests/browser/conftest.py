"""Browser tests: Playwright driving Debian's chromium (never a downloaded browser)."""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# around it are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install Debian's chromium package.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    from tests.browser.walk import save_screenshot

    def take(name: str) -> Path:
        return save_screenshot(page, name, full_page=True)

    return take


@pytest.fixture
def inline_tasks(settings):
    """Celery tasks run where they are sent, and the simulator answers at once."""
    from characters.likeness import face
    from lorastudio.celery import app

    settings.LOCAL_PROVIDER_DELAY = 0
    app.conf.task_always_eager = True
    face.warm()  # likeness runs inline too: its models load before any page waits on them
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def phone(browser):
    """A page at 390×844, touch enabled, as on a phone."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def wide(browser):
    """A page at 1440×900."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture(autouse=True)
def worker_seen(request):
    """The browser tests play the worker and beat themselves (walk.finish_runs): keep the
    "Background worker not running" banner out of their pages with a heartbeat every 5 s
    (not for a test marked `worker_stopped`)."""
    import threading

    from django.core.cache import cache

    from lorastudio.health import HEARTBEAT_KEY, record_heartbeat

    if request.node.get_closest_marker("worker_stopped"):
        cache.delete(HEARTBEAT_KEY)
        yield
        return

    stop = threading.Event()

    def beat():
        while True:
            record_heartbeat()
            if stop.wait(5):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)
