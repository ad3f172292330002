"""Load on the web tier: 20 clients for 30 s on gunicorn (DEBUG=false), pages, API and
thumbnails mixed; optionally behind nginx as compose runs it, and with slow clients.

    .venv/bin/python bench/load.py [--front nginx|none] [--clients 20] [--seconds 30]
                                   [--slow 0] [--code DIR] [--workers 3]

`--front none` sends everything to gunicorn, which streams every thumbnail itself (the old
way, and `make run`'s); `--front nginx` puts docker/nginx/lorastudio.conf.template (Debian's
nginx) in front: static files and thumbnails leave from nginx after Django checked the
signed link (X-Accel-Redirect). `--slow N` first opens N connections that send a request
body one byte at a time, as a client on a very slow line. `--code DIR` runs gunicorn from
another checkout (e.g. `git archive` of main) to compare. Everything listens on loopback,
is bounded in time and uses its own database (lorastudio_bench_load) and media folder.
Each class prints count, errors, p50, p95 and p99 in ms; the load average shows how busy
the machine was (the load client shares the cores).
"""

import argparse
import http.client
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.database import prepare_bench_database  # noqa: E402

DATABASE = "lorastudio_bench_load"
SECRET = "bench-only-not-a-secret-" + "x" * 30
ENV = {
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
    "REDIS_URL": "redis://127.0.0.1:6379/11",
    "DJANGO_SETTINGS_MODULE": "lorastudio.settings",
    "SECRET_KEY": SECRET,
    "DEBUG": "false",
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "STORAGE": "local",
    "LOG_LEVEL": "WARNING",
    "AXES_ENABLED": "false",
}
IMAGES = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, bound: float = 60) -> None:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args[:3]} exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def seed(media: Path) -> dict:
    """A user with a session per client and a token, a character with IMAGES thumbnails."""
    os.environ.update(ENV, MEDIA_ROOT=str(media))
    prepare_bench_database(DATABASE, fresh=True)
    import io

    from django.contrib.auth import get_user_model
    from django.test import Client
    from PIL import Image as PILImage

    from characters.models import Image
    from characters.services import create_character
    from lorastudio.media import signed_media_url
    from lorastudio.tokens import issue_api_token

    user = get_user_model().objects.create_user("load-bench", password="x" * 20)
    character = create_character(
        name="load bench", trigger_word="loadbench", base_prompt="mannequin", preset="fitness"
    )
    poses = list(character.poses.all())
    thumbs = media / "thumbs"
    thumbs.mkdir(parents=True)
    rng = random.Random(5)
    rows = []
    for n in range(IMAGES):
        buffer = io.BytesIO()
        colour = tuple(rng.randrange(256) for _ in range(3))
        PILImage.new("RGB", (256, 341), colour).save(buffer, "WEBP", quality=80)
        # A thumbnail of realistic size: the flat colour compresses too well on its own.
        (thumbs / f"{n}.webp").write_bytes(buffer.getvalue() + os.urandom(18_000))
        rows.append(
            Image(
                character=character,
                kind=Image.Kind.CANDIDATE,
                pose=poses[n % len(poses)],
                file=f"images/{n}.png",
                thumbnail=f"thumbs/{n}.webp",
                width=512,
                height=683,
                prompt="mannequin",
            )
        )
    Image.objects.bulk_create(rows)
    _, token = issue_api_token(user=user, name="load bench")
    sessions = []
    for _ in range(64):
        client = Client()
        client.force_login(user)
        sessions.append(client.cookies["sessionid"].value)
    links = [signed_media_url(f"thumbs/{n}.webp", ttl=3600) for n in range(IMAGES)]
    return {"slug": character.slug, "token": token, "sessions": sessions, "thumbs": links}


