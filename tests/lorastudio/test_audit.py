"""The audit trail: who, when, what and from where, for what matters; never editable."""

from decimal import Decimal

import pytest

from generation import budgets, runs
from lorastudio.models import AuditEvent
from lorastudio.roles import set_role
from tests.factories import UserFactory

Action = AuditEvent.Action


@pytest.mark.django_db
def test_a_launch_through_the_api_is_recorded_with_its_cost_user_and_address(
    api, character, user, settings
):
    settings.FAL_KEY = "key"
    response = api.post(
        f"/api/characters/{character.slug}/runs",
        {"kind": "anchors", "provider": "fal", "poses": ["front"], "count": 5},
        content_type="application/json",
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 201
    event = AuditEvent.objects.get(action=Action.RUN_LAUNCHED)
    assert event.actor == user and event.actor_name == user.username
    assert event.cost == Decimal("0.30") and event.address == "203.0.113.9"
    assert event.target == f"run:{response.json()['id']}"


@pytest.mark.django_db
def test_cancel_bulk_review_roles_and_tokens_are_recorded(logged_in, character, user, settings):
    from tests.factories import ImageFactory

    settings.FAL_KEY = "key"
    plan = runs.plan_run(character=character, kind="anchors", provider="fal", poses=["front"])
    run = runs.launch_run(plan=plan, character=character, created_by=user, params={})
    logged_in.post(f"/runs/{run.id}/cancel/")
    image = ImageFactory(character=character)
    logged_in.post(
        f"/characters/{character.slug}/images/bulk-review/",
        {"image": [image.id], "review": "approved"},
    )
    set_role(user=UserFactory(username="newcomer", role="viewer"), role="artist")
    from lorastudio.tokens import issue_api_token, revoke_api_tokens

    token, _ = issue_api_token(user=user, name="pipeline")
    revoke_api_tokens(type(token).objects.filter(pk=token.pk))
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    for action in (
        Action.RUN_CANCELED,
        Action.IMAGES_REVIEWED,
        Action.ROLE_CHANGED,
        Action.TOKEN_MADE,
        Action.TOKEN_REVOKED,
    ):
        assert action in actions, action
    canceled = AuditEvent.objects.get(action=Action.RUN_CANCELED)
    assert canceled.actor == user and canceled.address == "127.0.0.1"


@pytest.mark.django_db
def test_the_admin_lists_the_trail_but_cannot_change_it(client, user):
    budgets.set_budget(by=user, monthly_limit=Decimal("5"))
    event = AuditEvent.objects.get(action=Action.BUDGET_CHANGED)
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    listing = client.get("/admin/lorastudio/auditevent/?action=budget.changed")
    assert listing.status_code == 200 and "monthly limit" in listing.content.decode()
    assert client.get("/admin/lorastudio/auditevent/add/").status_code == 403
    client.post(f"/admin/lorastudio/auditevent/{event.pk}/change/", {"summary": "nothing"})
    client.post(f"/admin/lorastudio/auditevent/{event.pk}/delete/", {"post": "yes"})
    event.refresh_from_db()
    assert "monthly limit" in event.summary


@pytest.mark.django_db
def test_failed_logins_stay_on_record_after_a_good_login(client, user):
    from axes.models import AccessFailureLog

    client.post("/login/", {"username": user.username, "password": "wrong"})
    client.post("/login/", {"username": user.username, "password": "correct horse battery"})
    [failure] = AccessFailureLog.objects.all()
    assert failure.username == user.username and failure.ip_address == "127.0.0.1"
