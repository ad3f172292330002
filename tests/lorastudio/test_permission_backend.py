"""A user's role and permissions: read together in one query per request, as Django's own
backend would give them, and a change of role counts at once."""

import importlib

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
)
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lorastudio.roles import (
    ARTIST,
    BROWSE,
    CURATE,
    DEFAULT_PERMISSIONS,
    LEAD,
    PIN,
    TRAIN,
    VIEWER,
    role_of,
    set_role,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _fresh(user):
    """The user as a request loads it."""
    return type(user).objects.get(pk=user.pk)


def test_the_role_and_every_permission_check_of_a_request_take_one_query():
    user = _fresh(UserFactory(role=ARTIST))
    with CaptureQueriesContext(connection) as queries:
        assert role_of(user) == ARTIST
        assert user.has_perm(CURATE)
        assert user.has_perm(BROWSE)
        assert not user.has_perm(TRAIN)
        assert user.get_all_permissions() == set(DEFAULT_PERMISSIONS[ARTIST])
    assert len(queries) == 1


def test_permissions_come_from_the_groups_and_the_users_own_as_djangos_backend_gives_them():
    user = UserFactory(role=VIEWER)
    pin = Permission.objects.get(content_type__app_label="lorastudio", codename="pin")
    user.user_permissions.add(pin)
    Group.objects.create(name="no permissions at all").user_set.add(user)
    user = _fresh(user)
    assert user.get_all_permissions() == {BROWSE, PIN}
    assert user.has_perm(PIN) and not user.has_perm(CURATE)
    assert role_of(user) == VIEWER


def test_a_user_without_a_group_has_no_role_and_no_permission():
    user = get_user_model().objects.create_user("nobody", password="x" * 20)
    assert role_of(user) is None
    assert user.get_all_permissions() == set()
    assert not user.has_perm(BROWSE)


def test_an_inactive_user_holds_nothing_and_a_superuser_holds_everything():
    inactive = UserFactory(role=LEAD, is_active=False)
    assert not _fresh(inactive).has_perm(BROWSE)
    assert _fresh(inactive).get_all_permissions() == set()
    boss = _fresh(UserFactory(is_superuser=True, is_staff=True))
    assert boss.has_perm(TRAIN)
    assert boss.get_all_permissions() >= set(DEFAULT_PERMISSIONS[LEAD])


def test_a_change_of_role_counts_at_once_on_the_same_user_object():
    user = _fresh(UserFactory(role=VIEWER))
    assert not user.has_perm(TRAIN)
    set_role(user=user, role=LEAD)
    assert user.has_perm(TRAIN)
    assert role_of(user) == LEAD
    set_role(user=user, role=ARTIST)
    assert not user.has_perm(TRAIN)
    assert role_of(user) == ARTIST


def test_a_permission_taken_from_a_group_in_the_admin_counts_from_the_next_request(client):
    user = UserFactory(role=ARTIST)
    client.force_login(user)
    assert client.get("/characters/new/").status_code == 200
    Group.objects.get(name=ARTIST).permissions.remove(
        Permission.objects.get(content_type__app_label="lorastudio", codename="edit_characters")
    )
    refused = client.get("/characters/new/")
    assert refused.status_code == 403
    assert "lorastudio.edit_characters" in refused.content.decode()


def test_a_session_logged_in_through_djangos_backend_stays_logged_in_after_the_migration(client):
    # Sessions name the backend that logged them in; Django drops a session whose backend is
    # no longer configured. The migration renames the old one's sessions.
    migration = importlib.import_module("lorastudio.migrations.0005_sessions_keep_their_login")
    user = UserFactory(role=ARTIST)
    old = SessionStore()
    old.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: migration.OLD})
    old[HASH_SESSION_KEY] = user.get_session_auth_hash()
    old.create()
    other = SessionStore()  # a session without a login is left alone
    other["theme"] = "dark"
    other.create()
    client.cookies["sessionid"] = old.session_key
    assert client.get("/characters/").status_code == 302  # logged out: the old name

    migration.forwards(django_apps, None)

    assert client.get("/characters/").status_code == 200
    assert SessionStore(old.session_key).load()[BACKEND_SESSION_KEY] == migration.NEW
    assert SessionStore(other.session_key).load() == {"theme": "dark"}
    migration.backwards(django_apps, None)
    assert SessionStore(old.session_key).load()[BACKEND_SESSION_KEY] == migration.OLD
