"""Likeness throughput: 50 photos of 12 MP measured by a real worker on 2 cores.

Each photo is an Image already in storage (as ingest leaves it); a Celery worker (prefork,
2 processes) runs `characters.tasks.measure_image` for each: decode (JPEG draft mode, at
most 2048 px), face descriptor, rough vector, score. Prints the wall time per photo, an
in-process split of one photo's time into decoding and measuring, the worker's peak memory,
and the machine's load average (the machine is shared).

    .venv/bin/python bench/likeness.py [--photos 50] [--concurrency 2]

It uses its own database (lorastudio_bench_likeness) and Redis database 11.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.database import prepare_bench_database  # noqa: E402
from bench.ingest import make_photos, peak_rss_mb  # noqa: E402

DATABASE = "lorastudio_bench_likeness"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=2)
    return parser.parse_args()


def environment(queue: str, media: str) -> dict:
    return {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        "REDIS_URL": "redis://127.0.0.1:6379/11",
        "CELERY_QUEUE": queue,
        "CACHE_KEY_PREFIX": queue,
        "MEDIA_ROOT": media,
        "DJANGO_SETTINGS_MODULE": "lorastudio.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-not-a-secret"),
    }


def split_one(image, clock=time.perf_counter) -> tuple[float, float, float]:
    """(decode, face, rough) seconds for one image, in this process (models warm). With
    `clock=time.process_time`, the CPU time this process used: on a shared machine it says
    what the work costs, where wall time says how busy the others were."""
    from characters.likeness import MEASURES, scoring

    started = clock()
    rgb, side = scoring.read_picture(image)
    decoded = clock()
    MEASURES["face"].describe(rgb, original_side=side)
    faced = clock()
    MEASURES["rough"].describe(rgb, original_side=side)
    return decoded - started, faced - decoded, clock() - faced


def main():
    args = parse_args()
    queue = f"bench-likeness-{uuid.uuid4().hex[:8]}"
    media = tempfile.mkdtemp(prefix="lorastudio-bench-likeness-")
    env = environment(queue, media)
    os.environ.update(env)
    prepare_bench_database(DATABASE)
    from django.core.files import File

    from characters.models import Image, ImageEmbedding
    from characters.services import create_character
    from characters.tasks import measure_image

    photos = make_photos(Path(tempfile.mkdtemp(prefix="lorastudio-bench-photos-")), args.photos)
    character = create_character(
        name=f"bench {uuid.uuid4().hex[:6]}",
        trigger_word=f"bench{uuid.uuid4().hex[:8]}",
        base_prompt="a person",
    )
    images = []
    for path in photos:
        with path.open("rb") as handle:
            image = Image(character=character, kind=Image.Kind.UPLOAD)
            image.file.save(path.name, File(handle), save=True)
        images.append(image)

    # In this process, warm: where one photo's time goes.
    split_one(images[0])
    splits = [split_one(image) for image in images[:10]]
    cpu = [split_one(image, time.process_time) for image in images[10:20]]
    ImageEmbedding.objects.filter(image__in=images).delete()

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "lorastudio", "worker", "-P", "prefork",
         "-c", str(args.concurrency), "-Q", f"{queue},{queue}.likeness", "--without-mingle",
         "--without-gossip",
         "-l", "warning"],
        cwd=ROOT, env={**os.environ, **env}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(4)  # let the worker connect
        load_before = os.getloadavg()
        started = time.monotonic()
        for image in images:
            measure_image.delay(image.id)
        ids = [image.id for image in images]
        while ImageEmbedding.objects.filter(image_id__in=ids).count() < 2 * len(ids):
            time.sleep(0.05)
        wall = time.monotonic() - started
        load_after = os.getloadavg()
        peak = peak_rss_mb(worker.pid)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    faces = ImageEmbedding.objects.filter(image_id__in=ids, measure="face")
    flags = {f: faces.filter(flag=f).count() for f in ("ok", "no_face", "too_small")}
    decode = [s[0] for s in splits]
    face = [s[1] for s in splits]
    rough = [s[2] for s in splits]

    def spread(values):
        return (
            f"median {1000 * statistics.median(values):.0f} ms "
            f"(min {1000 * min(values):.0f}, max {1000 * max(values):.0f})"
        )

    print(f"photos                {len(photos)} of 4000 × 3000 (12 MP), face flags {flags}")
    print(f"decode (draft ≤2048)  {spread(decode)} wall; CPU {spread([s[0] for s in cpu])}")
    print(
        f"face measure          {spread(face)} wall; CPU {spread([s[1] for s in cpu])}"
        "  after decoding  (target <= 300 ms)"
    )
    print(f"rough measure         {spread(rough)} wall; CPU {spread([s[2] for s in cpu])}")
    print(f"worker wall time      {wall:.2f} s for {len(photos)} with {args.concurrency} processes")
    print(
        f"per photo             {wall / len(photos):.3f} s wall, "
        f"{args.concurrency * wall / len(photos):.3f} s of a worker process (decode included)"
    )
    print(f"worker peak RSS       {peak:.0f} MB, the largest process  (target < 600 MB)")
    print(
        "load average          before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}"
        " (shared machine, 2 cores)".format(*load_before, *load_after)
    )


if __name__ == "__main__":
    main()
