"""A run is paid once: the confirm page's one-time token and the API's Idempotency-Key."""

import json
import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from generation.models import GenerationRun
from lorastudio.models import IdempotencyKey
from tests.confirm_pages import price, token_of

ANCHORS = {"kind": "anchors", "poses": ["front"], "count": "2", "provider": "local"}


@pytest.fixture
def new_run(character):
    return reverse("generation:run_new", args=[character.slug])


def test_pricing_answers_with_the_confirm_page_as_an_address_that_is_never_stored(
    logged_in, new_run
):
    response = logged_in.post(new_run, ANCHORS)
    assert response.status_code == 303
    assert response["Location"].startswith(f"{new_run}?") and "once=" in response["Location"]
    page = logged_in.get(response["Location"])
    assert "Spend about $0.00?" in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    assert not GenerationRun.objects.exists()


def test_back_after_start_leads_to_the_run_it_started(logged_in, new_run):
    confirm_page = price(logged_in, new_run, ANCHORS)
    address = confirm_page.redirect_chain[-1][0]
    logged_in.post(new_run, {**ANCHORS, "confirm": "yes", "once": token_of(confirm_page)})
    run = GenerationRun.objects.get()

    back = logged_in.get(address, follow=True)  # Back: the browser asks again (no-store)
    assert back.redirect_chain[-1][0] == reverse("generation:run_detail", args=[run.id])
    assert f"Run #{run.id} was started from this page" in back.content.decode()
    assert "Nothing has been sent yet" not in back.content.decode()
    assert GenerationRun.objects.count() == 1


def test_start_pressed_twice_starts_one_run(logged_in, new_run):
    confirm_page = price(logged_in, new_run, ANCHORS)
    confirmed = {**ANCHORS, "confirm": "yes", "once": token_of(confirm_page)}
    first = logged_in.post(new_run, confirmed)
    second = logged_in.post(new_run, confirmed, follow=True)
    run = GenerationRun.objects.get()
    assert first.status_code == 302
    assert second.redirect_chain[0][0] == reverse("generation:run_detail", args=[run.id])
    assert f"Run #{run.id} was started from this page" in second.content.decode()


def test_a_start_without_a_token_shows_the_confirm_page_again(logged_in, new_run):
    response = logged_in.post(new_run, {**ANCHORS, "confirm": "yes"}, follow=True)
    assert "Spend about $0.00?" in response.content.decode()
    assert not GenerationRun.objects.exists()


def test_a_spent_token_with_other_settings_starts_nothing(logged_in, new_run):
    confirm_page = price(logged_in, new_run, ANCHORS)
    once = token_of(confirm_page)
    logged_in.post(new_run, {**ANCHORS, "confirm": "yes", "once": once})
    other = {**ANCHORS, "poses": ["back"], "confirm": "yes", "once": once}
    response = logged_in.post(new_run, other, follow=True)
    assert "was started from this page" in response.content.decode()
    assert GenerationRun.objects.count() == 1


def test_a_refused_start_leaves_the_token_unspent(logged_in, new_run, settings):
    confirm_page = price(logged_in, new_run, ANCHORS)
    once = token_of(confirm_page)
    settings.FAL_KEY = ""
    refused = {**ANCHORS, "provider": "fal", "confirm": "yes", "once": once}
    logged_in.post(new_run, refused)
    assert not IdempotencyKey.objects.exists()
    logged_in.post(new_run, {**ANCHORS, "confirm": "yes", "once": once})
    assert GenerationRun.objects.count() == 1


def test_failed_calls_sent_again_twice_make_one_retry_run(logged_in, character):
    from tests.generation.test_run_pages import failed_run

    run = failed_run(character)
    url = reverse("generation:run_retry", args=[run.id])
    confirm_page = price(logged_in, url)
    for _ in range(2):
        logged_in.post(url, {"confirm": "yes", "once": token_of(confirm_page)})
    assert GenerationRun.objects.exclude(id=run.id).count() == 1


