"""Outgoing webhooks against hostile targets: internal addresses, names that answer differently
the second time, huge and trickling answers; and deliveries that hold nothing while they wait."""

import json
import socket
import threading

import pytest
from django.db import DatabaseError, connections, transaction

from tests.training.receiver import Receiver
from training import outgoing
from training.models import WebhookDelivery, WebhookEndpoint
from training.webhook_targets import is_public

pytestmark = pytest.mark.django_db


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # carrier-grade NAT
        "100.100.100.200",  # a cloud's metadata address, inside it
        "[fec0::1]",  # IPv6 site-local
        "[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
        "[::ffff:127.0.0.1]",
        "[ff02::1]",
        "127.0.0.1",
        "169.254.169.254",
        "10.0.0.1",
        "[::1]",
    ],
)
def test_only_globally_routable_addresses_may_be_registered(address):
    with pytest.raises(outgoing.WebhookRefused, match="internal address"):
        outgoing.create_endpoint(url=f"https://{address}/hook")
    assert not WebhookEndpoint.objects.exists()


def test_a_public_address_is_accepted():
    assert is_public("93.184.216.34") and is_public("2606:4700::1111")
    endpoint = outgoing.create_endpoint(url="https://93.184.216.34/hook")
    assert endpoint.url == "https://93.184.216.34/hook"


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"url": "https://93.184.216.34:99999/hook"}, "port"),
        ({"url": "https://93.184.216.34:abc/hook"}, "port"),
        ({"url": "https://93.184.216.34:0/hook"}, "port"),
        ({"url": "https://93.184.216.34/" + "a" * 600}, "at most 500"),
        ({"url": "https://93.184.216.34/hook", "description": "d" * 201}, "at most 200"),
    ],
)
def test_a_bad_port_or_an_overlong_field_answers_400_naming_it(api, payload, named):
    response = post(api, "/api/webhook-endpoints", payload)
    assert response.status_code == 400
    assert named in response.json()["detail"]
    assert not WebhookEndpoint.objects.exists()


def test_a_user_has_at_most_the_configured_number_of_endpoints(api, user, settings):
    settings.WEBHOOK_ENDPOINTS_PER_USER = 2
    for n in range(2):
        outgoing.create_endpoint(url=f"https://93.184.216.34/{n}", created_by=user)
    with pytest.raises(outgoing.TooManyEndpoints, match="2 webhook endpoints"):
        outgoing.create_endpoint(url="https://93.184.216.34/2", created_by=user)
    response = post(api, "/api/webhook-endpoints", {"url": "https://93.184.216.34/3"})
    assert response.status_code == 409
    assert "delete one first" in response.json()["detail"]
    assert WebhookEndpoint.objects.count() == 2


# --- Delivery ------------------------------------------------------------------------------
@pytest.fixture
def resolver(monkeypatch):
    """A DNS that answers `hooks.test` from a list (the last answer repeats), counting asks."""
    real = socket.getaddrinfo
    asked = []
    answers = ["127.0.0.1"]

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "hooks.test":
            asked.append(host)
            address = answers.pop(0) if len(answers) > 1 else answers[0]
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, asked


PUBLIC = "93.184.216.34"


@pytest.fixture
def network(monkeypatch):
    """The internet, as far as these tests go: a connection to PUBLIC lands on 127.0.0.1."""
    real = socket.create_connection

    def create_connection(address, *args, **kwargs):
        host, port = address[:2]
        return real(("127.0.0.1" if host == PUBLIC else host, port), *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)


