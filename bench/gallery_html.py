"""The gallery's pages as two versions of the code render them, compared: work behind the
tiles may change, their markup must not (apart from whitespace).

    .venv/bin/python bench/gallery_html.py --before main [--images 2000]

Renders bench/gallery.py's pages, the next pages of the re-sorted views and a tile as a
review answers it, for REF's code (exported with git archive) and for this checkout, on one
database (the bench's; the character is seeded once with --images when it has none), then
prints a diff of each page whose markup differs. Signed links' expiry and signature, CSRF
tokens and CSP nonces change with every request: they are blanked before comparing.
Exits 1 when a page differs.
"""

import argparse
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.checkouts import export, use_code_from  # noqa: E402
from bench.gallery import DATABASE, ENVIRONMENT  # noqa: E402

VOLATILE = [
    (re.compile(r"expires=\d+&(amp;)?sig=[\w-]+"), "expires=E&sig=S"),
    (re.compile(r"\b[A-Za-z0-9]{64}\b"), "CSRF"),  # a masked token: 64 letters and digits
    (re.compile(r'nonce="[^"]*"'), 'nonce="N"'),
]


def normalized(html: str) -> str:
    """`html` with volatile values blanked and whitespace between tags dropped, one tag per
    line so that a diff reads."""
    for pattern, replacement in VOLATILE:
        html = pattern.sub(replacement, html)
    html = re.sub(r"\s+", " ", html)
    html = re.sub(r">\s*<", ">\n<", html)
    return html.strip()


def render_pages(images: int) -> dict[str, str]:
    """Label → HTML of each page, with the code this process imported."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.test import Client
    from django.urls import reverse

    from characters.models import Character, Image
    from lorastudio.roles import ARTIST, set_role

    character = Character.objects.filter(slug__startswith="gallery-bench").first()
    if character is None:
        from bench.gallery import character_with

        character = character_with(images)
    user, _ = get_user_model().objects.get_or_create(username="gallery-bench")
    set_role(user=user, role=ARTIST)
    client = Client()
    client.force_login(user)
    gallery = reverse("characters:gallery", args=[character.slug])
    count = character.images.count()
    last = (count + 59) // 60
    htmx = {"HX-Request": "true"}
    pages = [
        ("first page", gallery, {}),
        ("last page", f"{gallery}?page={last}", {}),
        ("approved, by pose", f"{gallery}?review=approved&sort=pose", {}),
        ("approved, by pose, page 2", f"{gallery}?review=approved&sort=pose&page=2", {}),
        ("least alike first", f"{gallery}?sort=likeness", {}),
        ("least alike first, page 3", f"{gallery}?sort=likeness&page=3", {}),
        ("least alike first, last page", f"{gallery}?sort=likeness&page={last}", {}),
        ("most alike first", f"{gallery}?sort=-likeness", {}),
        ("drift, starred", f"{gallery}?flag=drift&starred=yes", {}),
        ("by variation", f"{gallery}?sort=variation&kind=variation", {}),
        ("htmx: to review", f"{gallery}?review=unreviewed", htmx),
        ("counts partial", reverse("characters:curation_counts", args=[character.slug]), htmx),
    ]
    # The pages where one pose's (or spec's) images end and the next one's begin.
    for group in ("pose", "variation"):
        for query in (f"sort={group}", f"review=approved&sort={group}"):
            images = Image.objects.filter(character=character)
            if "approved" in query:
                images = images.filter(review="approved")
            counts = images.values(f"{group}__order").annotate(n=Count("id"))
            cumulative, boundaries = 0, set()
            for row in counts.order_by(f"{group}__order"):
                cumulative += row["n"]
                boundaries |= {cumulative // 60 + 1, cumulative // 60 + 2}
            for number in sorted(boundaries)[:40]:
                pages.append((f"{query}, page {number}", f"{gallery}?{query}&page={number}", htmx))
    found = {}
    for label, url, headers in pages:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code)
        found[label] = response.content.decode()
    # A review answers with the image's tile: one from an anchor, with a score and a warning,
    # reviewed as it already is (the page stays as it was).
    images = Image.objects.filter(character=character, source_image__isnull=False)
    for image in images.exclude(warnings=[]).order_by("id")[:2]:
        url = reverse("characters:image_review", args=[character.slug, image.id])
        data = {"review": image.review, "starred": "true" if image.starred else "false"}
        response = client.post(url, data, headers=htmx)
        assert response.status_code == 200, (url, response.status_code)
        found[f"review answer #{image.id}"] = response.content.decode()
    return found


def side(code: Path, images: int) -> dict[str, str]:
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, __file__, "--code", str(code), "--images", str(images)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, cwd=code)
    if done.returncode:
        sys.exit(f"{code} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", metavar="REF", default="main", help="the code to compare with")
    parser.add_argument("--images", type=int, default=2000, help="images to seed when none")
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)  # as a child: render
    args = parser.parse_args()
    if args.code:
        use_code_from(args.code)
        print(json.dumps(render_pages(args.images)))
        return
    os.environ.setdefault("DATABASE_URL", DATABASE)
    for key, value in ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    from bench.database import prepare_bench_database  # migrated to this checkout's schema

    prepare_bench_database()
    with tempfile.TemporaryDirectory(prefix="gallery-html-") as folder:
        before = side(export(args.before, folder), args.images)
    after = side(ROOT, args.images)
    differing = 0
    for label in before:
        old, new = normalized(before[label]), normalized(after.get(label, ""))
        if old == new:
            print(f"same    {label} ({len(old):,} characters)")
            continue
        differing += 1
        print(f"DIFFERS {label}")
        diff = difflib.unified_diff(
            old.splitlines(), new.splitlines(), args.before, "this checkout", lineterm="", n=1
        )
        print("\n".join(list(diff)[:60]))
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
