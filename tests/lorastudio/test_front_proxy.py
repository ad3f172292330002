"""The compose front, for real: Debian's nginx with docker/nginx/lorastudio.conf.template in
front of gunicorn (DEBUG=false), both started here on loopback.

Slow clients hold nginx connections while normal requests are still answered; bodies over
their size never reach gunicorn; static files and (after the media view's check) media files
come from nginx.
"""

import http.client
import os
import socket
import time

import pytest
from django.db import connection

from lorastudio import local_front
from lorastudio.media import signed_media_url
from tests.settings import redis_db

ROOT = local_front.ROOT
GUNICORN_WORKERS = 2
PICTURE = b"\x89PNG\r\n\x1a\n" + b"pixels" * 1000

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(local_front.NGINX), reason="nginx is not installed (.ci/run installs it)"
    ),
    pytest.mark.django_db,  # so the test database exists for gunicorn (/healthz reads it)
]


@pytest.fixture(scope="module")
def front(django_db_setup, tmp_path_factory):
    """nginx on one port, gunicorn (2 sync workers) behind it on another."""
    folder = tmp_path_factory.mktemp("front")
    media = folder / "media"
    (media / "images").mkdir(parents=True)
    (media / "images" / "t.png").write_bytes(PICTURE)
    database = connection.settings_dict["NAME"]
    web_port, nginx_port = local_front.free_port(), local_front.free_port()
    env = os.environ | local_front.web_env(
        database_url=f"postgres://postgres@127.0.0.1:5432/{database}",
        redis_url=redis_db(13),
        media=media,
        behind_nginx=True,
    )
    web_log, proxy_log = folder / "gunicorn.log", folder / "nginx.out"
    gunicorn = local_front.start_gunicorn(
        port=web_port,
        env=env,
        workers=GUNICORN_WORKERS,
        log=web_log,
        access_log=folder / "gunicorn-access.log",
    )
    conf = local_front.nginx_conf(
        folder, listen=nginx_port, upstream=web_port, media=media, access_log=folder / "access.log"
    )
    nginx = local_front.start_nginx(conf, log=proxy_log)
    try:
        local_front.wait_for_port(web_port, gunicorn, web_log)
        local_front.wait_for_port(nginx_port, nginx, proxy_log)
        yield {"port": nginx_port, "web_port": web_port, "folder": folder}
    finally:
        local_front.stop(nginx, gunicorn)


def get(port: int, path: str, **headers) -> http.client.HTTPResponse:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    client.request("GET", path, headers={"Host": "127.0.0.1", **headers})
    response = client.getresponse()
    response.body = response.read()
    client.close()
    return response


def web_saw(front, text: str) -> bool:
    """Whether gunicorn logged a request with `text`, once it logged a marker request sent
    after everything before (its access log is written after the answer)."""
    marker = f"/login/?marker={time.monotonic_ns()}"
    assert get(front["port"], marker).status == 200
    log = front["folder"] / "gunicorn-access.log"
    deadline = time.monotonic() + 20
    while marker not in (logged := log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "gunicorn's access log stays silent"
        time.sleep(0.05)
    return text in logged


def test_slow_clients_wait_on_nginx_while_normal_requests_are_answered(front):
    slow = []
    for _ in range(GUNICORN_WORKERS + 2):  # more than gunicorn has workers
        sock = socket.create_connection(("127.0.0.1", front["port"]), timeout=20)
        sock.sendall(
            b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000\r\n\r\n"
            b"username=slow"
        )  # and then nothing more for now: a client on a very slow line
        slow.append(sock)
    try:
        answers = [get(front["port"], path) for path in ["/healthz", "/login/"] * 5]
        assert [a.status for a in answers] == [200] * 10, answers[0].body
        for sock in slow:  # still connected, still unanswered
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
        assert not web_saw(front, "POST /login/")  # gunicorn never waited on one of them
    finally:
        for sock in slow:
            sock.close()


def test_a_body_over_its_size_is_refused_by_nginx_before_it_is_sent(front):
    sock = socket.create_connection(("127.0.0.1", front["port"]), timeout=20)
    sock.sendall(
        b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 300000000\r\n\r\n"
    )
    answer = sock.recv(200)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413")
    assert not web_saw(front, "POST /login/")


def test_nginx_sends_the_file_after_django_checked_the_signed_link(front):
    link = signed_media_url("images/t.png")

    response = get(front["port"], link)

    assert response.status == 200 and response.body == PICTURE
    assert response.getheader("Content-Type") == "image/png"
    assert response.getheader("X-Accel-Redirect") is None
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert web_saw(front, "GET /media/images/t.png")  # the check ran in Django
    assert get(front["port"], link.replace("sig=", "sig=x")).status == 403
    assert get(front["port"], "/_protected_media/images/t.png").status == 404  # internal only


def test_static_files_come_from_nginx_not_the_web_tier(front):
    response = get(front["port"], "/static/css/studio.css")
    assert response.status == 200
    assert response.body == (ROOT / "static" / "css" / "studio.css").read_bytes()
    assert not web_saw(front, "/static/")
