import pytest


@pytest.mark.django_db
def test_healthz_answers_without_login_when_database_and_redis_are_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert (body["ok"], body["database"], body["redis"]) == (True, "ok", "ok")


@pytest.mark.django_db
def test_healthz_reports_503_and_says_why_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["redis"].startswith("error: ConnectionError")
    assert body["database"] == "ok"
