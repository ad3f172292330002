"""Where an outgoing webhook may go, and a connection that goes only there.

A target's host is looked up once. Every address it answers must be globally routable
(`ipaddress`'s `is_global`, minus the ranges that tunnel to other addresses), unless
WEBHOOKS_ALLOW_PRIVATE_TARGETS is set; the connection is then made to the address that was
checked, never looked up again, so a name that answers differently the second time cannot
reach loopback or the cloud's metadata address. The connection keeps to one total deadline
(a trickling answer cannot hold a worker) and the caller reads only a few KB of the answer.
"""

import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

from lorastudio.errors import Refusal

URL_MAX_LENGTH = 500
# Python 3.12 counts these as global although each reaches another address: 6to4 and NAT64
# embed an IPv4 address (perhaps a private one), site-local is the old private IPv6 range.
TUNNELS = tuple(
    ipaddress.ip_network(net) for net in ("2002::/16", "64:ff9b::/96", "64:ff9b:1::/48")
)
SITE_LOCAL = ipaddress.ip_network("fec0::/10")


class WebhookRefused(Refusal):
    """A webhook URL we will not send to; the message says why."""


def is_public(address: str) -> bool:
    """True for an address on the public internet, which a webhook may reach."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope id is not part of it
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return is_public(str(ip.ipv4_mapped))
    if not ip.is_global or ip.is_multicast:
        return False
    return not (ip.version == 6 and (ip in SITE_LOCAL or any(ip in net for net in TUNNELS)))


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    port: int
    address: str  # the checked address the connection goes to


def parse(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL, or a refusal saying what is wrong with it."""
    if len(url) > URL_MAX_LENGTH:
        raise WebhookRefused(f"A webhook URL has at most {URL_MAX_LENGTH} characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("A webhook URL must start with http:// or https:// and name a host.")
    if parts.username or parts.password:
        raise WebhookRefused("Put no user name or password in a webhook URL.")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise WebhookRefused("The port of a webhook URL is a number from 1 to 65535.")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve(url: str) -> Target:
    """Look the URL's host up once and check every address it answers."""
    host, port = parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise WebhookRefused(f"The host “{host}” does not resolve.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise WebhookRefused(f"The host “{host}” does not resolve.")
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS and not all(map(is_public, addresses)):
        raise WebhookRefused(
            f"“{host}” is a private, loopback, shared or otherwise internal address: webhooks "
            "go only to public hosts (WEBHOOKS_ALLOW_PRIVATE_TARGETS=true allows others)."
        )
    return Target(url=url, host=host, port=port, address=addresses[0])


# --- The connection ------------------------------------------------------------------------
class DeadlinePassed(httpcore.ReadTimeout):
    """The whole exchange took longer than its deadline."""


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write waits at most until the exchange's deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float):
        self._stream, self._deadline = stream, deadline

    def _wait(self, timeout: float | None) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise DeadlinePassed("the deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._wait(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._wait(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        # TLS is checked against the URL's host name, as usual; only the address is pinned.
        stream = self._stream.start_tls(ssl_context, server_hostname, self._wait(timeout))
        return _DeadlineStream(stream, self._deadline)

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the checked address whatever host name the request carries."""

    def __init__(self, address: str, deadline: float):
        self._address, self._deadline = address, deadline
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise DeadlinePassed("the deadline passed")
        stream = self._backend.connect_tcp(
            self._address,
            port,
            timeout=left if timeout is None else min(timeout, left),
            local_address=local_address,
            socket_options=socket_options,
        )
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("webhooks go only to network addresses")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """An httpx transport that reaches only `target.address`, within `deadline` seconds."""

    def __init__(self, target: Target, *, deadline: float):
        super().__init__(trust_env=False)  # a proxy would look the name up again
        ssl_context = httpx.create_ssl_context()
        ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
        # httpx builds its connection pool in __init__ with no way to pass a network backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=1,
            network_backend=_PinnedBackend(target.address, time.monotonic() + deadline),
        )
