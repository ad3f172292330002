import pytest

from tests.factories import DatasetFactory, ReadyExportFactory
from tests.generation.conftest import clean_cache, drive, fal, replicate_fake  # noqa: F401


@pytest.fixture
def export(character):
    """A ready export of the fitness character: 4 captioned images in a real zip (fal's
    trainer takes no fewer)."""
    return ReadyExportFactory(dataset=DatasetFactory(character=character), image_count_=4)


@pytest.fixture
def finish():
    """Let time pass and run the periodic passes until `job` has ended; returns it fresh."""
    import time_machine
    from django.utils import timezone

    from generation import calls
    from training import services

    def run_until_ended(job, *, rounds=60, step=5):
        with time_machine.travel(timezone.now(), tick=True) as traveller:
            for _ in range(rounds):
                calls.sweep()
                job = services.sync_job(job.id)
                if not job.is_live:
                    return job
                traveller.shift(step)
        raise AssertionError(f"job still {job.status} ({job.call.status}) after {rounds} rounds")

    return run_until_ended


@pytest.fixture
def webhooks_allowed(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True


@pytest.fixture
def replicate_ready(replicate_fake, settings):  # noqa: F811 (the imported fixture)
    settings.REPLICATE_OWNER = "studio"
    settings.PUBLIC_BASE_URL = "https://studio.example"  # the zip goes as a signed link
    return replicate_fake
