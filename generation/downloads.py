"""Fetching provider results into memory: only from the provider's own hosts, size-limited.

Provider result URLs expire, so a call's outputs are fetched as soon as it succeeds. A
redirect is followed only to another allowed host; a body larger than the limit is refused
while it streams; content is checked (a real image, a real .safetensors file).
"""

import io
import json
import struct
import tarfile
from urllib.parse import urljoin, urlsplit

import httpx
from PIL import Image, UnidentifiedImageError

MAX_REDIRECTS = 3


class DownloadError(Exception):
    """The result could not be fetched or is not what it claims; `retryable` if worth a retry."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


def host_allowed(url: str, hosts: tuple[str, ...] | list[str]) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme in ("https", "http") and any(
        host == allowed or host.endswith("." + allowed) for allowed in hosts
    )


def fetch(url: str, *, hosts, max_bytes: int, timeout: float = 60.0) -> bytes:
    """GET `url` (following redirects within `hosts`) and return at most `max_bytes` bytes."""
    try:
        return _fetch(url, hosts=hosts, max_bytes=max_bytes, timeout=timeout)
    except httpx.TransportError as exc:
        raise DownloadError(
            f"Download interrupted: {exc.__class__.__name__}.", retryable=True
        ) from exc


def _fetch(url: str, *, hosts, max_bytes: int, timeout: float) -> bytes:
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            if not host_allowed(url, hosts):
                raise DownloadError(
                    f"Refused to download from {urlsplit(url).hostname!r}: not a provider host."
                )
            with client.stream("GET", url) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code in (403, 404, 410):
                    raise DownloadError(
                        f"The provider no longer serves this result (HTTP {response.status_code})."
                    )
                if response.status_code >= 400:
                    raise DownloadError(
                        f"Download failed with HTTP {response.status_code}.",
                        retryable=response.status_code >= 500 or response.status_code == 429,
                    )
                declared = int(response.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise DownloadError(
                        f"The result is {declared} bytes, over the {max_bytes} limit."
                    )
                body = io.BytesIO()
                for chunk in response.iter_bytes():
                    body.write(chunk)
                    if body.tell() > max_bytes:
                        raise DownloadError(f"The result is over the {max_bytes} bytes limit.")
                return body.getvalue()
    raise DownloadError("Too many redirects.")


def check_image(content: bytes) -> tuple[int, int]:
    """The (width, height) of a real image; DownloadError for anything else."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.verify()
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DownloadError("The result is not a readable image.") from exc


def check_safetensors(content: bytes) -> dict:
    """The header of a well-formed .safetensors file; DownloadError for anything else."""
    try:
        (length,) = struct.unpack("<Q", content[:8])
        header = json.loads(content[8 : 8 + length])
        ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise DownloadError("The weights are not a valid .safetensors file.") from exc
    if not ends or 8 + length + max(ends) > len(content):
        raise DownloadError("The weights file is truncated.")
    return header


def extract_from_tar(content: bytes, filename: str) -> bytes:
    """The member of a tar archive whose name ends with `filename`."""
    try:
        with tarfile.open(fileobj=io.BytesIO(content)) as archive:
            for member in archive.getmembers():
                if member.isfile() and member.name.endswith(filename):
                    return archive.extractfile(member).read()
    except tarfile.TarError as exc:
        raise DownloadError("The archive from the provider is not a readable tar.") from exc
    raise DownloadError(f"The archive from the provider has no {filename}.")
