"""Outgoing webhooks: signed the Standard Webhooks way, retried with backoff, logged."""

import json

import pytest
import time_machine
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from characters.models import Image
from tests.factories import ImageFactory
from tests.training.receiver import Receiver
from training import outgoing, pins, services
from training.models import WebhookDelivery

pytestmark = pytest.mark.usefixtures("webhooks_allowed")


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def test_a_pin_change_arrives_signed_and_verifiable(receiver, character, user, eager_tasks):
    endpoint = outgoing.create_endpoint(url=receiver.url, events=["pin.changed"])
    image = ImageFactory(character=character, kind=Image.Kind.REFERENCE)
    pins.pin_character(character=character, primary_image_id=image.id, pinned_by=user)
    arrived = receiver.wait_for(1)[0]
    event = Webhook(endpoint.secret).verify(arrived.body, arrived.headers)
    assert event["type"] == "pin.changed"
    assert event["data"]["pin"]["version"] == 1
    assert event["data"]["character"]["trigger_word"] == "fitmannequin"
    assert arrived.headers["webhook-id"].startswith("msg_")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 204)


def test_a_tampered_body_does_not_verify(receiver, character, user, eager_tasks):
    endpoint = outgoing.create_endpoint(url=receiver.url)
    image = ImageFactory(character=character)
    pins.pin_character(character=character, primary_image_id=image.id, pinned_by=user)
    arrived = receiver.wait_for(1)[0]
    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(arrived.body.replace(b"1", b"2"), arrived.headers)


def test_a_failing_endpoint_is_retried_with_backoff_then_given_up(receiver, db):
    receiver.statuses = [500] * 10
    outgoing.create_endpoint(url=receiver.url)
    [delivery] = outgoing.emit(outgoing.TRAINING_ENDED, {"training_job": {"id": 1}})
    assert outgoing.deliver(delivery.id) == 30
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("pending", 1, 500)
    assert "HTTP 500" in delivery.error
    assert outgoing.deliver(delivery.id) is None  # not due yet: nothing is sent
    assert len(receiver.received) == 1
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for attempt in range(2, outgoing.MAX_ATTEMPTS + 1):
            traveller.shift(4**attempt * 30)
            delivery.refresh_from_db()
            assert delivery.next_attempt_at <= timezone.now()  # due: the sweep would send it
            outgoing.deliver(delivery.id)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", outgoing.MAX_ATTEMPTS)
    assert len(receiver.received) == outgoing.MAX_ATTEMPTS
    # The same message id every time, so the receiver can drop duplicates.
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1


def test_a_failed_delivery_can_be_sent_again_and_then_arrives(receiver, db, eager_tasks):
    receiver.statuses = [503]
    outgoing.create_endpoint(url=receiver.url)
    [delivery] = outgoing.emit(outgoing.PIN_CHANGED, {"pin": {"version": 1}})
    outgoing.deliver(delivery.id)
    WebhookDelivery.objects.filter(id=delivery.id).update(status="failed")
    outgoing.redeliver(delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and len(receiver.received) == 2


def test_private_targets_are_refused_at_delivery_time_too(receiver, db, settings):
    outgoing.create_endpoint(url=receiver.url)
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    [delivery] = outgoing.emit(outgoing.PIN_CHANGED, {})
    outgoing.deliver(delivery.id)
    delivery.refresh_from_db()
    assert "private" in delivery.error and not receiver.received


def test_an_endpoint_hears_only_the_events_it_asked_for(receiver, db):
    outgoing.create_endpoint(url=receiver.url, events=["training.ended"])
    assert outgoing.emit(outgoing.PIN_CHANGED, {}) == []
    assert len(outgoing.emit(outgoing.TRAINING_ENDED, {})) == 1


def test_a_training_that_ends_sends_training_ended_once(
    receiver, export, user, settings, eager_tasks, finish
):
    settings.LOCAL_PROVIDER_DELAY = 0
    outgoing.create_endpoint(url=receiver.url)
    job = finish(
        services.launch_training(
            plan=services.plan_training(export=export, provider="local"), created_by=user
        )
    )
    services.sync_job(job.id)
    arrived = receiver.wait_for(1)
    assert len(arrived) == 1
    event = json.loads(arrived[0].body)
    assert event["type"] == "training.ended"
    assert event["data"]["training_job"]["status"] == "succeeded"
    assert event["data"]["lora"]["version"] == 1