def test_the_connection_goes_to_the_address_that_was_checked(resolver, network, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    answers, asked = resolver
    with Receiver() as public:
        port = public.server.server_address[1]
        with Receiver(host="127.0.0.2", port=port) as loopback:
            answers[:] = [PUBLIC]
            outgoing.create_endpoint(url=f"http://hooks.test:{port}/hook")
            [delivery] = outgoing.emit(outgoing.PIN_CHANGED, {})
            asked.clear()
            # The check sees a public address; a second lookup would see loopback.
            answers[:] = [PUBLIC, "127.0.0.2"]
            outgoing.deliver(delivery.id)

            assert len(public.received) == 1 and loopback.received == []
            assert asked == ["hooks.test"]  # looked up once
            assert public.received[0].headers["host"] == f"hooks.test:{port}"
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_a_name_that_turns_private_after_registration_is_refused_at_delivery(resolver, settings):
    answers, _ = resolver
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    answers[:] = ["93.184.216.34"]
    outgoing.create_endpoint(url="http://hooks.test/hook")
    answers[:] = ["100.100.100.200"]
    [delivery] = outgoing.emit(outgoing.PIN_CHANGED, {})
    outgoing.deliver(delivery.id)
    delivery.refresh_from_db()
    assert "internal address" in delivery.error and delivery.status == "pending"


def _run_with_a_bound(function, *args, bound=60):
    """Run `function` in a thread; fail (not hang) if it has not returned within `bound` s."""
    outcome = {}

    def run():
        try:
            outcome["result"] = function(*args)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"still running after {bound} s"
    return outcome["result"]


def test_a_huge_answer_is_not_read_beyond_a_few_kilobytes(webhooks_allowed, transactional_db):
    sent = {"bytes": 0, "cut": threading.Event()}
    size = 64 * 1024 * 1024

    def huge(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        chunk = b"x" * 65536
        try:
            while sent["bytes"] < size:
                handler.wfile.write(chunk)
                sent["bytes"] += len(chunk)
        except OSError:
            pass
        sent["cut"].set()

    with Receiver(answer=huge) as receiver:
        outgoing.create_endpoint(url=receiver.url)
        [delivery] = outgoing.emit(outgoing.PIN_CHANGED, {})
        _run_with_a_bound(outgoing.deliver, delivery.id)
        assert sent["cut"].wait(60)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.response_status == 200
    assert delivery.response_body == "x" * 500
    # The client hung up: what the kernel buffered is all that ever left the receiver.
    assert sent["bytes"] < size // 4


def test_a_trickling_answer_is_cut_at_the_total_deadline(
    webhooks_allowed, settings, transactional_db
):
    settings.WEBHOOK_DEADLINE_SECONDS = 1
    stop = threading.Event()

    def trickle(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        try:
            while not stop.wait(0.05):  # a byte now and then: no single read ever times out
                handler.wfile.write(b"x")
                handler.wfile.flush()
        except OSError:
            pass

    with Receiver(answer=trickle) as receiver:
        outgoing.create_endpoint(url=receiver.url)
        [delivery] = outgoing.emit(outgoing.PIN_CHANGED, {})
        try:
            retry_in = _run_with_a_bound(outgoing.deliver, delivery.id)
        finally:
            stop.set()
    delivery.refresh_from_db()
    assert retry_in == 30
    assert delivery.error == "The endpoint did not answer within 1 s."
    assert (delivery.status, delivery.attempts) == ("pending", 1)


def test_no_transaction_or_row_lock_is_held_while_the_endpoint_answers(
    webhooks_allowed, transactional_db
):
    seen = {}

    def look(handler):
        # Another worker (another connection) may lock and read the row meanwhile.
        try:
            with transaction.atomic():
                row = (
                    WebhookDelivery.objects.select_for_update(nowait=True)
                    .filter(event_type="pin.changed")
                    .get()
                )
                seen["attempts"] = row.attempts
        except DatabaseError as exc:
            seen["error"] = str(exc)
        finally:
            connections.close_all()
        handler.send_response(204)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with Receiver(answer=look) as receiver:
        outgoing.create_endpoint(url=receiver.url)
        [delivery] = outgoing.emit(outgoing.PIN_CHANGED, {})
        outgoing.deliver(delivery.id)
    assert seen == {"attempts": 1}  # the claim was committed before the request left
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_a_delivery_claimed_by_one_worker_is_not_sent_by_another(
    webhooks_allowed, transactional_db
):
    second = {}

    def answer(handler):
        second["result"] = outgoing.deliver(delivery.id)  # another worker, same message
        connections.close_all()
        handler.send_response(204)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with Receiver(answer=answer) as receiver:
        outgoing.create_endpoint(url=receiver.url)
        [delivery] = outgoing.emit(outgoing.PIN_CHANGED, {})
        outgoing.deliver(delivery.id)
    assert second == {"result": None} and len(receiver.received) == 1
