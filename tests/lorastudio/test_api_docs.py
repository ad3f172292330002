"""The API's schema and docs page: for the browser session or a bearer token, nobody else."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/api/openapi.json", "/api/docs"])
def test_the_schema_and_docs_accept_a_bearer_token(api, url):
    assert api.get(url).status_code == 200


@pytest.mark.parametrize("url", ["/api/openapi.json", "/api/docs"])
def test_the_schema_and_docs_accept_the_session(logged_in, url):
    assert logged_in.get(url).status_code == 200


def test_a_wrong_token_gets_401_for_the_schema(client):
    response = client.get("/api/openapi.json", headers={"Authorization": "Bearer ls_nope"})
    assert response.status_code == 401


def test_anonymous_readers_of_the_docs_are_sent_to_log_in(client):
    response = client.get("/api/docs")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert client.get("/api/openapi.json").status_code == 401