def nginx_conf(folder: Path, *, listen: int, upstream: int, media: Path) -> Path:
    site = (ROOT / "docker" / "nginx" / "lorastudio.conf.template").read_text()
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
    conf = folder / "nginx.conf"
    temps = "\n".join(
        f"  {k}_temp_path {folder / k};"
        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf.write_text(
        f"""{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
daemon off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
{temps}
  include {folder / "site.conf"};
}}
"""
    )
    return conf


def slow_client(port: int, stop: threading.Event) -> None:
    """A POST whose body comes one byte every few seconds, as long as the run lasts."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        sock.sendall(
            b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
        )
        while not stop.wait(5):
            sock.sendall(b"a")
    except OSError:
        pass


def client_loop(port, plan, stop, results, seed_n):
    rng = random.Random(seed_n)
    session = plan["sessions"][seed_n % len(plan["sessions"])]
    slug = plan["slug"]
    pages = [f"/characters/{slug}/gallery/", f"/characters/{slug}/", "/characters/"]
    connection = None
    while not stop.is_set():
        roll = rng.random()
        if roll < 0.3:
            kind, path, headers = "page", rng.choice(pages), {"Cookie": f"sessionid={session}"}
        elif roll < 0.6:
            kind = "api"
            path = f"/api/characters/{slug}/images?limit=60&offset={rng.randrange(0, 240)}"
            headers = {"Authorization": f"Bearer {plan['token']}"}
        else:
            kind, path, headers = "thumbnail", rng.choice(plan["thumbs"]), {}
        started = time.perf_counter()
        ok = False
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", path, headers={"Host": "127.0.0.1", **headers})
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                connection = None
        except (OSError, http.client.HTTPException):
            if connection is not None:
                connection.close()
            connection = None
        results.append((kind, time.perf_counter() - started, ok))


def warm_up(port, plan, workers) -> None:
    """Until every worker has loaded Django and answered once (not measured)."""
    answered = 0
    deadline = time.monotonic() + 120
    while answered < 3 * workers:
        if time.monotonic() > deadline:
            raise SystemExit("the web tier does not answer")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", plan["thumbs"][0], headers={"Host": "127.0.0.1"})
            response = connection.getresponse()
            response.read()
            connection.close()
            answered += response.status == 200
        except (OSError, http.client.HTTPException):
            time.sleep(0.5)


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--front", choices=["nginx", "none"], default="nginx")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--slow", type=int, default=0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--code", type=Path, default=ROOT)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-load-"))
    media = folder / "media"
    plan = seed(media)
    web_port = free_port()
    env = {**os.environ, **ENV, "MEDIA_ROOT": str(media)}
    if args.front == "nginx":
        env["MEDIA_ACCEL_REDIRECT"] = "/_protected_media/"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "lorastudio.wsgi",
                "-b",
                f"127.0.0.1:{web_port}",
                "-w",
                str(args.workers),
                "--timeout",
                "30",
            ],  # fmt: skip
            cwd=args.code,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(folder / "web.log").open("wb"),
            start_new_session=True,
        )  # fmt: skip
    ]
    port = web_port
    try:
        wait_for_port(web_port, processes[0])
        if args.front == "nginx":
            port = free_port()
            conf = nginx_conf(folder, listen=port, upstream=web_port, media=media)
            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            processes.append(
                subprocess.Popen(
                    [nginx, "-p", str(folder), "-c", str(conf)], start_new_session=True
                )
            )
            wait_for_port(port, processes[1])
        warm_up(port, plan, args.workers)
        stop = threading.Event()
        slow = [
            threading.Thread(target=slow_client, args=(port, stop), daemon=True)
            for _ in range(args.slow)
        ]
        for thread in slow:
            thread.start()
        time.sleep(1 if args.slow else 0)
        results = []
        load_before = os.getloadavg()[0]
        clients = [
            threading.Thread(target=client_loop, args=(port, plan, stop, results, n), daemon=True)
            for n in range(args.clients)
        ]
        for thread in clients:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in clients:
            thread.join(15)
        load_after = os.getloadavg()[0]
    finally:
        for process in reversed(processes):
            os.killpg(process.pid, 15)
            process.wait(timeout=30)
        if os.environ.get("BENCH_KEEP"):
            print("kept", folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(
        f"front={args.front} clients={args.clients} seconds={args.seconds:g} slow={args.slow} "
        f"gunicorn workers={args.workers} code={args.code}"
    )
    print(
        f"load average (1 min) {load_before:.1f} before, {load_after:.1f} after; "
        f"cores {os.cpu_count()}"
    )
    total = len(results)
    print(
        f"{total} requests, {total / args.seconds:.1f}/s, errors {sum(not r[2] for r in results)}"
    )
    for kind in ("page", "api", "thumbnail"):
        timings = [r[1] * 1000 for r in results if r[0] == kind]
        errors = sum(1 for r in results if r[0] == kind and not r[2])
        if not timings:
            continue
        print(
            f"  {kind:<9} {len(timings):6d} requests  errors {errors:4d}  "
            f"p50 {statistics.median(timings):7.1f}  p95 {percentile(timings, 0.95):7.1f}  "
            f"p99 {percentile(timings, 0.99):7.1f} ms"
        )


if __name__ == "__main__":
    main()
