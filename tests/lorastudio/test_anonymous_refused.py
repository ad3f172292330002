"""Nobody anonymous changes or spends anything: every endpoint of the URL map, pages and API.

The endpoints are read from the URL resolver (the API's operations included, as Ninja mounts
them there), so an endpoint added later is covered without touching this file. Each is asked
with every method by an anonymous client; the answer must be a refusal: 302 to a login page
for pages, 401 for the API, 405 for a method the endpoint does not have. The few public
endpoints are listed with what they answer instead, and why they are public.
"""

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils.regex_helper import normalize

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
LOGIN_PAGES = ("/login/", "/admin/login/")

# route (as the resolver spells it) -> why it is public and the statuses it may answer.
PUBLIC = {
    "login/": ("the login form itself", {200, 405}),
    "logout/": ("logging out nobody changes nothing", {302, 405}),
    "healthz": ("load balancers read it", {200, 503, 405}),
    "media/<path:path>": ("a signed link is the credential", {403, 404, 405}),
    "webhooks/fal": ("a valid signature is the credential", {400, 401, 405}),
    "webhooks/replicate": ("a valid signature is the credential", {400, 401, 405}),
    "api/": ("the API's root: a 404 naming the docs", {404}),
    "admin/login/": ("the admin's login form", {200, 405}),
    "admin/logout/": ("logging out nobody changes nothing", {200, 302, 405}),
}
SAMPLES = ["1", str(uuid.UUID(int=1)), "x"]


def _routes(patterns, route="", regex=""):
    """(route, regex, pattern) of every endpoint, through every include."""
    for pattern in patterns:
        here = pattern.pattern.regex.pattern.removeprefix("^").removesuffix("\\Z")
        here = here.removesuffix("$")
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route + str(pattern.pattern), regex + here)
        elif isinstance(pattern, URLPattern):
            yield route + str(pattern.pattern), regex + here, pattern


def _sample_url(route: str) -> str:
    """A concrete URL that the resolver sends to this route's view, whatever its converters."""
    regex, pattern = ENDPOINTS[route]
    for form, params in normalize(regex):
        for sample in SAMPLES:
            url = "/" + form % {name: _literal(regex, name) or sample for name in params}
            try:
                match = resolve(url)
            except Resolver404:
                continue
            if match.func is pattern.callback:
                return url
    raise AssertionError(f"cannot build a URL for {route}")


def _literal(regex: str, name: str) -> str | None:
    """The first choice of a group that is a list of words, e.g. the admin's app labels."""
    choices = re.search(rf"\(\?P<{name}>([\w|]+)\)", regex)
    return choices.group(1).split("|")[0] if choices else None


ENDPOINTS: dict[str, tuple[str, URLPattern]] = {}
for _route, _regex, _pattern in _routes(get_resolver().url_patterns):
    # Ninja mounts one pattern per operation; the first of a path serves all its methods.
    ENDPOINTS.setdefault(_route, (_regex, _pattern))


def test_the_map_holds_the_endpoints_that_spend_or_change_things():
    # Guards against an empty walk: these must be among the parametrized routes.
    for route in [
        "api/characters/<slug>/runs",
        "api/runs/<run_id>/cancel",
        "api/calls/<call_id>/retry",
        "api/characters/<slug>/anchors/<pose>",
        "api/images/<image_id>",
        "runs/new/<slug:slug>/",
        "runs/<int:run_id>/cancel/",
        "runs/calls/<uuid:call_id>/retry/",
        "characters/<slug:slug>/anchors/<slug:pose>/",
        "characters/<slug:slug>/images/<int:image_id>/review/",
        "characters/<slug:slug>/images/bulk-review/",
    ]:
        assert route in ENDPOINTS, route


@pytest.mark.django_db
@pytest.mark.parametrize("route", sorted(ENDPOINTS))
def test_an_anonymous_client_is_refused(client, route):
    url = _sample_url(route)
    for method in METHODS:
        response = client.generic(method, url, b"{}", content_type="application/json")
        status = response.status_code
        where = f"{method} {url} answered {status}"
        if route in PUBLIC:
            assert status in PUBLIC[route][1], where
        elif route.startswith("api/") and status != 302:
            assert status in (401, 405), where
            if status == 401:
                assert response.json() == {"detail": "Unauthorized"}
        else:
            assert status == 302, where
            assert response["Location"].startswith(LOGIN_PAGES), where
