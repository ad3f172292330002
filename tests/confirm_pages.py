"""Tests drive a confirm page as a browser does: price (a POST answered with the confirm
page's address), read its one-time token, press Start."""

import re


def token_of(response) -> str:
    found = re.search(r'name="once" value="([^"]+)"', response.content.decode())
    assert found, "the page carries no one-time token"
    return found[1]


def price(client, url: str, data: dict | None = None):
    """The confirm page a pricing POST leads to (its redirect followed)."""
    return client.post(url, data or {}, follow=True)


def start(client, url: str, data: dict | None = None, **extra):
    """Price, then press Start with the page's token; the answer to Start (not followed)."""
    page = price(client, url, data)
    return client.post(url, {**(data or {}), "confirm": "yes", "once": token_of(page)}, **extra)
