"""Login throttling: wrong passwords and wrong API tokens lock out from one address, a while."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from lorastudio.tokens import issue_api_token
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-right-password"


@pytest.fixture(autouse=True)
def _no_attempts_left_over():
    # Attempts live in the database (rolled back after each test); start from none regardless.
    AccessAttempt.objects.all().delete()


@pytest.fixture
def member():
    user = UserFactory(username="member", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(client, url="/login/", password=PASSWORD, username="member"):
    return client.post(url, {"username": username, "password": password})


def test_five_wrong_passwords_lock_the_username_out_from_that_address(client, member):
    for _ in range(4):
        assert log_in(client, password="wrong").status_code == 200  # the form, with its error
    fifth = log_in(client, password="wrong")
    assert fifth.status_code == 429
    assert "Too many failed logins" in fifth.content.decode()
    locked = log_in(client)  # even the right password, now
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_ends_after_fifteen_minutes(client, member, time_machine):
    for _ in range(5):
        log_in(client, password="wrong")
    time_machine.move_to(timezone.now() + timedelta(minutes=16))
    assert log_in(client).status_code == 302


def test_another_address_or_another_username_is_not_locked_out(client, member):
    for _ in range(5):
        log_in(client, password="wrong")
    assert log_in(Client(REMOTE_ADDR="10.0.0.9")).status_code == 302
    other = UserFactory(username="other")
    other.set_password(PASSWORD)
    other.save()
    assert log_in(client, username="other").status_code == 302


def test_a_right_password_resets_the_count(client, member):
    for _ in range(4):
        log_in(client, password="wrong")
    assert log_in(client).status_code == 302
    client.logout()
    for _ in range(4):
        assert log_in(client, password="wrong").status_code == 200


def test_the_admin_login_is_throttled_too(client, member):
    for _ in range(5):
        response = log_in(client, url="/admin/login/", password="wrong")
    assert response.status_code == 429
    assert log_in(client, url="/admin/login/").status_code == 429


def test_wrong_api_tokens_lock_the_address_out(user):
    _, key = issue_api_token(user=user, name="tests")
    guesser = Client(headers={"Authorization": "Bearer ls_guess"})
    statuses = [guesser.get("/api/presets").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    response = Client(headers={"Authorization": f"Bearer {key}"}).get("/api/presets")
    assert response.status_code == 429
    assert "try again in 15 minutes" in response.json()["detail"]
    elsewhere = Client(REMOTE_ADDR="10.0.0.9", headers={"Authorization": f"Bearer {key}"})
    assert elsewhere.get("/api/presets").status_code == 200


def test_logins_made_by_the_test_suite_itself_still_work(client, member):
    client.force_login(member)
    assert client.get("/characters/").status_code == 200
