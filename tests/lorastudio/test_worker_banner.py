"""Every page says so when the background worker (or beat) has not been seen for 30 s."""

import time

import pytest
import time_machine
from django.core.cache import cache

from lorastudio.health import HEARTBEAT_KEY, record_heartbeat

BANNER = "Background worker not running:</strong> queued work starts when it is back."


@pytest.fixture(autouse=True)
def no_heartbeat():
    cache.delete(HEARTBEAT_KEY)
    yield
    cache.delete(HEARTBEAT_KEY)


@pytest.mark.parametrize("path", ["/characters/", "/runs/", "/datasets/", "/training/"])
def test_a_page_shows_the_banner_when_no_worker_was_ever_seen(logged_in, path):
    assert BANNER in logged_in.get(path).content.decode()


def test_no_banner_while_the_heartbeat_is_fresh(logged_in):
    record_heartbeat()  # what beat schedules and a worker runs
    assert "worker-banner" not in logged_in.get("/characters/").content.decode()


def test_the_banner_comes_back_30_seconds_after_the_last_heartbeat(logged_in):
    with time_machine.travel(time.time(), tick=False) as traveller:
        record_heartbeat()
        traveller.shift(30)
        assert "worker-banner" not in logged_in.get("/characters/").content.decode()
        traveller.shift(2)
        html = logged_in.get("/characters/").content.decode()
        assert BANNER in html and "Last seen 32 s ago." in html


def test_beat_sends_the_heartbeat_often_enough_for_the_banner(settings):
    assert settings.CELERY_BEAT_SCHEDULE["heartbeat"]["schedule"] <= 10
