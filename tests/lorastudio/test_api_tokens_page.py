"""A user makes and revokes their own API tokens on a page: the key is shown once."""

import re

from django.test import Client

from lorastudio.models import ApiToken
from lorastudio.tokens import issue_api_token
from tests.factories import UserFactory


def test_a_token_is_created_shown_once_and_opens_the_api(logged_in, user):
    page = logged_in.get("/account/api-tokens/")
    assert "Create a token" in page.content.decode()
    created = logged_in.post("/account/api-tokens/", {"name": "video pipeline"}, follow=True)
    html = created.content.decode()
    key = re.search(r'data-testid="token-key">(ls_[^<]+)<', html)[1]
    assert "no-store" in created["Cache-Control"]
    token = ApiToken.objects.get(user=user)
    assert token.name == "video pipeline" and key not in token.key_hash
    assert (
        Client(headers={"Authorization": f"Bearer {key}"}).get("/api/characters").status_code == 200
    )
    again = logged_in.get("/account/api-tokens/").content.decode()
    assert key not in again and f"{key[:8]}…" in again  # listed by its prefix only


def test_revoking_a_token_stops_it_at_once(logged_in, user):
    token, key = issue_api_token(user=user, name="old script")
    response = logged_in.post(f"/account/api-tokens/{token.id}/revoke/", follow=True)
    assert "“old script” revoked" in response.content.decode()
    assert (
        Client(headers={"Authorization": f"Bearer {key}"}).get("/api/characters").status_code == 401
    )


def test_someone_elses_token_is_neither_listed_nor_revocable(logged_in):
    theirs, _ = issue_api_token(user=UserFactory(), name="their pipeline")
    assert "their pipeline" not in logged_in.get("/account/api-tokens/").content.decode()
    assert logged_in.post(f"/account/api-tokens/{theirs.id}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_the_user_name_in_the_top_bar_leads_to_the_tokens(logged_in):
    html = logged_in.get("/characters/").content.decode()
    assert 'href="/account/api-tokens/"' in html
