"""Refuse a NUL character in any request input, once for the whole site.

PostgreSQL text cannot hold NUL, so one that reaches a query or a save is a 500. Django's form
fields refuse it already; the JSON API, query strings, paths and webhook bodies do not. This
middleware answers 400 naming the field before any view runs: the path, a query parameter, a
form field, or a JSON body's field (`variations[2]`, `payload.caption`): in JSON for the API, in
the pages' one htmx refusal (lorastudio.refusals) for htmx, as a plain 400 page otherwise. File
uploads are left to their ingest, which reads bytes, not text.
"""

import json

from django.http import HttpResponseBadRequest, JsonResponse

from .refusals import htmx_refusal

NUL = "\x00"
_JSON_MARKERS = (b"\\u0000", b"\x00")


def _shown(name: str) -> str:
    return name.replace(NUL, "\\u0000")[:100]


def nul_field_in_json(value, path: str = "") -> str | None:
    """The path of the first string (or key) in `value` holding a NUL, or None."""
    if isinstance(value, str):
        return (path or "body") if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return where
            found = nul_field_in_json(item, where)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_field_in_json(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _in_query(query) -> str | None:
    for key, values in query.lists():
        if NUL in key or any(NUL in value for value in values):
            return key
    return None


def nul_field(request) -> str | None:
    """Where in the request a NUL character is, or None."""
    if NUL in request.path_info:
        return "path"
    found = _in_query(request.GET)
    if found is not None:
        return found
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    content_type = request.content_type or ""
    if content_type == "application/x-www-form-urlencoded":
        return _in_query(request.POST)
    if content_type == "application/json" or content_type.endswith("+json"):
        body = request.body
        if not any(marker in body for marker in _JSON_MARKERS):
            return None  # the common case: no parsing twice
        try:
            return nul_field_in_json(json.loads(body))
        except ValueError:
            return None  # not JSON: the view says so
    return None


class RefuseNulBytesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        field = nul_field(request)
        if field is None:
            return self.get_response(request)
        message = f"“{_shown(field)}” contains a NUL character (\\u0000), which is not allowed."
        if request.path_info.startswith(("/api/", "/webhooks/")):
            return JsonResponse({"detail": message, "field": _shown(field)}, status=400)
        if request.headers.get("HX-Request") == "true":
            # The pages' one htmx refusal: htmx swaps nothing on a 400, the event shows why.
            return htmx_refusal(message, status=400)
        # No session or messages yet (this runs first): the message is the page.
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
