"""Signed, expiring links to media files, and the view that serves them.

A link carries the file name, an expiry and an HMAC over both (Django's signing, keyed by
SECRET_KEY). Logged-in users may open any media path; everyone else needs a valid link,
which is what providers and downstream pipelines get.
"""

import mimetypes
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseForbidden
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_GET

_signer = signing.Signer(salt="lorastudio.media")


def _signature(name: str, expires: int) -> str:
    return _signer.signature(f"{name}:{expires}")


def signed_media_url(
    name: str, *, ttl: int | None = None, absolute: bool = False, expires: int | None = None
) -> str:
    """A link to `name` that works without a session until it expires (`ttl` seconds from
    now, or at the unix time `expires`)."""
    if expires is None:
        expires = int(time.time()) + (ttl if ttl is not None else settings.MEDIA_URL_TTL)
    query = urlencode({"expires": expires, "sig": _signature(name, expires)})
    path = f"{reverse('media', kwargs={'path': name})}?{query}"
    if absolute and settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + path
    return path


def link_is_valid(name: str, expires: str | None, sig: str | None) -> bool:
    if not expires or not sig or not expires.isdigit():
        return False
    if int(expires) < time.time():
        return False
    return constant_time_compare(sig, _signature(name, int(expires)))


@login_not_required
@require_GET
def serve_media(request, path: str):
    """Stream a media file to a logged-in user or to the holder of a valid signed link."""
    expires = request.GET.get("expires")
    signed = link_is_valid(path, expires, request.GET.get("sig"))
    if not signed and not request.user.is_authenticated:
        return HttpResponseForbidden("This media link is invalid or has expired.")
    if ".." in path.split("/") or not default_storage.exists(path):
        raise Http404("No such file.")
    try:
        stored = default_storage.open(path, "rb")
    except (IsADirectoryError, NotADirectoryError, FileNotFoundError):
        # A folder exists for the local storage but is not a file to serve.
        raise Http404("No such file.") from None
    content_type, _ = mimetypes.guess_type(path)
    response = FileResponse(stored, content_type=content_type or "application/octet-stream")
    # Never cache past the link's own expiry.
    max_age = min(int(expires) - int(time.time()), 3600) if signed else 300
    response["Cache-Control"] = f"private, max-age={max(max_age, 0)}"
    response["X-Content-Type-Options"] = "nosniff"
    return response
