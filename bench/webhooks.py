"""What one outgoing webhook delivery costs against a hostile endpoint on loopback: a huge
answer (peak memory of the process) and an answer that trickles (how long the delivery is
held), each bounded.

    .venv/bin/python bench/webhooks.py [--megabytes 100] [--bound 60] [--code DIR]

`--code DIR` runs another checkout's `training.outgoing` (e.g. `git archive` of main) to
compare. Uses its own database (lorastudio_bench_hooks).
"""

import argparse
import contextlib
import os
import resource
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def serve(answer):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with contextlib.suppress(OSError):
                answer(self)

        def log_message(self, format, *args):  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--bound", type=float, default=60)
    parser.add_argument("--code", type=Path, default=ROOT)
    args = parser.parse_args()
    sys.path.insert(0, str(args.code))
    sys.path.insert(1, str(ROOT))
    os.chdir(args.code)
    os.environ.update(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/lorastudio_bench_hooks",
        REDIS_URL="redis://127.0.0.1:6379/11",
        DJANGO_SETTINGS_MODULE="lorastudio.settings",
        SECRET_KEY="bench-only-not-a-secret-" + "x" * 30,
        WEBHOOKS_ALLOW_PRIVATE_TARGETS="true",
        WEBHOOK_DEADLINE_SECONDS="15",
    )
    from bench.database import prepare_bench_database

    prepare_bench_database("lorastudio_bench_hooks", fresh=True)
    from training import outgoing

    size = args.megabytes * 1024 * 1024

    def huge(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        chunk = b"x" * 65536
        for _ in range(size // len(chunk)):
            handler.wfile.write(chunk)

    def trickle(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "1000000")
        handler.end_headers()
        for _ in range(1_000_000):
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.5)

    print(f"code: {args.code}")
    for label, answer in ((f"{args.megabytes} MB answer", huge), ("trickling answer", trickle)):
        server = serve(answer)
        endpoint = outgoing.create_endpoint(url=f"http://127.0.0.1:{server.server_port}/hook")
        [delivery] = outgoing.emit(outgoing.PIN_CHANGED, {"bench": label})
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.monotonic()
        done = threading.Event()

        def send(delivery_id=delivery.id, done=done):
            from django.db import connections

            try:
                outgoing.deliver(delivery_id)
            finally:
                connections.close_all()
                done.set()

        threading.Thread(target=send, daemon=True).start()
        finished = done.wait(args.bound)
        held = time.monotonic() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        delivery.refresh_from_db()
        state = f"{delivery.status}, {delivery.error[:60]!r}" if finished else "still sending"
        print(
            f"  {label:<18} held {held:6.1f} s{'' if finished else ' (bound)'}  "
            f"peak RSS {rss_before:6.0f} -> {rss_after:6.0f} MB  ({state})"
        )
        if finished:
            endpoint.delete()
        server.shutdown()
    os._exit(0)  # a delivery still sending (the old code) would keep the process alive


if __name__ == "__main__":
    main()
