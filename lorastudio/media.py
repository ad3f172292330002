"""Signed, expiring links to media files, and the view that serves them.

A link carries the file name, an expiry and an HMAC over both (Django's signing, keyed by
SECRET_KEY). Logged-in users may open any media path; everyone else needs a valid link,
which is what providers and downstream pipelines get.

Django checks the link; the bytes go another way where they can (media off the web tier):
- S3: a redirect to a presigned URL of the object, valid for MEDIA_PRESIGN_TTL seconds;
- local storage behind nginx (MEDIA_ACCEL_REDIRECT set, as in compose): an empty answer with
  `X-Accel-Redirect`, and nginx sends the file from its internal location;
- otherwise (`make run`, tests): Django streams the file itself.
"""

import mimetypes
import os
import time
from functools import lru_cache
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseRedirect,
)
from django.urls import get_script_prefix, reverse
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
    # The signature is URL-safe base64 and the expiry digits: neither needs quoting.
    path = f"{_media_path(name)}?expires={expires}&sig={_signature(name, expires)}"
    if absolute and settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + path
    return path


def _media_path(name: str) -> str:
    """The media view's path for `name`, as reverse() builds it (the route, then the name
    quoted alike) without resolving the route again for each of a page's hundreds of links."""
    return _media_route(get_script_prefix()) + quote(name, safe="!$&'()*+,;=/~:@")


@lru_cache(maxsize=16)
def _media_route(script_prefix: str) -> str:
    """Where media paths start under `script_prefix` (reverse() reads it itself)."""
    return reverse("media", kwargs={"path": "-"}).removesuffix("-")


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
    if ".." in path.split("/"):
        raise Http404("No such file.")
    # Never cache past the link's own expiry.
    max_age = max(min(int(expires) - int(time.time()), 3600) if signed else 300, 0)
    presign = getattr(default_storage, "presigned_url", None)
    if presign is not None:
        # The object's own short-lived URL; a deleted one answers 404 from S3 itself.
        ttl = settings.MEDIA_PRESIGN_TTL
        response = HttpResponseRedirect(presign(path, expire=ttl))
        max_age = min(max_age, ttl // 2)
    else:
        response = _local_file(path)
    response["Cache-Control"] = f"private, max-age={max_age}"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _local_file(path: str) -> HttpResponse:
    if not default_storage.exists(path):
        raise Http404("No such file.")
    content_type, _ = mimetypes.guess_type(path)
    content_type = content_type or "application/octet-stream"
    if settings.MEDIA_ACCEL_REDIRECT:
        if not os.path.isfile(default_storage.path(path)):
            raise Http404("No such file.")
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_REDIRECT + quote(path)
        return response
    try:
        stored = default_storage.open(path, "rb")
    except (IsADirectoryError, NotADirectoryError, FileNotFoundError):
        # A folder exists for the local storage but is not a file to serve.
        raise Http404("No such file.") from None
    return FileResponse(stored, content_type=content_type)


def delete_files_when_deleted(sender, instance, **kwargs) -> None:
    """A `post_delete` receiver: once the deletion commits, the row's files leave storage, so a
    signed link to them (still unexpired) stops serving. Connected for models whose files
    belong to one row only; cascades reach it too, which no service call would."""
    files = [
        getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
        if hasattr(getattr(instance, field.attname, None), "storage")
    ]
    for file in files:
        if file.name:
            transaction.on_commit(lambda s=file.storage, n=file.name: s.delete(n))
