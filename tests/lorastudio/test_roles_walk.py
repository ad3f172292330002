"""Each role against every endpoint of the URL map, pages and API, with every method.

The endpoints come from the same walk as the anonymous one (test_anonymous_refused), so a
new endpoint is covered without touching this file, and must have its line in
lorastudio.access.RULES. A role without the permission an action asks for gets a 403 naming
it: pages through htmx (a plain form post goes back with the message, tested below), the
API through the role's own bearer token. A role that holds it is never refused with a 403
(the sample ids mostly answer 404, which is fine: the door was open). A method an endpoint
does not have answers 405 to everyone.
"""

import pytest
from django.test import Client

from lorastudio import access
from lorastudio.roles import ADMIN, ARTIST, DEFAULT_PERMISSIONS, LEAD, ROLES, VIEWER
from lorastudio.tokens import issue_api_token
from tests.factories import UserFactory
from tests.lorastudio.test_anonymous_refused import ENDPOINTS, METHODS, _sample_url

WALKED = sorted(r for r in ENDPOINTS if not r.startswith("admin/") and r not in access.OPEN)


def _holds(role: str, permission: str | None) -> bool:
    return permission is None or role == ADMIN or permission in DEFAULT_PERMISSIONS[role]


def _client(role: str, api: bool) -> Client:
    if role == ADMIN:
        user = UserFactory(username="boss", is_staff=True, is_superuser=True)
    else:
        user = UserFactory(username=f"a-{role}", role=role)
    if api:
        _, key = issue_api_token(user=user, name="walk")
        return Client(headers={"Authorization": f"Bearer {key}"}, raise_request_exception=False)
    client = Client(headers={"HX-Request": "true"}, raise_request_exception=False)
    client.force_login(user)
    return client


def test_every_route_of_the_map_says_what_it_asks_for():
    missing = [r for r in WALKED if r not in access.RULES]
    assert not missing, f"add these to lorastudio.access.RULES: {missing}"


def test_the_walk_covers_the_api_and_the_pages():
    assert "api/characters/<slug>/runs" in WALKED
    assert "api/budgets" in WALKED
    assert "runs/new/<slug:slug>/" in WALKED
    assert "training/loras/<int:lora_id>/approve/" in WALKED


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", WALKED)
def test_each_role_may_do_what_its_permissions_allow_and_nothing_else(route, role):
    api = route.startswith("api/")
    client = _client(role, api)
    url = _sample_url(route)
    for method in METHODS:
        permission = access.required_permission(route, method)
        response = client.generic(method, url, b"{}", content_type="application/json")
        where = f"{role}: {method} {url} answered {response.status_code}"
        if _holds(role, permission):
            assert response.status_code != 403, where
            continue
        if response.status_code == 405:
            # No such method on this endpoint: it answers 405 to an admin as well.
            admin = _client(ADMIN, api).generic(method, url, b"{}", content_type="application/json")
            assert admin.status_code == 405, where
            continue
        assert response.status_code == 403, where
        text = response.json()["detail"] if api else response.content.decode()
        assert permission in text, where
        if api:
            assert response.json()["permission"] == permission


@pytest.mark.django_db
def test_a_viewer_posting_a_form_goes_back_with_the_permission_named(client, character):
    client.force_login(UserFactory(username="looker", role=VIEWER))
    page = character.get_absolute_url()
    response = client.post(
        f"/runs/new/{character.slug}/", {"kind": "anchors"}, headers={"Referer": page}
    )
    assert response.status_code == 302 and response["Location"].endswith(page)
    shown = client.get(page).content.decode()
    assert "lorastudio.launch_runs" in shown
    assert not character.runs.exists()


@pytest.mark.django_db
def test_a_viewer_opening_a_page_for_leads_is_told_why(client):
    client.force_login(UserFactory(username="looker", role=VIEWER))
    response = client.get("/training/new/")
    assert response.status_code == 403
    assert "lorastudio.train" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (VIEWER, ["lorastudio.browse"]),
        (ARTIST, sorted(DEFAULT_PERMISSIONS[ARTIST])),
        (LEAD, sorted(DEFAULT_PERMISSIONS[LEAD])),
    ],
)
def test_api_me_says_who_and_what(role, expected):
    me = _client(role, api=True).get("/api/me").json()
    assert me["username"] == f"a-{role}"
    assert me["role"] == role
    assert me["permissions"] == expected


@pytest.mark.django_db
def test_an_admin_holds_every_permission_of_the_studio():
    me = _client(ADMIN, api=True).get("/api/me").json()
    assert me["role"] == ADMIN
    assert access.ADMINISTER in me["permissions"]


@pytest.mark.django_db
def test_the_demo_login_is_a_lead_and_set_role_makes_each_kind():
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from lorastudio.roles import role_of

    call_command("ensure_demo_user", stdout=None)
    demo = get_user_model().objects.get(username="demo")
    assert role_of(demo) == LEAD and not demo.is_staff
    for role in ROLES:
        call_command("set_role", "demo", role)
        demo = get_user_model().objects.get(username="demo")
        assert role_of(demo) == role
        assert demo.is_staff is (role == ADMIN)
