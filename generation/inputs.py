"""What a call sends: stored task inputs with references to our files turned into URLs.

Calls keep references ("file:<storage name>") rather than URLs, because a URL we give a
provider must be fresh when the request leaves: a signed link to our media view when the
app is reachable (PUBLIC_BASE_URL), otherwise the file is uploaded with the provider's SDK.
"""

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
    # A stored file never changes: while its upload is valid, every call (and every retry of
    # a call after a 429) that sends it reuses the one URL instead of uploading it again.
    key = f"provider-upload:{provider_name}:{name}"
    url = cache.get(key)
    if url is None:
        with default_storage.open(name, "rb") as handle:
            url = get_provider(provider_name).upload(
                handle.read(), filename=name.rsplit("/", 1)[-1]
            )
        cache.set(key, url, timeout=UPLOAD_REUSE_SECONDS)
    return url


def build_task(call):
    """The provider task of a call, from its stored inputs."""
    inputs = {k: _url_for(call.provider, v) for k, v in call.context["inputs"].items()}
    return TASK_TYPES[call.task](**inputs)
