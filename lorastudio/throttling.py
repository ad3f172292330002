"""Login throttling (django-axes): the site login, the admin login and the API's bearer tokens.

Failures are counted per username and IP address: after AXES_FAILURE_LIMIT in a row, that
username is locked out from that address for AXES_COOLOFF_TIME. A wrong bearer token has no
username, so all of an address's wrong tokens count under one name no real user can have
(usernames never hold spaces or angle brackets): tokens are throttled by IP address.
"""

from datetime import timedelta

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.http import JsonResponse
from django.shortcuts import render

from .errors import Refusal

API_TOKEN_USERNAME = "<API token>"
_TOKEN_CREDENTIALS = {"username": API_TOKEN_USERNAME}


class TooManyAttempts(Refusal):
    status_code = 429


def _minutes() -> int:
    cooloff = settings.AXES_COOLOFF_TIME or timedelta(0)
    return max(1, round(cooloff.total_seconds() / 60))


def lockout_message() -> str:
    return f"Too many failed attempts from this address: try again in {_minutes()} minutes."


def check_token_attempts(request) -> None:
    """Refuse every bearer token from an address that sent too many wrong ones."""
    if not AxesProxyHandler.is_allowed(request, _TOKEN_CREDENTIALS):
        raise TooManyAttempts(lockout_message())


def token_refused(request) -> None:
    """Count a wrong bearer token against the request's address."""
    user_login_failed.send(sender=__name__, credentials=_TOKEN_CREDENTIALS, request=request)


def lockout_response(request, original_response=None, credentials=None):
    """What a locked-out login gets: JSON for the API, the lockout page for the site."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": lockout_message()}, status=429)
    username = (credentials or {}).get("username", "")
    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": _minutes(),
        "username": "" if username == API_TOKEN_USERNAME else username,
    }
    return render(request, "registration/locked_out.html", context, status=429)
