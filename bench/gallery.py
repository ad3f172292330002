"""Gallery render time and SQL queries for a character with 200, 2,000 and 20,000 images.

The page is rendered in-process through Django's test client (server time only, no
network), the first page and the last, several times each; the median is printed with the
number of SQL queries, which must not grow with the number of images.

    .venv/bin/python bench/gallery.py [--sizes 200,2000,20000] [--repeat 15]

It uses its own database (lorastudio_bench); nothing else is touched.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.database import prepare_bench_database  # noqa: E402

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lorastudio_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/11")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lorastudio.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")  # DEBUG stays false
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")


def prepare():
    prepare_bench_database()


def character_with(images: int):
    """A fitness character whose images exist as rows (files are not needed to render links),
    with what a tile shows filled in as a real gallery has it: variations made from their
    pose's anchor by calls of four images each, likeness scores (a primary one, and one
    against the source anchor), the odd ingest warning."""
    import random
    from decimal import Decimal

    from django.db import connection

    from characters.models import Anchor, Character, Image, LikenessScore
    from characters.services import create_character
    from generation.models import GenerationRun, ProviderCall

    Character.objects.filter(slug__startswith="gallery-bench").delete()
    character = create_character(
        name="gallery bench",
        trigger_word="gallerybench",
        base_prompt="orange mannequin",
        preset="fitness",
    )
    poses = list(character.poses.all())
    variations = list(character.variations.all())
    run = GenerationRun.objects.create(character=character, kind="variations", provider="local")
    calls = ProviderCall.objects.bulk_create(
        ProviderCall(
            run=run,
            provider="local",
            task="image_to_image",
            endpoint="local/image-to-image",
            status="done",
            external_id=f"bench-{character.pk}-{n}",
            units=4,
            estimated_cost=Decimal("0.16"),
            actual_cost=Decimal("0.12"),
        )
        for n in range((images + 3) // 4)
    )
    rng = random.Random(7)
    rows = []
    for n in range(images):
        variation = rng.choice(variations) if n % 3 else None
        rows.append(
            Image(
                character=character,
                kind=Image.Kind.VARIATION if variation else Image.Kind.CANDIDATE,
                pose=variation.anchor_pose if variation else rng.choice(poses),
                variation=variation,
                call=calls[n // 4] if variation else None,
                call_output=n % 4 if variation else None,
                file=f"bench/{n}.png",
                thumbnail=f"bench/{n}.webp",
                width=512,
                height=683,
                review=rng.choice(list(Image.Review.values)),
                starred=n % 11 == 0,
                prompt="orange mannequin",
                seed=n,
                strength=Decimal("0.55") if variation else None,
                warnings=["Small: 512×683 px"] if n % 50 == 0 else [],
            )
        )
    rows = Image.objects.bulk_create(rows, batch_size=1000)
    for pose in poses:
        first = Image.objects.filter(character=character, pose=pose, kind="candidate").first()
        if first:
            Anchor.objects.create(character=character, pose=pose, image=first)
    anchor_of = {a.pose_id: a.image_id for a in character.anchors.all()}
    varied = [row for row in rows if row.variation]
    for row in varied:
        row.source_image_id = anchor_of.get(row.pose_id)
    Image.objects.bulk_update(varied, ["source_image"], batch_size=1000)
    scores = []
    for n, row in enumerate(rows):
        if n % 10 == 9:
            continue  # not measured yet
        distance = rng.uniform(0.2, 0.9)
        flag = "ok" if distance < 0.7 else ("drift" if distance < 0.85 else "other_person")
        score = dict(measure="face", model="bench", distance=distance, score=1 - distance)
        scores.append(
            LikenessScore(
                image=row, reference="sheet", reference_key="b", flag=flag, primary=True, **score
            )
        )
        if row.source_image_id:
            scores.append(
                LikenessScore(
                    image=row,
                    reference=f"anchor:{row.pose_id}",
                    reference_key="b",
                    flag="ok",
                    **score,
                )
            )
    LikenessScore.objects.bulk_create(scores, batch_size=2000)
    # The planner's statistics as autovacuum soon leaves them on tables that grew: without
    # them it guesses a handful of rows and plans for that.
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE characters_image, characters_anchor, characters_likenessscore, "
            "generation_providercall"
        )
    return character


def measure(client, url: str, repeat: int) -> tuple[float, int, float, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    ms = [t * 1000 for t in timings]
    return statistics.median(ms), len(queries.captured_queries), min(ms), max(ms)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200,2000,20000", help="image counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    prepare()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from lorastudio.roles import ARTIST, set_role

    user, _ = get_user_model().objects.get_or_create(username="gallery-bench")
    set_role(user=user, role=ARTIST)  # the curator who uses the page (roles guard every page)
    client = Client()
    client.force_login(user)
    results = []
    sizes = [int(size) for size in args.sizes.split(",")]
    for count in sizes:
        character = character_with(count)
        url = reverse("characters:gallery", args=[character.slug])
        last = (count + 59) // 60
        for label, page_url in (
            ("first page", url),
            (f"page {last}", f"{url}?page={last}"),
            ("approved, by pose", f"{url}?review=approved&sort=pose"),
        ):
            median_ms, queries, low, high = measure(client, page_url, args.repeat)
            results.append((count, label, median_ms, queries))
            print(
                f"{count:>6} images  {label:<18} median {median_ms:7.1f} ms "
                f"(min {low:.1f}, max {high:.1f})  {queries:3d} queries"
            )
    first = [r for r in results if r[0] == sizes[0]]
    for size in sizes[1:]:
        rows = [r for r in results if r[0] == size]
        for (_, label, small_ms, small_q), (_, _, large_ms, large_q) in zip(
            first, rows, strict=True
        ):
            print(
                f"{label:<18} ×{size // sizes[0]} images: time ×{large_ms / small_ms:.2f}, "
                f"queries {small_q} → {large_q}"
            )


if __name__ == "__main__":
    main()
