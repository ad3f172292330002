"""Gallery server time and SQL queries for one character with 2,000 and 20,000 images.

The pages are rendered in-process through Django's test client (server time only, no
network): the first page, the last, approved by pose, least alike first, a filter change as
htmx asks for it (the grid alone), the counts partial, and pages of the same images through
the JSON API. Each is timed `--repeat` times in each of `--runs` rounds; printed are the
number of SQL queries (which must not grow with the number of images), the median wall time
with the spread of the rounds' medians, the median CPU time of the web process, the Python
function calls of one request, and the load average while it ran. The machine is shared:
read wall and CPU times against the load average; the calls count the work whatever the
load.

    .venv/bin/python bench/gallery.py [--sizes 2000,20000] [--runs 3] [--repeat 5]
    .venv/bin/python bench/gallery.py --before main    # the same, for main's code and this one

`--before REF` exports REF (git archive) to a temporary folder and measures its code too, on
a database of its own, the rounds of both alternating so that both see the same load.
It uses its own databases (lorastudio_bench, and lorastudio_bench_before with --before);
nothing else is touched.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.checkouts import export, load_average, use_code_from  # noqa: E402

DATABASE = "postgres://postgres@127.0.0.1:5432/lorastudio_bench"
ENVIRONMENT = {
    "REDIS_URL": "redis://127.0.0.1:6379/11",
    "DJANGO_SETTINGS_MODULE": "lorastudio.settings",
    "SECRET_KEY": "bench-only-not-a-secret",  # DEBUG stays false
    "SECURE_SSL_REDIRECT": "false",
    "ALLOWED_HOSTS": "testserver",
}


def setup(code: Path, *, prepare: bool) -> None:
    """Django from the checkout at `code`, on the bench database (made and migrated first
    when `prepare`)."""
    use_code_from(code)
    os.environ.setdefault("DATABASE_URL", DATABASE)
    for key, value in ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    if prepare:
        from bench.database import prepare_bench_database

        prepare_bench_database()
    else:
        import django

        django.setup()


def character_with(images: int):
    """A fitness character whose images exist as rows (files are not needed to render links),
    with what a tile shows filled in as a real gallery has it: variations made from their
    pose's anchor by calls of four images each in runs of 25 calls, likeness scores (a
    primary one, and one against the source anchor), the odd ingest warning."""
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
    # A run of 25 calls (100 images) at a time, as a curator launches them: the gallery's run
    # filter lists the latest 50.
    runs = GenerationRun.objects.bulk_create(
        GenerationRun(character=character, kind="variations", provider="local")
        for _ in range((images + 99) // 100)
    )
    calls = ProviderCall.objects.bulk_create(
        ProviderCall(
            run=runs[n // 25],
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
    # Likeness distances (a tenth not measured yet), and the copy of the primary score the
    # gallery sorts on, written with the row as likeness scoring keeps it (an attribute the
    # models of an older --before REF do not have, and ignore).
    distances = {n: rng.uniform(0.2, 0.9) for n in range(images) if n % 10 != 9}
    for n, row in enumerate(rows):
        row.likeness_sort_key = 1 - distances[n] if n in distances else None
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
        if n not in distances:
            continue  # not measured yet
        distance = distances[n]
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
    # The tables as autovacuum soon leaves them after they grew: planner statistics (without
    # them it plans for a handful of rows) and the visibility map (index-only scans).
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM ANALYZE characters_image, characters_anchor, characters_likenessscore, "
            "generation_providercall, generation_generationrun"
        )
    return character


def pages(character, count: int) -> list[tuple[str, str, dict]]:
    """(label, url, headers) of each page measured."""
    from django.urls import reverse

    url = reverse("characters:gallery", args=[character.slug])
    api = f"/api/characters/{character.slug}/images"
    last = (count + 59) // 60
    htmx = {"HX-Request": "true"}
    return [
        ("first page", url, {}),
        (f"last page ({last})", f"{url}?page={last}", {}),
        ("approved, by pose", f"{url}?review=approved&sort=pose", {}),
        ("least alike first", f"{url}?sort=likeness", {}),
        ("htmx: to review", f"{url}?review=unreviewed", htmx),
        ("counts partial", reverse("characters:curation_counts", args=[character.slug]), htmx),
        # The same images through the JSON API, as a pipeline pages them (the session
        # authenticates it here, as a bearer token would).
        ("API: 60, offset 100", f"{api}?limit=60&offset=100", {}),
        ("API: approved, pose", f"{api}?limit=60&offset=100&review=approved&sort=pose", {}),
        ("API: least alike", f"{api}?limit=60&offset={count // 2}&sort=likeness", {}),
    ]


def measure(repeat: int) -> list[dict]:
    """One round over the pages of the seeded character: per page, its query count and the
    wall and CPU milliseconds of each request."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from characters.models import Character
    from lorastudio.roles import ARTIST, set_role

    character = Character.objects.get(slug__startswith="gallery-bench")
    user, _ = get_user_model().objects.get_or_create(username="gallery-bench")
    set_role(user=user, role=ARTIST)  # the curator who uses the page (roles guard every page)
    client = Client()
    client.force_login(user)
    rows = []
    for label, url, headers in pages(character, character.images.count()):
        client.get(url, headers=headers)  # warm: templates, first-use lookups
        wall, cpu = [], []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                started, started_cpu = time.perf_counter(), time.process_time()
                response = client.get(url, headers=headers)
                wall.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - started_cpu) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        rows.append(
            {
                "page": label,
                "queries": len(queries.captured_queries),
                "calls": python_calls(client, url, headers),
                "wall": wall,
                "cpu": cpu,
            }
        )
    return rows


