"""The header's simulator badge: it says the simulator is the default, never that nothing
is paid, since anyone may run on fal or Replicate (paid) beside it."""

import html
import re

import pytest

pytestmark = pytest.mark.django_db

BADGE = re.compile(r'<span class="simulator-badge" title="([^"]*)"[^>]*>([^<]*)</span>')


def badge(client) -> tuple[str, str] | None:
    """(title, text) of the badge on the characters page, or None when it is not there."""
    found = BADGE.search(client.get("/characters/").content.decode())
    return (html.unescape(found.group(1)), found.group(2)) if found else None


@pytest.mark.parametrize(
    ("fal_key", "replicate_token", "set_up"),
    [
        ("key-id:key-secret", "", "fal.ai is set up here."),
        ("key-id:key-secret", "r8_token", "fal.ai and Replicate are set up here."),
        ("", "", "neither is set up here."),
    ],
)
def test_with_the_simulator_by_default_the_badge_says_which_paid_providers_are_set_up(
    logged_in, settings, fal_key, replicate_token, set_up
):
    settings.PROVIDER = "local"
    settings.FAL_KEY, settings.REPLICATE_API_TOKEN = fal_key, replicate_token
    title, text = badge(logged_in)
    assert text == "Simulator by default"
    assert "nothing is paid" not in title
    assert title.startswith("New runs start on the offline simulator (free) unless you pick")
    assert f"Runs on fal.ai or Replicate are paid: {set_up}" in title


def test_a_paid_default_provider_shows_no_simulator_badge(logged_in, settings):
    settings.PROVIDER = "fal"
    settings.FAL_KEY = "key-id:key-secret"
    assert badge(logged_in) is None
    assert "Simulator" not in logged_in.get("/characters/").content.decode().split("<main>")[0]


def test_a_paid_default_without_its_key_starts_runs_on_the_simulator_and_says_why(
    logged_in, settings
):
    settings.PROVIDER = "replicate"
    settings.REPLICATE_API_TOKEN = ""
    title, text = badge(logged_in)
    assert text == "Simulator by default"
    assert title.startswith("Replicate cannot be used: REPLICATE_API_TOKEN is not set")
    assert "Runs on fal.ai or Replicate are paid" in title
