"""Upload ingest throughput: 50 photos of 12 MP through the web side and a real worker.

The web side streams each file into storage and queues it (datasets.ingest.receive); a Celery
worker (prefork, 2 processes: one per core here) decodes, checks, strips, hashes, finds the
face and stores each photo. Prints photos per second and the worker processes' peak memory.

    .venv/bin/python bench/ingest.py [--photos 50] [--concurrency 2]

It uses its own database (lorastudio_bench) and Redis database 11; nothing else is touched.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.database import prepare_bench_database  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=2)
    return parser.parse_args()


def make_photos(folder: Path, count: int) -> list[Path]:
    """12 MP JPEGs with camera-like detail (a face pasted in, noise, gradients), all different."""
    import importlib.util

    import numpy as np
    from PIL import Image

    skimage = Path(next(iter(importlib.util.find_spec("skimage").submodule_search_locations)))
    face = Image.open(skimage / "data" / "astronaut.png").convert("RGB").resize((1400, 1400))
    rng = np.random.default_rng(7)
    base = np.linspace(40, 220, 4000, dtype=np.float32)[None, :, None].repeat(3000, 0)
    paths = []
    for n in range(count):
        noise = rng.integers(0, 40, (3000, 4000, 3), dtype=np.uint8)
        picture = Image.fromarray(
            (base + noise).clip(0, 255).astype(np.uint8).repeat(1, 2)[:, :4000]
        )
        picture.paste(face, (300 + 40 * n, 600))
        path = folder / f"photo-{n:03d}.jpg"
        picture.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def environment(queue: str, media: str) -> dict:
    return {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/lorastudio_bench",
        "REDIS_URL": "redis://127.0.0.1:6379/11",
        "CELERY_QUEUE": queue,
        "CACHE_KEY_PREFIX": queue,
        "MEDIA_ROOT": media,
        "DJANGO_SETTINGS_MODULE": "lorastudio.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-not-a-secret"),
    }


def prepare_database():
    prepare_bench_database()


def peak_rss_mb(pid: int) -> float:
    """The highest resident memory of a process and its children, in MB (VmHWM)."""
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    peak = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024


def main():
    args = parse_args()
    queue = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    media = tempfile.mkdtemp(prefix="lorastudio-bench-ingest-")
    env = environment(queue, media)
    os.environ.update(env)
    prepare_database()
    from django.core.files import File
    from django.db.models import Count

    from characters.services import create_character
    from datasets import ingest
    from datasets.models import Upload

    photos = make_photos(Path(tempfile.mkdtemp(prefix="lorastudio-bench-photos-")), args.photos)
    size = sum(p.stat().st_size for p in photos) / len(photos) / 1e6
    character = create_character(
        name=f"bench {uuid.uuid4().hex[:6]}",
        trigger_word=f"bench{uuid.uuid4().hex[:8]}",
        base_prompt="a person",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "lorastudio", "worker", "-P", "prefork",
         "-c", str(args.concurrency), "-Q", f"{queue},{queue}.media", "--without-mingle",
         "--without-gossip",
         "-l", "warning"],
        cwd=ROOT, env={**os.environ, **env}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(4)  # let the worker connect
        started = time.monotonic()
        handles = [p.open("rb") for p in photos]
        received = ingest.receive(
            character=character,
            files=[File(h, name=p.name) for h, p in zip(handles, photos, strict=True)],
        )
        web = time.monotonic() - started
        for handle in handles:
            handle.close()
        ids = [u.id for u in received]
        while Upload.objects.filter(id__in=ids, outcome=Upload.Outcome.QUEUED).exists():
            time.sleep(0.05)
        wall = time.monotonic() - started
        peak = peak_rss_mb(worker.pid)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    outcomes = {
        o: Upload.objects.filter(id__in=ids, outcome=o).count() for o in Upload.Outcome.values
    }
    shots = dict(character.images.values_list("shot_type").annotate(n=Count("id")))
    print(
        f"photos                {len(photos)} of 4000 × 3000 (12 MP), {size:.1f} MB each on average"
    )
    print(f"outcomes              {outcomes}")
    print(f"shot types            {shots}")
    print(f"web side (streamed)   {web:.2f} s for all, {1000 * web / len(photos):.0f} ms a photo")
    print(f"wall time             {wall:.2f} s with {args.concurrency} worker processes")
    print(f"ingest rate           {len(photos) / wall:.2f} photos/s  (target >= 4)")
    print(f"worker peak RSS       {peak:.0f} MB, the largest process  (target < 500 MB)")


if __name__ == "__main__":
    main()
