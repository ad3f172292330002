"""The gallery at scale: as many queries for 125 images as for 5, whatever the page, filter
or sort; the page of tiles in the order asked for; every tile with what it shows."""

import re
from decimal import Decimal

import pytest
from django import forms
from django.forms.renderers import get_default_renderer
from django.urls import reverse

from characters import selectors
from characters.forms import GalleryFilterForm
from characters.models import Anchor, Image, ImageEmbedding, LikenessScore, Pose
from characters.selectors.approval import approved
from generation.models import GenerationRun, ProviderCall

pytestmark = pytest.mark.django_db


def grow(character, images: int, *, start: int = 0) -> list[Image]:
    """`images` more images of `character` with everything a tile shows: variations made from
    their pose's anchor by calls of a run (cost, run link), primary likeness scores and one
    against the source anchor, the odd warning, stars, every review. Rows only: a tile
    links to its files, it never opens them."""
    poses = list(character.poses.order_by("order"))
    specs = list(character.variations.select_related("anchor_pose"))
    for pose in poses[1:]:  # anchors picked for every pose but one
        if not Anchor.objects.filter(character=character, pose=pose).exists():
            picked = Image.objects.create(
                character=character, kind="candidate", pose=pose, file="a/x.png", width=8, height=8
            )
            Anchor.objects.create(character=character, pose=pose, image=picked)
    anchor_of = dict(character.anchors.values_list("pose_id", "image_id"))
    run = GenerationRun.objects.create(character=character, kind="variations", provider="local")
    rows = []
    for n in range(start, start + images):
        spec = specs[n % len(specs)] if n % 3 else None
        call = None
        if spec:
            call = ProviderCall.objects.create(
                run=run,
                provider="local",
                task="image_to_image",
                endpoint="local/image-to-image",
                status="done",
                external_id=f"gallery-{character.pk}-{n}",
                units=1,
                estimated_cost=Decimal("0.04"),
            )
        pose = spec.anchor_pose if spec else poses[n % len(poses)]
        rows.append(
            Image(
                character=character,
                kind="variation" if spec else "candidate",
                pose=pose,
                variation=spec,
                source_image_id=anchor_of.get(pose.id) if spec else None,
                call=call,
                call_output=0 if call else None,
                file=f"g/{n}.png",
                thumbnail=f"g/{n}.webp",
                width=8,
                height=8,
                review=["approved", "rejected", "unreviewed"][n % 3],
                starred=n % 4 == 0,
                seed=n,
                warnings=["Small: 8×8 px"] if n % 5 == 0 else [],
            )
        )
    images = Image.objects.bulk_create(rows)
    scores = []
    for n, image in enumerate(images):
        distance = 0.2 + (n % 7) / 10
        flag = "drift" if n % 7 == 4 else "ok"  # the 5th image: starred and drifting
        shown = dict(measure="face", model="m", distance=distance, score=1 - distance)
        scores.append(
            LikenessScore(image=image, reference="sheet", flag=flag, primary=True, **shown)
        )
        if image.source_image_id:
            scores.append(LikenessScore(image=image, reference="anchor:x", flag="ok", **shown))
        image.likeness_sort_key = shown["score"]  # as scoring copies it, to sort on
    LikenessScore.objects.bulk_create(scores)
    Image.objects.bulk_update(images, ["likeness_sort_key"])
    return images


def gallery_pages(character, images: int) -> list[tuple[str, dict]]:
    gallery = reverse("characters:gallery", args=[character.slug])
    last = (images + 59) // 60
    htmx = {"HX-Request": "true"}
    return [
        (gallery, {}),
        (f"{gallery}?page={last}", {}),
        (f"{gallery}?review=approved&sort=pose", {}),
        (f"{gallery}?sort=likeness&page={last}", {}),
        (f"{gallery}?sort=variation&page={last}", {}),
        (f"{gallery}?review=approved&sort=variation", htmx),
        (f"{gallery}?flag=drift&starred=yes", {}),
        (f"{gallery}?review=unreviewed", htmx),
        (f"{gallery}?page={last}", htmx),
        (reverse("characters:curation_counts", args=[character.slug]), htmx),
    ]