def python_calls(client, url: str, headers: dict) -> int:
    """Python function calls made for one request: the work, whatever the machine's load."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        client.get(url, headers=headers)
    finally:
        sys.setprofile(None)
    return calls


def child(side: dict, *arguments: str) -> str:
    """Run this script for one side (its code, its database) and return what it printed."""
    environment = {**os.environ, "DATABASE_URL": side["database"], "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, __file__, "--code", str(side["code"]), *arguments]
    done = subprocess.run(
        command, env=environment, capture_output=True, text=True, cwd=side["code"]
    )
    if done.returncode:
        sys.exit(f"{side['name']} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def report(size: int, sides: list[dict], rounds: dict) -> None:
    print(f"\n{size:,} images")
    labels = [row["page"] for row in rounds[sides[0]["name"]][0]]
    for index, label in enumerate(labels):
        for side in sides:
            rows = [each[index] for each in rounds[side["name"]]]
            wall = [ms for row in rows for ms in row["wall"]]
            cpu = [ms for row in rows for ms in row["cpu"]]
            per_round = ", ".join(f"{statistics.median(row['wall']):.1f}" for row in rows)
            queries = sorted({row["queries"] for row in rows})
            calls = statistics.median(row["calls"] for row in rows)
            print(
                f"  {label:<20} {side['name']:<6} {'/'.join(map(str, queries)):>5} queries  "
                f"wall median {statistics.median(wall):6.1f} ms (rounds {per_round}; "
                f"min {min(wall):.1f}, max {max(wall):.1f})  "
                f"cpu median {statistics.median(cpu):5.1f} ms  {calls / 1000:5.0f}k calls"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,20000", help="image counts, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="rounds over the pages")
    parser.add_argument("--repeat", type=int, default=5, help="requests per page and round")
    parser.add_argument("--before", metavar="REF", help="measure REF's code as well (e.g. main)")
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)  # a side's checkout
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)  # as a child: seed, then exit
    parser.add_argument("--round", action="store_true", help=argparse.SUPPRESS)  # as a child
    args = parser.parse_args()
    if args.code:
        setup(args.code, prepare=args.seed is not None)
        if args.seed is not None:
            character_with(args.seed)
        if args.round:
            print(json.dumps(measure(args.repeat)))
        return
    database = os.environ.get("DATABASE_URL", DATABASE)
    sides = [{"name": "after", "code": ROOT, "database": database}]
    with tempfile.TemporaryDirectory(prefix="gallery-before-") as folder:
        if args.before:
            export(args.before, folder)
            sides.insert(
                0, {"name": "before", "code": Path(folder), "database": database + "_before"}
            )
            print(f"before: {args.before} ({_commit(args.before)}); after: this checkout")
        print(f"load average at the start {load_average()} (a shared machine: 2 cores)")
        for size in [int(size) for size in args.sizes.split(",")]:
            rounds = {side["name"]: [] for side in sides}
            for side in sides:
                child(side, "--seed", str(size))
            for number in range(args.runs):
                for side in sides:
                    output = child(side, "--round", "--repeat", str(args.repeat))
                    rounds[side["name"]].append(json.loads(output.strip().splitlines()[-1]))
                print(f"  {size:,} images, round {number + 1}: load average {load_average()}")
            report(size, sides, rounds)
        print(f"\nload average at the end {load_average()}")


def _commit(ref: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


if __name__ == "__main__":
    main()
