"""One reply shape for refusals on the pages; the API has its own handler (lorastudio.api).

A page view lets a service's `Refusal` propagate (or calls `refused()` for a form it cannot
accept), and the answer is always the same:
- to htmx (and to scripts that send `HX-Request`): the refusal's status code, the message as
  plain text, and an `HX-Trigger` event `refused` carrying it, which static/js/refusals.js
  shows in the page's message list (htmx swaps nothing on a 4xx, so the page stays as it was);
- to a plain form post: the message as an error message, and back to the page it came from.
"""

import json

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

from .errors import Refusal


def refused(request, message: str, *, status: int = 400) -> HttpResponse:
    """The page's answer to a request a rule of the domain refused."""
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
        response["HX-Trigger"] = json.dumps({"refused": {"message": message}})
        return response
    messages.error(request, message)
    # A confirm page posts `next` (the page the run was asked from): its own URL, the
    # Referer, only answers POST.
    for back in (request.POST.get("next", ""), request.headers.get("Referer", "")):
        if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            return redirect(back)
    return redirect("/")


class RefusalMiddleware:
    """Answers a `Refusal` raised in a page view with `refused()`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, Refusal):
            response = refused(request, exception.message, status=exception.status_code)
            if "retry_after" in exception.extra:
                response["Retry-After"] = str(exception.extra["retry_after"])
            return response
        return None
