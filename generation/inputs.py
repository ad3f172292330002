"""What a call sends: stored task inputs with references to our files turned into URLs.

Calls keep references ("file:<storage name>") rather than URLs, because a URL we give a
provider must be fresh when the request leaves: a signed link to our media view when the
app is reachable (PUBLIC_BASE_URL), otherwise the file is uploaded with the provider's SDK.
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage

from lorastudio.media import signed_media_url

from .providers import get_provider
from .providers.base import TASK_TYPES

PROVIDER_LINK_TTL = 24 * 3600
# How long a file uploaded to a provider's storage is sent again by its URL. Well inside the
# life of the providers' upload URLs (fal's CDN keeps uploads for days), so a reused URL is
# always still there when the provider fetches it.
UPLOAD_REUSE_SECONDS = 6 * 3600
# How long a call waits for another's upload of the same file before uploading it itself.
UPLOAD_WAIT_SECONDS = 60
FILE_REF = "file:"


def file_ref(name: str) -> str:
    return FILE_REF + name


def _url_for(provider_name: str, value):
    if isinstance(value, list):
        return [_url_for(provider_name, v) for v in value]
    if not (isinstance(value, str) and value.startswith(FILE_REF)):
        return value
    name = value[len(FILE_REF) :]
    if provider_name == "local":
        return signed_media_url(name)
    if settings.PUBLIC_BASE_URL:
        return signed_media_url(name, ttl=PROVIDER_LINK_TTL, absolute=True)
    return _uploaded_url(provider_name, name)


def _uploaded_url(provider_name: str, name: str) -> str:
    """A stored file never changes: while its upload is valid, every call (and every retry of
    a call after a 429) that sends it reuses the one URL instead of uploading it again. Calls
    that need it at the same moment (the sixteen first calls of a run, from eight anchors)
    wait for the one upload under way rather than each making their own."""
    key = f"provider-upload:{provider_name}:{name}"
    if url := cache.get(key):
        return url
    claim = f"{key}:uploading"
    deadline = time.monotonic() + UPLOAD_WAIT_SECONDS
    while not cache.add(claim, 1, timeout=UPLOAD_WAIT_SECONDS):
        if time.monotonic() > deadline:
            break  # the upload under way is stuck or its worker died: make our own
        time.sleep(0.05)
        if url := cache.get(key):
            return url
    try:
        # Another call may have finished its upload between our first look and our claim.
        if url := cache.get(key):
            return url
        with default_storage.open(name, "rb") as handle:
            url = get_provider(provider_name).upload(
                handle.read(), filename=name.rsplit("/", 1)[-1]
            )
        cache.set(key, url, timeout=UPLOAD_REUSE_SECONDS)
    finally:
        cache.delete(claim)  # a failed upload lets the next call that needs the file try
    return url


def build_task(call):
    """The provider task of a call, from its stored inputs."""
    inputs = {k: _url_for(call.provider, v) for k, v in call.context["inputs"].items()}
    return TASK_TYPES[call.task](**inputs)