# --- The API's Idempotency-Key ---------------------------------------------------------------
def _launch(api, character, body=None, key="run-key-1"):
    return api.post(
        f"/api/characters/{character.slug}/runs",
        body or {"kind": "anchors", "poses": ["front"], "count": 2, "provider": "local"},
        content_type="application/json",
        headers={"Idempotency-Key": key},
    )


def test_the_same_idempotency_key_returns_the_first_answer_and_starts_nothing(api, character):
    first = _launch(api, character)
    again = _launch(api, character)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert GenerationRun.objects.count() == 1
    other = _launch(api, character, key="run-key-2")
    assert other.json()["id"] != first.json()["id"]


def test_the_same_key_with_another_body_is_a_422(api, character):
    _launch(api, character)
    response = _launch(api, character, {"kind": "anchors", "poses": ["back"], "count": 2})
    assert response.status_code == 422
    assert "already used for another request" in response.json()["detail"]
    assert GenerationRun.objects.count() == 1


def test_a_refused_request_does_not_use_up_its_key(api, character):
    refused = _launch(api, character, {"kind": "anchors", "poses": ["nope"]})
    assert refused.status_code == 400
    assert _launch(api, character, {"kind": "anchors", "poses": ["nope"]}).status_code == 400
    assert not IdempotencyKey.objects.exists()


def test_keys_belong_to_their_user(api, character):
    from lorastudio.tokens import issue_api_token
    from tests.factories import UserFactory

    _launch(api, character)
    _, key = issue_api_token(user=UserFactory(), name="other")
    other = Client(headers={"Authorization": f"Bearer {key}"})
    assert _launch(other, character).status_code == 201
    assert GenerationRun.objects.count() == 2


def test_the_schema_documents_the_header_on_spending_posts(api):
    schema = api.get("/api/openapi.json").json()
    launch = schema["paths"]["/api/characters/{slug}/runs"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in launch["parameters"]]


# --- Two identical submits racing from two connections ----------------------------------------
def _waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot a transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _race(send):
    """Send two requests at once, each in a thread with its own connection. Runs are held at
    their first insert (a table lock in this connection) until both requests are in flight,
    so the two truly overlap; then they are let go together."""
    answers = [None, None]

    def work(n):
        try:
            answers[n] = send(n)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {GenerationRun._meta.db_table} IN EXCLUSIVE MODE")
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while _waiting_on_locks() < 2:  # both requests wait: one on the run, one on the key
            assert time.monotonic() < deadline, "the two requests never met"
            time.sleep(0.02)
    for thread in threads:
        thread.join(timeout=60)
    return answers


@pytest.fixture
def racing(transactional_db, eager_tasks, settings):
    settings.LOCAL_PROVIDER_DELAY = 0


def test_two_identical_starts_racing_from_two_connections_start_one_run(
    racing, user, character, new_run
):
    clients = [Client(), Client()]
    for client in clients:
        client.force_login(user)
    once = token_of(price(clients[0], new_run, ANCHORS))
    confirmed = {**ANCHORS, "confirm": "yes", "once": once}
    answers = _race(lambda n: clients[n].post(new_run, confirmed))
    run = GenerationRun.objects.get()
    assert sorted(a.status_code for a in answers) == [302, 303]
    assert {a["Location"] for a in answers} == {
        f"/characters/{character.slug}/",
        reverse("generation:run_detail", args=[run.id]),
    }


def test_two_identical_api_posts_racing_from_two_connections_start_one_run(racing, user, character):
    from lorastudio.tokens import issue_api_token

    _, key = issue_api_token(user=user, name="racing")
    clients = [Client(headers={"Authorization": f"Bearer {key}"}) for _ in range(2)]
    answers = _race(lambda n: _launch(clients[n], character, key="racing-key"))
    run = GenerationRun.objects.get()
    assert [a.status_code for a in answers] == [201, 201]
    assert {json.loads(a.content)["id"] for a in answers} == {run.id}
