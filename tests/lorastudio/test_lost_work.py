"""Enqueue one way, sweep every kind of work: a message that never reaches a worker (a Redis
restart, a broker down at the wrong moment) leaves nothing stranded. For each kind of waiting
work the test drops the message its service sent at commit, lets time pass, and runs the
periodic pass: the work ends."""

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from characters.likeness import calibration, scoring
from characters.likeness import sweep as likeness_sweep
from characters.models import Image, ImageEmbedding, LikenessScore
from characters.services import pick_anchor
from datasets import exports, ingest
from datasets.models import DatasetExport, Upload
from lorastudio import queueing
from lorastudio.celery import app
from tests.datasets.conftest import jpeg_bytes, stock
from tests.factories import ImageFactory, photo_file
from tests.training.receiver import Receiver
from training import outgoing, pins
from training.models import Pin, WebhookDelivery


@pytest.fixture
def inline(db):
    """Tasks the sweep sends run where they are sent (once the test's transaction 'commits')."""
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


@pytest.fixture
def dropped(django_capture_on_commit_callbacks):
    """Run a service; the messages it queues at commit are lost on the way. Returns how many."""

    def run(service, **kwargs):
        with django_capture_on_commit_callbacks(execute=False) as lost:
            result = service(**kwargs)
        return result, len(lost)

    return run


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    """The periodic pass, `later` from now; what it queues again runs at once."""

    def run(later: timedelta) -> dict:
        with (
            time_machine.travel(timezone.now() + later, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return queueing.sweep_lost_work()

    return run


def test_an_upload_whose_ingest_message_was_lost_is_ingested_by_the_sweep(
    character, inline, dropped, sweep
):
    files = [SimpleUploadedFile("photo.jpg", jpeg_bytes(), content_type="image/jpeg")]
    [upload], lost = dropped(ingest.receive, character=character, files=files)
    assert lost == 1 and upload.outcome == Upload.Outcome.QUEUED

    assert sweep(timedelta(seconds=30))["uploads"] == 0  # its message may just be slow
    assert sweep(ingest.LOST_AFTER + timedelta(seconds=1))["uploads"] == 1

    upload.refresh_from_db()
    assert upload.outcome == Upload.Outcome.ACCEPTED and upload.image.kind == Image.Kind.UPLOAD
    assert sweep(ingest.LOST_AFTER * 3)["uploads"] == 0  # done: never queued again


def test_an_export_whose_build_message_was_lost_is_built_by_the_sweep(
    character, inline, dropped, sweep
):
    from datasets.services import create_dataset

    stock(character)
    dataset = create_dataset(character=character, name="Main")
    # The stock's uploads have no captions: a warning this test is not about, accepted.
    export, lost = dropped(exports.start_export, dataset=dataset, accept_warnings=True)
    assert lost == 1 and export.status == DatasetExport.Status.BUILDING

    assert sweep(timedelta(minutes=1))["exports"] == 0
    assert sweep(exports.LOST_AFTER + timedelta(seconds=1))["exports"] == 1

    export.refresh_from_db()
    assert export.status == DatasetExport.Status.READY and export.archive


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    with Receiver() as running:
        yield running


def test_a_webhook_whose_first_try_was_lost_is_delivered_by_the_sweep(
    receiver, inline, dropped, sweep
):
    outgoing.create_endpoint(url=receiver.url)
    [delivery], lost = dropped(
        outgoing.emit, event_type=outgoing.PIN_CHANGED, data={"pin": {"version": 1}}
    )
    assert lost == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 0 and delivery.next_attempt_at is not None  # the sweep sees it

    assert sweep(timedelta(seconds=10))["webhook deliveries"] == 0
    assert sweep(outgoing.LOST_AFTER + timedelta(seconds=1))["webhook deliveries"] == 1

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED and len(receiver.received) == 1


def test_a_pin_whose_pack_message_was_lost_gets_its_pack_from_the_sweep(
    character, user, inline, dropped, sweep
):
    image = ImageFactory(character=character, kind=Image.Kind.REFERENCE)
    (pin, created), lost = dropped(
        pins.pin_character, character=character, primary_image_id=image.id, pinned_by=user
    )
    # The pack's build, the pin.changed webhook, and the character's likeness rescore (the pin
    # is its identity now; characters.likeness.sweep picks a lost one up as a stale character).
    assert created and lost == 3
    assert pin.pack_status == Pin.PackStatus.BUILDING and not pin.pack

    assert sweep(timedelta(minutes=1))["pin packs"] == 0
    assert sweep(pins.PACK_LOST_AFTER + timedelta(seconds=1))["pin packs"] == 1

    pin.refresh_from_db()
    assert pin.pack_status == Pin.PackStatus.READY and pin.pack and pin.pack_sha256


def test_an_image_whose_likeness_message_was_lost_is_measured_by_the_sweep(
    character, inline, dropped, sweep
):
    photo = photo_file(calibration.photo("astronaut"), "astronaut.png")
    files = [SimpleUploadedFile("astronaut.png", photo.read(), content_type="image/png")]
    [upload], _ = dropped(ingest.receive, character=character, files=files)
    upload, lost = dropped(ingest.ingest_upload, upload_id=upload.id)
    assert lost == 1 and upload.outcome == Upload.Outcome.ACCEPTED  # its measuring was lost
    assert not ImageEmbedding.objects.filter(image=upload.image).exists()

    assert sweep(timedelta(seconds=30))["likeness measures"] == 0  # within its grace
    assert sweep(likeness_sweep.GRACE + timedelta(seconds=1))["likeness measures"] == 1

    assert ImageEmbedding.objects.filter(image=upload.image).count() == 2
    assert LikenessScore.objects.filter(image=upload.image, primary=True).exists()
    assert sweep(likeness_sweep.GRACE * 3)["likeness measures"] == 0  # done: never again


def test_a_character_whose_rescore_message_was_lost_is_scored_by_the_sweep(
    character, user, inline, dropped, sweep
):
    images = [
        ImageFactory(character=character, file=photo_file(calibration.photo(person)))
        for person in ("astronaut", "grace_hopper")
    ]
    for image in images:
        scoring.measure_image(image_id=image.id)
    assert sweep(timedelta(minutes=1))["likeness scores"] == 0  # scored against the identity

    _, lost = dropped(
        pick_anchor,
        character=character,
        pose_key=character.poses.first().key,
        image_id=images[0].id,
        picked_by=user,
    )
    assert lost == 1  # the rescore against the new sheet
    before = LikenessScore.objects.get(image=images[1], primary=True).reference
    assert sweep(timedelta(seconds=1))["likeness scores"] == 1

    after = LikenessScore.objects.get(image=images[1], primary=True).reference
    assert (before, after) == ("consensus", "sheet")
    assert sweep(timedelta(minutes=1))["likeness scores"] == 0
