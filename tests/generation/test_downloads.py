"""Provider downloads: provider hosts only, bounded size, real content."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from generation import downloads
from tests.factories import png_bytes

ROUTES = {
    "/image.png": (200, {"Content-Type": "image/png"}, png_bytes()),
    "/big": (200, {}, b"x" * 5000),
    "/html": (200, {"Content-Type": "text/html"}, b"<html>not an image</html>"),
    "/gone": (404, {}, b""),
    "/busy": (503, {}, b""),
    "/elsewhere": (302, {"Location": "http://localhost.evil.example/image.png"}, b""),
    "/here": (302, {"Location": "/image.png"}, b""),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        status, headers, body = ROUTES[self.path]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def fetch(url, max_bytes=10_000):
    return downloads.fetch(url, hosts=["127.0.0.1"], max_bytes=max_bytes)


def test_an_image_from_a_provider_host_is_fetched_and_checked(server):
    content = fetch(f"{server}/image.png")
    assert downloads.check_image(content) == (48, 64)


def test_a_host_that_is_not_the_providers_is_refused_before_any_request():
    with pytest.raises(downloads.DownloadError, match="not a provider host"):
        downloads.fetch("https://attacker.example/x.png", hosts=["fal.media"], max_bytes=10)


def test_lookalike_hosts_are_not_provider_hosts():
    assert downloads.host_allowed("https://v3.fal.media/a.png", ["fal.media"])
    assert not downloads.host_allowed("https://evilfal.media/a.png", ["fal.media"])
    assert not downloads.host_allowed("file:///etc/passwd", ["fal.media"])


def test_a_redirect_is_followed_only_within_provider_hosts(server):
    assert fetch(f"{server}/here") == ROUTES["/image.png"][2]
    with pytest.raises(downloads.DownloadError, match="not a provider host"):
        fetch(f"{server}/elsewhere")


def test_a_result_over_the_size_limit_is_refused(server):
    with pytest.raises(downloads.DownloadError, match="limit"):
        fetch(f"{server}/big", max_bytes=1000)


def test_an_expired_result_is_not_retried_but_a_busy_server_is(server):
    with pytest.raises(downloads.DownloadError) as gone:
        fetch(f"{server}/gone")
    assert not gone.value.retryable
    with pytest.raises(downloads.DownloadError) as busy:
        fetch(f"{server}/busy")
    assert busy.value.retryable


def test_something_that_is_not_an_image_is_refused(server):
    with pytest.raises(downloads.DownloadError, match="not a readable image"):
        downloads.check_image(fetch(f"{server}/html"))


def test_weights_must_be_a_whole_safetensors_file():
    from generation.providers.local_render import lora_safetensors

    weights = lora_safetensors(rank=4, trigger_word="fitmannequin")
    assert downloads.check_safetensors(weights)["__metadata__"]["trigger_word"] == "fitmannequin"
    with pytest.raises(downloads.DownloadError, match="truncated"):
        downloads.check_safetensors(weights[:-10])
    with pytest.raises(downloads.DownloadError, match="not a valid"):
        downloads.check_safetensors(b"<html>")
