"""Pages offer no button a role cannot use (the server refuses them anyway: test_roles_walk)."""

import pytest

from tests.factories import UserFactory


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "offered"),
    [("viewer", False), ("artist", True), ("lead", True)],
)
def test_the_anchor_board_offers_pricing_a_run_only_to_roles_that_may_launch(
    client, character, role, offered
):
    client.force_login(UserFactory(username=f"u-{role}", role=role))
    page = client.get(f"/characters/{character.slug}/anchors/").content.decode()
    assert ("Price this run…" in page) is offered


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "offered"), [("artist", False), ("lead", True)])
def test_the_training_list_offers_new_training_and_webhooks_to_leads(client, role, offered):
    client.force_login(UserFactory(username=f"u-{role}", role=role))
    page = client.get("/training/").content.decode()
    assert ("New training" in page) is offered
    assert ("Webhooks</a>" in page) is offered


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "offered"), [("viewer", False), ("artist", True)])
def test_the_character_list_offers_a_new_character_to_artists(client, role, offered):
    client.force_login(UserFactory(username=f"u-{role}", role=role))
    page = client.get("/characters/").content.decode()
    assert (">New character</a>" in page) is offered
    assert f'data-testid="role">{role}<' in page


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "offered"), [("artist", False), ("lead", True)])
def test_the_usage_page_is_in_the_nav_of_leads(client, role, offered):
    client.force_login(UserFactory(username=f"u-{role}", role=role))
    page = client.get("/characters/").content.decode()
    assert ('data-testid="nav-usage"' in page) is offered
