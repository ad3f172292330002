"""One reply shape for refusals on the pages; the API has its own handler (lorastudio.api).

A page view lets a service's `Refusal` propagate (or returns `refused()` for a form it cannot
accept), and the answer is always the same:
- to htmx (and to scripts that send `HX-Request`): the refusal's status code, the message as
  plain text, and an `HX-Trigger` event `refused` carrying it, which static/js/refusals.js
  shows in the page's message list (htmx swaps nothing on a 4xx, so the page stays as it was);
- to a plain form post: the message as an error message, and back to a page: the one the
  request names (`next`), else the one its view names (`@goes_back_to`), else the one it came
  from (Referer), else home.

So a view never catches a refusal to flash it: it names where its refusals go back to, once.
"""

import json
from collections.abc import Callable

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from .errors import Refusal

BACK = "refusals_go_back_to"  # the view's attribute, and the request's once resolved


def goes_back_to(where: str | Callable[..., str], *arguments: str):
    """Name the page a view's refused form posts go back to: a URL name, reversed with those
    of the view's own URL `arguments` named, or a function of the request and all of them."""

    def back(request, **kwargs) -> str:
        if callable(where):
            return where(request, **kwargs)
        return reverse(where, kwargs={name: kwargs[name] for name in arguments} or None)

    def decorate(view):
        setattr(view, BACK, back)
        return view

    return decorate


def htmx_refusal(message: str, *, status: int = 400) -> HttpResponse:
    """The one reply an htmx request gets when it is refused."""
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    response["HX-Trigger"] = json.dumps({"refused": {"message": message}})
    return response


def refused(request, message: str, *, status: int = 400) -> HttpResponse:
    """The page's answer to a request a rule of the domain refused."""
    if request.headers.get("HX-Request") == "true":
        return htmx_refusal(message, status=status)
    messages.error(request, message)
    return redirect(_back(request))


def _back(request) -> str:
    # A confirm page asks with GET and carries `next` (the page the run was asked from).
    asked = request.POST if request.method == "POST" else request.GET
    for back in (
        asked.get("next", ""),
        getattr(request, BACK, ""),
        request.headers.get("Referer", ""),
    ):
        if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            return back
    return "/"


class RefusalMiddleware:
    """Answers a `Refusal` raised in a page view with `refused()`, and resolves where the
    view's refusals go back to before it runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        back = getattr(view_func, BACK, None)
        if back is not None:
            setattr(request, BACK, back(request, **view_kwargs))
        return None

    def process_exception(self, request, exception):
        if isinstance(exception, Refusal):
            response = refused(request, exception.message, status=exception.status_code)
            if "retry_after" in exception.extra:
                response["Retry-After"] = str(exception.extra["retry_after"])
            return response
        return None
