"""Confirm pages: "Spend about $X?" shown before a run, a caption run, a training, a
reference set or a retry starts. Each one is made safe to come back to:

- a pricing POST is answered with a redirect to the confirm page as a GET whose address
  holds its parameters and a one-time token (`once`), so Back and reload ask the server
  again instead of showing a stale "Nothing has been sent yet";
- the page is `Cache-Control: no-store`;
- its Start button sends the token; the first submit starts the work (through
  lorastudio.idempotency, the API's mechanism too), any later one — Back, a second tab, a
  double click, a racing duplicate — leads to what the first started: "Run #2 was started
  from this page".

A view uses it in three calls: `already_started` first, `page` to show the confirm page,
`start_once` to launch once confirmed.
"""

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers

from . import idempotency
from .idempotency import KeyReused, Outcome, Spent

TOKEN = "once"
# Never part of what is asked: the token itself, CSRF, the confirm flag, htmx's own fields.
NOT_ASKED = {TOKEN, "csrfmiddlewaretoken", "confirm", "action"}


def data(request) -> QueryDict:
    """The page's parameters: the form on a POST, the address on the confirm page's GET."""
    return request.POST if request.method == "POST" else request.GET


def token(request) -> str:
    return data(request).get(TOKEN, "").strip()


def _redirect_303(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response.status_code = 303  # after a POST: the browser follows with a GET
    return response


def already_started(request) -> HttpResponse | None:
    """When the request's token already started something: go to it, saying so."""
    row = idempotency.started_by(user=request.user, key=token(request))
    if row is None:
        return None
    messages.info(request, f"{row.label} was started from this page: nothing new was started.")
    return _redirect_303(row.url)


def with_token(request) -> HttpResponse | None:
    """A page that is itself the confirm form (training): make sure its address carries a
    token, so coming back to it after Start leads to what it started."""
    if request.method != "GET" or token(request) or request.htmx:
        return None
    query = request.GET.copy()
    query[TOKEN] = idempotency.new_token()
    return redirect(f"{request.path}?{query.urlencode()}")


def no_store(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)  # no-cache, no-store, must-revalidate, private
    return response


def page(request, template: str, context: dict) -> HttpResponse:
    """The confirm page. A POST (the pricing form) is redirected to it as a GET carrying the
    parameters and a new token; the GET renders it, never to be stored."""
    if request.method == "POST" or not token(request):
        query = data(request).copy()
        for name in ("csrfmiddlewaretoken", "confirm"):
            query.pop(name, None)
        query[TOKEN] = token(request) or idempotency.new_token()
        return _redirect_303(f"{request.path}?{query.urlencode()}")
    context = {**context, "once": token(request)}
    return no_store(render(request, template, context))


def confirmed(request) -> bool:
    """The confirm page's Start was pressed, with its token (a confirm without a token shows
    the confirm page again, with one)."""
    return (
        request.method == "POST" and request.POST.get("confirm") == "yes" and bool(token(request))
    )


def asked(request, scope: str) -> str:
    """The fingerprint of what the confirm form asks for."""
    fields = data(request)
    return idempotency.fingerprint(
        scope, sorted((k, fields.getlist(k)) for k in fields if k not in NOT_ASKED)
    )


def start_once(request, *, scope: str, start: Callable[[], Outcome]) -> Spent | HttpResponse:
    """Launch once per token. The first submit gets the `Spent` it started; a later one (or
    one racing it) a redirect to what the first started."""
    try:
        spent = idempotency.spend_once(
            user=request.user,
            key=token(request),
            fingerprint=asked(request, scope),
            start=start,
        )
    except KeyReused:
        return already_started(request)
    if not spent.first:
        return already_started(request)
    return spent
