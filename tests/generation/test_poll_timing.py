"""Poll timing: when a call is asked where it stands, and what its endpoint's finished calls
teach about the next ones."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from generation import poll_timing
from generation.models import ProviderCall

ULTRA = "fal-ai/flux-pro/v1.1-ultra"


@pytest.fixture
def call(db, clean_cache):
    """A fal call submitted just now (not saved: timing reads only its fields)."""
    return ProviderCall(
        provider="fal", task="text_to_image", endpoint=ULTRA, submitted_at=timezone.now()
    )


def test_an_endpoint_never_seen_is_first_polled_a_little_before_the_catalogs_time(call):
    expected = poll_timing.expected_seconds(call)
    assert poll_timing.learned_seconds(call) is None
    assert poll_timing.first_poll_delay(call) == pytest.approx(
        max(0.2, min(0.8 * expected, poll_timing.FIRST_POLL_MAX_SECONDS))
    )


def test_the_first_finished_call_teaches_its_duration_and_the_next_call_is_polled_then(call):
    with time_machine.travel(call.submitted_at + timedelta(seconds=12), tick=False):
        poll_timing.learn(call, earlier_polls=0)
    assert poll_timing.learned_seconds(call) == pytest.approx(12)
    assert poll_timing.first_poll_delay(call) == pytest.approx(12)


def test_the_duration_learned_ends_when_the_status_was_asked_not_when_the_answer_came(call):
    asked_at = call.submitted_at + timedelta(seconds=12)
    with time_machine.travel(asked_at + timedelta(seconds=0.4), tick=False):  # a slow answer
        poll_timing.learn(call, earlier_polls=0, asked_at=asked_at)
    assert poll_timing.learned_seconds(call) == pytest.approx(12)


def test_a_call_done_at_its_first_poll_shrinks_the_estimate_a_little(call):
    with time_machine.travel(call.submitted_at + timedelta(seconds=10), tick=False):
        poll_timing.learn(call, earlier_polls=1)
    with time_machine.travel(call.submitted_at + timedelta(seconds=10), tick=False):
        poll_timing.learn(call, earlier_polls=0)
    shrunk = 0.7 * 10 + 0.3 * 10 * poll_timing.SHRINK_WHEN_DONE_AT_FIRST_POLL
    assert poll_timing.learned_seconds(call) == pytest.approx(shrunk)
    assert shrunk < 10


def test_a_call_found_late_moves_the_estimate_towards_when_it_was_seen(call):
    with time_machine.travel(call.submitted_at + timedelta(seconds=10), tick=False):
        poll_timing.learn(call, earlier_polls=0)
    with time_machine.travel(call.submitted_at + timedelta(seconds=20), tick=False):
        poll_timing.learn(call, earlier_polls=3)
    assert poll_timing.learned_seconds(call) == pytest.approx(0.7 * 10 + 0.3 * 20)


def test_just_after_the_expected_end_polls_come_soon_and_well_past_it_they_back_off(call):
    with time_machine.travel(call.submitted_at + timedelta(seconds=10), tick=False):
        poll_timing.learn(call, earlier_polls=0)  # expected: 10 s
    with time_machine.travel(call.submitted_at + timedelta(seconds=11), tick=False):
        assert poll_timing.next_poll_delay(call) == pytest.approx(0.05)  # 0.5 % of 10 s
    with time_machine.travel(call.submitted_at + timedelta(seconds=40), tick=False):
        assert poll_timing.next_poll_delay(call) == pytest.approx(10)  # a quarter of 40 s
    with time_machine.travel(call.submitted_at + timedelta(hours=1), tick=False):
        assert poll_timing.next_poll_delay(call) == poll_timing.MAX_POLL_INTERVAL


def test_without_a_cache_timing_falls_back_to_the_catalog_and_learning_is_skipped(call, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }
    assert poll_timing.learned_seconds(call) is None
    poll_timing.learn(call, earlier_polls=0)  # logged, not raised
    assert poll_timing.expected_seconds(call) > 0