def queries_of(client, url, headers, django_assert_max_num_queries, limit=100) -> int:
    with django_assert_max_num_queries(limit, info=url) as captured:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, url
    return len(captured.captured_queries)


def test_the_gallery_makes_as_many_queries_for_125_images_as_for_5(
    logged_in, character, django_assert_max_num_queries
):
    grow(character, 5)
    few = []
    for url, headers in gallery_pages(character, 5):
        logged_in.get(url, headers=headers)  # warm: sessions, first-use lookups
        few.append(queries_of(logged_in, url, headers, django_assert_max_num_queries))

    grow(character, 120, start=5)  # three pages, every tile with a source, call and score
    for (url, headers), limit in zip(gallery_pages(character, 125), few, strict=True):
        queries_of(logged_in, url, headers, django_assert_max_num_queries, limit)


def test_a_page_of_the_gallery_keeps_the_order_asked_for(logged_in, character):
    grow(character, 125)
    url = reverse("characters:gallery", args=[character.slug])
    scores = dict(LikenessScore.objects.filter(primary=True).values_list("image_id", "score"))
    shown = []
    for page in (1, 2, 3):
        html = logged_in.get(url, {"sort": "likeness", "page": page}).content.decode()
        shown += [int(part.split('"')[0]) for part in html.split('data-image-id="')[1:]]
    assert len(shown) == len(set(shown)) == Image.objects.filter(character=character).count()
    # Least alike first, unmeasured (the anchors) last: the order holds across the pages.
    ranked = [scores.get(image_id) for image_id in shown]
    measured = [score for score in ranked if score is not None]
    assert measured == sorted(measured)
    assert ranked[len(measured) :] == [None] * (len(ranked) - len(measured))


