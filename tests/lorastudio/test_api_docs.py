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


# --- One schema for every error, one operation per path and method ------------------------
def _document(api) -> dict:
    return api.get("/api/openapi.json").json()


def test_the_schema_is_valid_openapi(api):
    from openapi_spec_validator import validate

    validate(_document(api))


def test_every_4xx_of_every_router_is_the_one_error_body(api):
    document = _document(api)
    refs = {
        response["content"]["application/json"]["schema"]["$ref"]
        for operations in document["paths"].values()
        for operation in operations.values()
        for status, response in operation["responses"].items()
        if status.startswith("4") and "content" in response
    }
    assert refs == {"#/components/schemas/Error"}
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["detail"] and error["properties"]["detail"]["type"] == "string"


def test_operation_ids_are_unique_and_an_upload_is_one_operation(api):
    from collections import Counter

    document = _document(api)
    ids = Counter(
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
    )
    assert [name for name, n in ids.items() if n > 1] == []
    from lorastudio.api import api as ninja_api

    uploads = [
        operation
        for router in (r for _, r in ninja_api._routers)
        for path, view in router.path_operations.items()
        if path == "/characters/{slug}/images"
        for operation in view.operations
        if "POST" in operation.methods
    ]
    assert len(uploads) == 1
