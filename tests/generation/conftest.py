from contextlib import contextmanager

import pytest


@pytest.fixture
def drive():
    """Let time pass and run the periodic pass until `run` has finished; returns it fresh."""
    import time_machine
    from django.utils import timezone

    from generation import calls

    def run_until_finished(run, *, rounds=40, step=5):
        with time_machine.travel(timezone.now(), tick=True) as traveller:
            for _ in range(rounds):
                calls.sweep()
                run.refresh_from_db()
                if run.finished_at:
                    return run
                traveller.shift(step)
        raise AssertionError(f"run still {run.status} after {rounds} rounds")

    return run_until_finished


@pytest.fixture
def clean_cache():
    from django.core.cache import cache

    cache.clear()


@contextmanager
def _use_fake(monkeypatch, fake):
    """Point the SDKs at `fake`; provider adapters built before or during are forgotten."""
    from generation.providers import get_provider

    with fake:
        for name, value in fake.env.items():
            monkeypatch.setenv(name, value)
        get_provider.cache_clear()
        yield fake
    get_provider.cache_clear()


@pytest.fixture
def fal(monkeypatch, settings, clean_cache):
    from tests.fakes.fal import FakeFal

    with _use_fake(monkeypatch, FakeFal()) as fake:
        settings.FAL_KEY = fake.key
        settings.FAL_JWKS_URL = fake.jwks_url
        yield fake


@pytest.fixture
def replicate_fake(monkeypatch, settings, clean_cache):
    from tests.fakes.replicate import FakeReplicate

    with _use_fake(monkeypatch, FakeReplicate()) as fake:
        settings.REPLICATE_API_TOKEN = fake.token
        settings.REPLICATE_WEBHOOK_SECRET = fake.webhook_secret
        settings.REPLICATE_DOWNLOAD_HOSTS = ["127.0.0.1"]
        yield fake