def shown_ids(client, url, query: dict, images: int, headers=None) -> list[int]:
    """The image ids of the gallery's pages of `images` images, in the order shown."""
    shown = []
    for page in range(1, (images + 59) // 60 + 1):
        html = client.get(url, {**query, "page": page}, headers=headers).content.decode()
        shown += [int(part.split('"')[0]) for part in html.split('data-image-id="')[1:]]
    return shown


@pytest.mark.parametrize(
    ("query", "group"),
    [
        ({"sort": "pose"}, "pose"),
        ({"sort": "pose", "review": "approved"}, "pose"),
        ({"sort": "variation"}, "variation"),
        ({"sort": "variation", "kind": "variation", "starred": "no"}, "variation"),
    ],
)
def test_by_pose_or_spec_the_pages_keep_their_order_across_groups(
    logged_in, character, query, group
):
    # Poses (specs) by their order, those sharing one mixed, images without one last;
    # newest first within each: cut into pages group by group, the order holds across pages.
    grow(character, 125)
    for n in range(4):
        Image.objects.create(
            character=character, kind="upload", file=f"u/{n}.png", width=8, height=8
        )
    poses = list(character.poses.order_by("order"))
    Pose.objects.filter(id=poses[2].id).update(order=poses[1].order)  # two poses, one order
    Pose.objects.filter(id=poses[0].id).update(order=99)  # the first pose now comes last
    images = Image.objects.filter(character=character)
    if "review" in query:
        images = approved(images)
    if "kind" in query:
        images = images.filter(kind=query["kind"], starred=False)
    rows = images.values_list("id", f"{group}__order", "created_at")
    expected = [
        image_id
        for image_id, _, _ in sorted(
            rows, key=lambda row: (row[1] is None, row[1] or 0, -row[2].timestamp(), -row[0])
        )
    ]
    url = reverse("characters:gallery", args=[character.slug])
    assert shown_ids(logged_in, url, query, len(expected)) == expected


def test_least_alike_first_follows_the_scores_as_scoring_rewrites_them(logged_in):
    # The gallery sorts on a copy of each image's primary score: scoring keeps it in step
    # when it scores, scores again against a new anchor, or drops an image's old scores.
    from characters.likeness import scoring
    from tests.factories import AnchorFactory, CharacterFactory, ImageFactory
    from tests.training.test_likeness_of_versions import embedded

    character = CharacterFactory()
    anchor = AnchorFactory(character=character)
    embedded(anchor.image, 0.0)
    images = [
        embedded(ImageFactory(character=character), offset) for offset in (0.5, 0.1, 0.8, 0.3)
    ]
    unmeasured = ImageFactory(character=character)
    url = reverse("characters:gallery", args=[character.slug])

    def least_alike_first() -> list[int]:
        return shown_ids(logged_in, url, {"sort": "likeness"}, 6)

    def by_scores() -> list[int]:
        scores = dict(
            LikenessScore.objects.filter(primary=True, score__isnull=False).values_list(
                "image_id", "score"
            )
        )
        measured = sorted(scores, key=lambda image_id: (scores[image_id], -image_id))
        rest = Image.objects.filter(character=character).exclude(id__in=measured)
        return measured + list(rest.order_by("-created_at", "-id").values_list("id", flat=True))

    scoring.score_character(character_id=character.id)
    assert least_alike_first() == by_scores()
    assert least_alike_first()[:2] == [images[2].id, images[0].id]
    # Unmeasured last: the image without vectors, the anchor (no other anchor to judge it by).
    assert least_alike_first()[-2:] == [unmeasured.id, anchor.image_id]

    # A new anchor: every image is scored against it instead.
    new_anchor = images[2]
    type(anchor).objects.filter(id=anchor.id).update(image=new_anchor)
    scoring.score_character(character_id=character.id)
    assert least_alike_first() == by_scores()
    assert least_alike_first()[0] == images[1].id  # 0.1 from the old anchor, 0.7 from this one

    # An image read by an older model loses its scores: unmeasured, it goes last.
    ImageEmbedding.objects.filter(image=images[1]).update(model="an older model")
    scoring.score_character(character_id=character.id)
    assert not LikenessScore.objects.filter(image=images[1]).exists()
    assert least_alike_first() == by_scores()
    assert images[1].id in least_alike_first()[-2:]


def test_a_tile_shows_its_source_cost_run_likeness_and_warning(logged_in, character):
    image = next(i for i in grow(character, 6) if i.source_image_id and i.warnings)
    url = reverse("characters:gallery", args=[character.slug])
    html = logged_in.get(url).content.decode()
    tile = html.split(f'id="image-{image.id}"')[1].split('class="tile ')[0]
    assert 'data-source-url="/media/a/x.png?expires=' in tile
    assert 'data-cost="$0.040"' in tile
    assert f'data-run="{image.call.run_id}"' in tile
    assert "distance 0.70 from sheet, 0.70 from its source anchor" in tile
    assert "Small: 8×8 px" in tile


def test_the_counts_are_those_of_every_image_not_of_the_page(character):
    grow(character, 125)
    counts = selectors.curation_counts(character)
    images = Image.objects.filter(character=character)
    assert counts.total == images.count() == 125 + len(character.poses.all()) - 1
    kept = approved(images)
    assert counts.approved == kept.count()
    assert counts.rejected == images.filter(review="rejected").exclude(id__in=kept).count()
    assert sum(p.count for p in counts.poses) == counts.approved


@pytest.mark.parametrize(
    ("scores", "text"),
    [
        ([], "Not measured yet"),
        ([dict(flag="no_face", score=None, distance=None)], "No face found"),
        ([dict(flag="too_small", score=None, distance=None)], "Face too small to judge"),
        ([dict(flag="ok", score=None, distance=None, reference="none")], "Nothing to compare"),
        ([dict(flag="ok", measure="rough")], "0.62 (rough, rough; distance 0.38 from sheet)"),
        (
            [dict(flag="drift"), dict(reference="anchor:front", distance=0.555, primary=False)],
            "0.62 (face; distance 0.38 from sheet, 0.56 from its source anchor) · drift",
        ),
        ([dict(flag="other_person")], "0.62 (face; distance 0.38 from sheet) · other person?"),
    ],
)
def test_the_lightbox_says_how_alike_an_image_is(logged_in, character, scores, text):
    image = Image.objects.create(
        character=character, kind="upload", file="u/1.png", width=8, height=8
    )
    for row in scores:
        values = dict(measure="face", reference="sheet", score=0.62, distance=0.38, primary=True)
        LikenessScore.objects.create(image=image, model="m", **{**values, **row})
    html = logged_in.get(reverse("characters:gallery", args=[character.slug])).content.decode()
    assert f'data-likeness="{text}' in html


@pytest.mark.parametrize(
    ("score", "badge"),
    [
        (None, '<span class="small muted">'),  # no mark: the label follows the review badge
        (
            dict(flag="ok"),
            '<span class="likeness-score small muted" title="Likeness (face vs sheet): 1 is '
            'identical; distance 0.38">0.62</span>',
        ),
        (
            dict(flag="ok", measure="rough"),
            '<span class="likeness-score small muted" title="Likeness (rough vs sheet): 1 is '
            'identical; distance 0.38">rough 0.62</span>',
        ),
        (
            dict(flag="drift", measure="rough"),
            '<span class="badge likeness drift" title="Likeness (rough vs sheet): distance 0.38">'
            "Drift (rough)</span>",
        ),
        (
            dict(flag="other_person", reference="pin:2"),
            '<span class="badge likeness other_person" title="Likeness (face vs pin:2): '
            'distance 0.38">Other person?</span>',
        ),
        (
            dict(flag="no_face", score=None, distance=None, reference="none"),
            '<span class="badge likeness no_face" title="Likeness (face)">No face</span>',
        ),
        (
            dict(flag="too_small", score=None, distance=None),
            '<span class="badge likeness too_small" title="Likeness (face vs sheet)">'
            "Face too small</span>",
        ),
    ],
)
def test_a_tile_marks_how_alike_its_image_is(logged_in, character, score, badge):
    image = Image.objects.create(
        character=character, kind="upload", file="u/1.png", width=8, height=8
    )
    if score is not None:
        values = dict(measure="face", reference="sheet", score=0.62, distance=0.38, primary=True)
        LikenessScore.objects.create(image=image, model="m", **{**values, **score})
    html = logged_in.get(reverse("characters:gallery", args=[character.slug])).content.decode()
    meta = " ".join(html.split('<div class="tile-meta">')[1].split("</div>")[0].split())
    review = '<span class="badge unreviewed">Unreviewed</span>'
    assert meta.startswith(f"{review} {badge}")


def test_the_gallery_filters_render_as_djangos_own_selects(character):
    GenerationRun.objects.create(character=character, kind="anchors", provider="local")
    data = {"pose": "back", "review": "approved", "sort": "pose", "flag": "drift"}
    ours = GalleryFilterForm(data, character=character)
    django_s = GalleryFilterForm(data, character=character)
    for field in django_s.fields.values():
        field.widget = forms.Select(choices=field.choices)
    django_s.renderer = get_default_renderer()

    def tags(html) -> str:
        return re.sub(r">\s+<", "><", str(html)).strip()

    for name in ours.fields:
        assert tags(ours[name]) == tags(django_s[name]), name
    assert 'value="back" selected' in str(ours["pose"])


def test_a_tile_escapes_what_people_typed(logged_in, character):
    # A prompt, a pose's label and an ingest note are text: on the page and in a review's
    # answer they stay text, attributes unbroken.
    pose = character.poses.get(key="front")
    pose.label = 'Front <b>"wide"</b> & co'
    pose.save()
    image = Image.objects.create(
        character=character,
        kind="candidate",
        pose=pose,
        file="g/1.png",
        width=8,
        height=8,
        prompt="a \"quoted\" <script>alert('x')</script> prompt",
        warnings=["Looks like image #12 <b>", 'Small: "8×8" px'],
    )
    url = reverse("characters:gallery", args=[character.slug])
    review = reverse("characters:image_review", args=[character.slug, image.id])
    for html in (
        logged_in.get(url).content.decode(),
        logged_in.post(
            review, {"starred": "true"}, headers={"HX-Request": "true"}
        ).content.decode(),
    ):
        tile = html.split(f'id="image-{image.id}"')[1].split("</div>\n</div>")[0]
        assert "<script>" not in tile and "<b>" not in tile
        assert (
            'data-prompt="a &quot;quoted&quot; &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;'
            ' prompt"' in tile
        )
        assert 'data-label="Front &lt;b&gt;&quot;wide&quot;&lt;/b&gt; &amp; co · #' in tile
        assert (
            '<span class="small muted">Front &lt;b&gt;&quot;wide&quot;&lt;/b&gt; &amp; co' in tile
        )
        assert 'title="Looks like image #12 &lt;b&gt;">like #12</span>' in tile
        assert 'title="Small: &quot;8×8&quot; px">small</span>' in tile


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx grid"])
@pytest.mark.parametrize("sort", ["newest", "pose"])
def test_approved_counts_each_kept_image_once_whatever_the_anchors_own_review(
    logged_in, character, sort, htmx
):
    # Approved is counted as two parts (reviewed as approved; anchors that are not), or taken
    # from the curation counts by the whole page: an anchor also reviewed as approved, or one
    # rejected, must be neither lost nor counted twice, or a page would come out short,
    # repeat an image or never end.
    headers = {"HX-Request": "true"} if htmx else None
    grow(character, 130)
    anchors = list(character.anchors.select_related("image"))
    Image.objects.filter(id=anchors[0].image_id).update(review="approved")
    Image.objects.filter(id=anchors[1].image_id).update(review="rejected")
    expected = set(approved(Image.objects.filter(character=character)).values_list("id", flat=True))
    assert {anchors[0].image_id, anchors[1].image_id} <= expected
    url = reverse("characters:gallery", args=[character.slug])
    query = {"review": "approved", "sort": sort}
    shown = shown_ids(logged_in, url, query, len(expected), headers=headers)
    assert len(shown) == len(set(shown)) and set(shown) == expected
    pages = (len(expected) + 59) // 60
    last = logged_in.get(url, {**query, "page": pages + 1}, headers=headers)
    assert last.context["page"].number == pages  # the paginator's count: one past the end
    assert last.context["page"].paginator.count == len(expected)


@pytest.mark.parametrize(
    "query",
    [{}, {"sort": "pose", "review": "approved"}, {"sort": "variation"}, {"sort": "likeness"}],
)
def test_the_api_pages_the_images_as_the_gallery_shows_them(logged_in, api, character, query):
    # The API's list is counted and cut as the gallery's pages are (ids first, then the
    # rows): pages of 50 across the gallery's pages of 60 and across the pose groups give
    # the same images in the same order, each once, with every field.
    grow(character, 125)
    url = reverse("characters:gallery", args=[character.slug])
    total = logged_in.get(url, query).context["page"].paginator.count
    expected = shown_ids(logged_in, url, query, total)
    listed, count = [], None
    for offset in range(0, len(expected) + 50, 50):
        page = api.get(
            f"/api/characters/{character.slug}/images", {**query, "limit": 50, "offset": offset}
        ).json()
        count = page["count"]
        listed += page["items"]
    assert count == len(expected)
    assert [item["id"] for item in listed] == expected
    varied = [item for item in listed if item["variation"] and item["likeness"]]
    assert varied or query.get("review")  # approved ones are the anchors and candidates here
    for item in varied[:3]:
        assert item["pose"] and item["call_id"] and item["source_image_id"]
        assert item["url"].startswith("/media/") and item["likeness"]["measure"]
