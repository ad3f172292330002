"""The compose front, for real: Debian's nginx with docker/nginx/lorastudio.conf.template in
front of gunicorn (DEBUG=false), both started here on loopback.

Slow clients hold nginx connections while normal requests are still answered; bodies over
their size never reach gunicorn; static files and (after the media view's check) media files
come from nginx.
"""

import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from lorastudio.media import signed_media_url
from tests.settings import redis_db

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "docker" / "nginx" / "lorastudio.conf.template"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
GUNICORN_WORKERS = 2
PICTURE = b"\x89PNG\r\n\x1a\n" + b"pixels" * 1000

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(NGINX), reason="nginx is not installed (.ci/run installs it)"
    ),
    pytest.mark.django_db,  # so the test database exists for gunicorn (/healthz reads it)
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, bound: float = 60) -> None:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[:3]} exited:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}:\n{log.read_text()[-3000:]}")


def nginx_conf(folder: Path, *, listen: int, upstream: int, media: Path) -> Path:
    site = TEMPLATE.read_text()
    for name, value in {
        "LORASTUDIO_LISTEN": f"127.0.0.1:{listen}",
        "LORASTUDIO_UPSTREAM": f"127.0.0.1:{upstream}",
        "LORASTUDIO_UPLOAD_BODY": "401m",
        "LORASTUDIO_STATIC_ROOT": str(ROOT / "static"),
        "LORASTUDIO_MEDIA_ROOT": str(media),
        "LORASTUDIO_S3_BUCKET": "lorastudio-bucket",
        "LORASTUDIO_S3_UPSTREAM": "127.0.0.1:9",
    }.items():
        site = site.replace("${" + name + "}", value)
    (folder / "site.conf").write_text(site)
    temp = "\n".join(
        f"  {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
daemon off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log {folder / "access.log"};
{temp}
  uwsgi_temp_path {folder / "uwsgi"};
  scgi_temp_path {folder / "scgi"};
  include {folder / "site.conf"};
}}
"""
    )
    return conf


@pytest.fixture(scope="module")
def front(django_db_setup, tmp_path_factory):
    """nginx on one port, gunicorn (2 sync workers) behind it on another."""
    folder = tmp_path_factory.mktemp("front")
    media = folder / "media"
    (media / "images").mkdir(parents=True)
    (media / "images" / "t.png").write_bytes(PICTURE)
    database = connection.settings_dict["NAME"]
    web_port, nginx_port = free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lorastudio.settings",
        "DEBUG": "false",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "REDIS_URL": redis_db(13),
        "STORAGE": "local",
        "MEDIA_ROOT": str(media),
        "MEDIA_ACCEL_REDIRECT": "/_protected_media/",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "LOG_LEVEL": "WARNING",
    }
    web_log, proxy_log = folder / "gunicorn.log", folder / "nginx.out"
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "lorastudio.wsgi", "-b", f"127.0.0.1:{web_port}",
         "-w", str(GUNICORN_WORKERS), "--timeout", "30",
         "--access-logfile", str(folder / "gunicorn-access.log")],  # fmt: skip
        cwd=ROOT, env=env, stdout=web_log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    conf = nginx_conf(folder, listen=nginx_port, upstream=web_port, media=media)
    nginx = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(conf)],
        stdout=proxy_log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_port(web_port, gunicorn, web_log)
        wait_for_port(nginx_port, nginx, proxy_log)
        yield {"port": nginx_port, "web_port": web_port, "folder": folder}
    finally:
        for process in (nginx, gunicorn):
            os.killpg(process.pid, 15)
            process.wait(timeout=30)


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
