"""An anonymous oversized POST to /login/ on gunicorn (DEBUG=false): how much of the body the
server takes, and how much reaches its temporary folder, before it answers.

    .venv/bin/python bench/bodies.py [--megabytes 300] [--code DIR]

It first GETs the login page, as a browser would, for the CSRF cookie (without one Django
refuses before reading). The body is multipart, sent 1 MB at a time on loopback until the
server answers or stops reading; a thread samples the size of gunicorn's TMPDIR meanwhile.
`--code DIR` runs another checkout (e.g. `git archive` of main) to compare. No database is
needed for the answer.
"""

import argparse
import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def folder_size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=300)
    parser.add_argument("--code", type=Path, default=ROOT)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-bodies-"))
    temp = folder / "tmp"
    temp.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lorastudio.settings",
        "SECRET_KEY": "bench-only-not-a-secret-" + "x" * 30,
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "REDIS_URL": "redis://127.0.0.1:6379/11",
        "TMPDIR": str(temp),
        "LOG_LEVEL": "WARNING",
    }
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "lorastudio.wsgi", "-b", f"127.0.0.1:{port}",
         "-w", "1", "--timeout", "120"],  # fmt: skip
        cwd=args.code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    peak = {"bytes": 0}
    stop = threading.Event()

    def sample():
        while not stop.wait(0.05):
            peak["bytes"] = max(peak["bytes"], folder_size(temp))

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.2)
        time.sleep(3)  # the worker loads Django
        threading.Thread(target=sample, daemon=True).start()
        # As a browser would: the login page first, whose CSRF cookie makes Django read the
        # form (to look for the token) instead of refusing at once.
        page = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        page.request("GET", "/login/", headers={"Host": "127.0.0.1"})
        response = page.getresponse()
        response.read()
        cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
        page.close()
        size = args.megabytes * 1024 * 1024
        head = (
            "POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Cookie: {cookie}\r\n"
            "Content-Type: multipart/form-data; boundary=bench\r\n"
            f"Content-Length: {size}\r\n\r\n"
        ).encode()
        part = b"--bench\r\nContent-Disposition: form-data; name=f; filename=a.bin\r\n\r\n"
        sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        sock.sendall(head + part)
        sent, chunk, answer = len(part), b"\0" * (1024 * 1024), b""
        started = time.monotonic()
        sock.setblocking(False)
        while sent < size:
            try:
                answer = sock.recv(200)
                if answer:
                    break
            except BlockingIOError:
                pass
            try:
                sent += sock.send(chunk[: size - sent])
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:
                break
        sock.setblocking(True)
        sock.settimeout(120)
        if not answer:
            try:
                answer = sock.recv(200)
            except OSError:
                answer = b"(connection closed)"
        elapsed = time.monotonic() - started
        sock.close()
        time.sleep(0.5)
        stop.set()
    finally:
        os.killpg(web.pid, 15)
        web.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    print(f"code: {args.code}")
    print(
        f"{args.megabytes} MB POST /login/: {status!r} after {elapsed:.1f} s; "
        f"{sent / 1e6:.1f} MB sent before the answer; temp folder peak {peak['bytes'] / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
