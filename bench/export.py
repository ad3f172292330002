"""Export of a 30-image dataset of 12 MP photos: seconds per export and peak memory.

Builds the zip the way the worker does (exports.build_export: resize to 1024, captions,
seed 002's JSON files, configs, sha256 of everything, streamed into storage), several
times, and prints the median time and the process's peak RSS. Target on the 2-core
machine: 30 images in <= 2 s.

    .venv/bin/python bench/export.py [--images 30] [--repeat 3]

It uses its own database (lorastudio_bench_export, made afresh) and a temporary media folder.
"""

import argparse
import gc
import io
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB = "lorastudio_bench_export"
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB}")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/11")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lorastudio.settings")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")  # DEBUG stays false
os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="lorastudio-bench-export-")


def prepare():
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")  # a fresh start, media folder included
        conn.execute(f"CREATE DATABASE {DB}")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def photo(seed: int) -> bytes:
    """A 12 MP JPEG of about 4.5 MB (coarse texture, fine grain, a gradient), as heavy to
    decode as a phone photo."""
    from PIL import Image, ImageChops

    size = (4000, 3000)
    coarse = Image.effect_noise((400, 300), 80 + seed).convert("RGB").resize(size, Image.BICUBIC)
    fine = Image.effect_noise(size, 12).convert("RGB")
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    picture = ImageChops.add(ImageChops.multiply(coarse, gradient), fine, scale=1.3)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90)
    return out.getvalue()


def dataset_of(images: int):
    from django.core.files.base import ContentFile

    from characters.models import Character, Image
    from datasets import services

    character = Character.objects.create(
        name="export bench", slug="export-bench", trigger_word="exportbench", base_prompt="x"
    )
    photos = [photo(n) for n in range(3)]
    for n in range(images):
        image = Image(
            character=character,
            kind=Image.Kind.UPLOAD,
            shot_type=("close", "mid", "far")[n % 3],
            review=Image.Review.APPROVED,  # only approved uploads enter a dataset
        )
        image.file.save(f"bench-{n}.jpg", ContentFile(photos[n % 3]), save=False)
        image.save()
    dataset = services.create_dataset(character=character, name="bench")
    dataset.items.update(caption="a person standing outdoors in natural light, smiling")
    return dataset


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: restart the high-water mark


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    prepare()
    from datasets import exports

    dataset = dataset_of(args.images)
    gc.collect()
    reset_peak_rss()  # the photos made above are not the export's memory
    rss_before = rss_mb("VmRSS")
    times, cpu = [], []
    for _ in range(args.repeat):
        export = exports.start_export(dataset=dataset, enqueue=False, accept_warnings=True)
        started, used = time.perf_counter(), cpu_seconds()
        export = exports.build_export(export.id)
        times.append(time.perf_counter() - started)
        cpu.append(cpu_seconds() - used)
        assert export.status == "ready", export.error
    print(
        f"export of {args.images} images of 12 MP: median {statistics.median(times):.2f} s wall "
        f"(runs: {', '.join(f'{t:.2f}' for t in times)}), {statistics.median(cpu):.2f} s CPU "
        f"(two threads: about {statistics.median(cpu) / 2:.2f} s on two idle cores); "
        f"zip {export.size_bytes / 1e6:.1f} MB; peak RSS while exporting "
        f"{rss_mb('VmHWM'):.0f} MB (at start {rss_before:.0f} MB); target <= 2 s; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    shutil.rmtree(os.environ["MEDIA_ROOT"], ignore_errors=True)


if __name__ == "__main__":
    main()
