"""Refuse a request body too large for its endpoint before any of it is read.

The first middleware: a declared `Content-Length` over the endpoint's limit is a 413 at once
(an anonymous 300 MB POST to /login/ used to be parsed to a temporary file before CSRF said
no). The limits: photo uploads `MAX_UPLOAD_REQUEST_BYTES`, the admin one photo, provider
webhooks `MAX_WEBHOOK_BODY_BYTES`, every other form and JSON body `MAX_REQUEST_BYTES`. While the
body streams in, Django's `LimitedStream` counts it and stops at the `Content-Length` checked
here, so nothing past the limit is ever read. A body without a length (chunked) is refused
with 411: Django reads only `Content-Length` bytes, so it would otherwise arrive empty (nginx
in front buffers it and sends the length).
"""

import re

from django.conf import settings
from django.http import HttpResponse, JsonResponse

UPLOAD_PATH = re.compile(r"^/api/characters/[^/]+/images/?$")


def body_limit(method: str, path: str) -> int:
    """The largest body, in bytes, a request to this path may carry."""
    if method == "POST" and UPLOAD_PATH.match(path):
        return settings.MAX_UPLOAD_REQUEST_BYTES
    if path.startswith("/admin/"):
        return settings.MAX_UPLOAD_BYTES + settings.MAX_REQUEST_BYTES
    if path.startswith("/webhooks/"):
        return settings.MAX_WEBHOOK_BODY_BYTES
    return settings.MAX_REQUEST_BYTES


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} KB"


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = body_limit(request.method, request.path_info)
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared:
            if not declared.isdigit():
                return self._answer(request, 400, "The Content-Length header is not a number.")
            if int(declared) > limit:
                return self._too_large(request, int(declared), limit)
        elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return self._answer(request, 411, "Send the body with a Content-Length (not chunked).")
        return self.get_response(request)

    def _too_large(self, request, size: int, limit: int):
        return self._answer(
            request,
            413,
            f"The request body is {_size(size)}; this address takes at most {_size(limit)}.",
        )

    def _answer(self, request, status: int, message: str):
        if request.path_info.startswith(("/api/", "/webhooks/")):
            return JsonResponse({"detail": message}, status=status)
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
