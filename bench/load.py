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
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.database import prepare_bench_database  # noqa: E402
from lorastudio import local_front  # noqa: E402

DATABASE = "lorastudio_bench_load"
SECRET = "bench-only-not-a-secret-" + "x" * 30
BENCH_ENV = {
    "SECRET_KEY": SECRET,
    "AXES_ENABLED": "false",  # 20 clients from one address are not a brute force
}
IMAGES = 300


def env_for(media: Path, *, behind_nginx: bool) -> dict[str, str]:
    """The web tier's environment (lorastudio.local_front), on the bench's own database."""
    return (
        local_front.web_env(
            database_url=f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
            redis_url="redis://127.0.0.1:6379/11",
            media=media,
            behind_nginx=behind_nginx,
        )
        | BENCH_ENV
    )


def seed(media: Path) -> dict:
    """A user with a session per client and a token, a character with IMAGES thumbnails."""
    os.environ.update(env_for(media, behind_nginx=False))
    prepare_bench_database(DATABASE, fresh=True)
    import io

    from django.contrib.auth import get_user_model
    from django.test import Client
    from PIL import Image as PILImage

    from characters.models import Image
    from characters.services import create_character
    from lorastudio.media import signed_media_url
    from lorastudio.roles import VIEWER, set_role
    from lorastudio.tokens import issue_api_token

    user = get_user_model().objects.create_user("load-bench", password="x" * 20)
    set_role(user=user, role=VIEWER)  # without a role every page and the API answer 403
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
    web_port = local_front.free_port()
    env = os.environ | env_for(media, behind_nginx=args.front == "nginx")
    web_log = folder / "web.log"
    processes = [
        local_front.start_gunicorn(
            port=web_port, env=env, workers=args.workers, log=web_log, code=args.code
        )
    ]
    port = web_port
    try:
        local_front.wait_for_port(web_port, processes[0], web_log)
        if args.front == "nginx":
            port = local_front.free_port()
            conf = local_front.nginx_conf(
                folder, listen=port, upstream=web_port, media=media, worker_connections=1024
            )
            processes.append(local_front.start_nginx(conf, log=folder / "nginx.out"))
            local_front.wait_for_port(port, processes[1], folder / "nginx.out")
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
        local_front.stop(*reversed(processes))
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
