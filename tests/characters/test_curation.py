"""Picking anchors, reviewing images and the counts against the target."""

import itertools
import json
from decimal import Decimal

import pytest
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse

from characters import selectors, services
from characters.models import Anchor, Image
from characters.selectors.approval import approved, is_anchor
from generation.models import GenerationRun
from generation.selectors import character_costs
from tests.factories import CharacterFactory, ImageFactory, PoseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sheet():
    character = CharacterFactory()
    poses = [
        PoseFactory(character=character, key=k, order=i) for i, k in enumerate(["front", "back"])
    ]
    return character, poses


def candidate(character, pose, **kwargs):
    return ImageFactory(character=character, kind=Image.Kind.CANDIDATE, pose=pose, **kwargs)


def test_picking_a_second_anchor_for_a_pose_replaces_the_first(sheet, user):
    character, (front, _) = sheet
    first, second = candidate(character, front), candidate(character, front)
    services.pick_anchor(character=character, pose_key="front", image_id=first.id, picked_by=user)
    services.pick_anchor(character=character, pose_key="front", image_id=second.id, picked_by=user)
    assert list(Anchor.objects.values_list("image_id", flat=True)) == [second.id]


def test_a_candidate_of_another_pose_cannot_be_its_anchor(sheet, user):
    character, (front, back) = sheet
    image = candidate(character, back)
    with pytest.raises(services.AnchorRefused, match="made for the Back pose"):
        services.pick_anchor(
            character=character, pose_key="front", image_id=image.id, picked_by=user
        )
    assert not Anchor.objects.exists()


def test_an_image_of_another_character_cannot_be_an_anchor(sheet, user):
    character, _ = sheet
    stranger = ImageFactory()
    with pytest.raises(services.AnchorRefused, match="not a picture of"):
        services.pick_anchor(
            character=character, pose_key="front", image_id=stranger.id, picked_by=user
        )


def test_counts_include_anchors_and_name_the_missing_poses(sheet, user):
    character, (front, back) = sheet
    anchor = candidate(character, front)
    services.pick_anchor(character=character, pose_key="front", image_id=anchor.id, picked_by=user)
    candidate(character, front, review=Image.Review.APPROVED)
    candidate(character, front, review=Image.Review.REJECTED)
    candidate(character, back)
    counts = selectors.curation_counts(character)
    assert (counts.approved, counts.rejected, counts.unreviewed, counts.total) == (2, 1, 1, 4)
    assert [(p.key, p.count) for p in counts.poses] == [("front", 2), ("back", 0)]
    assert counts.missing_poses == ["Back"]
    assert "Approve 18 more" in counts.advice and "Back" in counts.advice


def test_counts_agree_with_the_one_definition_of_approved_on_every_mix(sheet):
    """The counts add up groups in Python; approval.approved_condition says it per image."""
    character, (front, back) = sheet
    side = PoseFactory(character=character, key="side", order=2)
    made = {}
    for pose, kind, review in itertools.product(
        [front, back, side, None], Image.Kind.values, Image.Review.values
    ):
        if pose is None and kind == Image.Kind.CANDIDATE:
            continue  # a candidate always has its pose
        for _ in range(2):
            made.setdefault((pose, kind, review), []).append(
                ImageFactory(character=character, kind=kind, pose=pose, review=review)
            )
    # Anchors as they can end up: an unreviewed candidate, a rejected one, an upload of another
    # pose (the side anchor), each counted as approved whatever its review.
    Anchor.objects.create(
        character=character, pose=front, image=made[(front, "candidate", "unreviewed")][0]
    )
    Anchor.objects.create(
        character=character, pose=back, image=made[(back, "candidate", "rejected")][0]
    )
    Anchor.objects.create(
        character=character, pose=side, image=made[(front, "upload", "unreviewed")][0]
    )
    ImageFactory(kind=Image.Kind.UPLOAD, review=Image.Review.APPROVED)  # another character

    images = Image.objects.filter(character=character).alias(
        anchor=is_anchor(),
        lost=Q(kind=Image.Kind.CANDIDATE) & Exists(Anchor.objects.filter(pose=OuterRef("pose_id"))),
    )
    kept = Q(review=Image.Review.APPROVED) | Q(anchor=True)
    counts = selectors.curation_counts(character)
    assert (counts.approved, counts.rejected, counts.unreviewed, counts.total) == (
        approved(Image.objects.filter(character=character)).count(),
        images.filter(Q(review=Image.Review.REJECTED) & ~kept).count(),
        images.filter(Q(review=Image.Review.UNREVIEWED) & ~kept & Q(lost=False)).count(),
        images.count(),
    )
    assert {p.key: p.count for p in counts.poses} == {
        pose.key: approved(Image.objects.filter(character=character, pose=pose)).count()
        for pose in (front, back, side)
    }


def test_cost_per_approved_image(sheet):
    character, (front, _) = sheet
    GenerationRun.objects.create(
        character=character,
        kind="anchors",
        provider="fal",
        actual_cost=Decimal("4.80"),
        finished_at="2026-01-01T00:00:00Z",
    )
    costs = character_costs(character, approved=16)
    assert (costs.spent, costs.per_approved) == (Decimal("4.80"), Decimal("0.300"))
    assert character_costs(character, approved=0).per_approved is None


def test_the_api_picks_anchors_lists_and_reviews_images(api, sheet):
    character, (front, back) = sheet
    image = candidate(character, front)
    candidate(character, back)
    response = api.put(
        f"/api/characters/{character.slug}/anchors/front",
        json.dumps({"image_id": image.id}),
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["image"]["id"] == image.id
    listed = api.get(f"/api/characters/{character.slug}/images?pose=front").json()
    assert [i["id"] for i in listed["items"]] == [image.id]
    response = api.patch(
        f"/api/images/{image.id}",
        json.dumps({"review": "approved", "starred": True}),
        content_type="application/json",
    )
    assert response.json()["review"] == "approved" and response.json()["starred"] is True
    bad = api.patch(
        f"/api/images/{image.id}", json.dumps({"review": "maybe"}), content_type="application/json"
    )
    assert bad.status_code == 422
    wrong = api.put(
        f"/api/characters/{character.slug}/anchors/back",
        json.dumps({"image_id": image.id}),
        content_type="application/json",
    )
    assert wrong.status_code == 409 and "Front" in wrong.json()["detail"]


def test_the_gallery_page_filters_and_shows_counts(logged_in, sheet):
    character, (front, back) = sheet
    candidate(character, front, review=Image.Review.APPROVED)
    candidate(character, back)
    url = reverse("characters:gallery", args=[character.slug])
    html = logged_in.get(url).content.decode()
    assert html.count("data-image-id=") == 2
    assert "Approve 19 more" in html
    filtered = logged_in.get(url, {"review": "approved"}).content.decode()
    assert filtered.count("data-image-id=") == 1


def test_the_gallery_query_count_does_not_grow_with_images(
    logged_in, sheet, django_assert_max_num_queries
):
    character, (front, back) = sheet
    for _ in range(30):
        candidate(character, front)
    url = reverse("characters:gallery", args=[character.slug])
    with django_assert_max_num_queries(14) as few:
        logged_in.get(url)
    for _ in range(30):
        candidate(character, back)
    with django_assert_max_num_queries(len(few.captured_queries)):
        logged_in.get(url)


def test_reviewing_from_the_gallery_returns_the_new_tile(logged_in, sheet):
    character, (front, _) = sheet
    image = candidate(character, front)
    url = reverse("characters:image_review", args=[character.slug, image.id])
    response = logged_in.post(url, {"review": "approved"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'class="tile review-approved' in response.content.decode()
    refused = logged_in.post(url, {"review": "nope"}, headers={"HX-Request": "true"})
    assert refused.status_code == 400


def test_bulk_review_changes_only_this_characters_images(logged_in, sheet):
    character, (front, _) = sheet
    mine = [candidate(character, front) for _ in range(3)]
    other = ImageFactory()
    url = reverse("characters:bulk_review", args=[character.slug])
    response = logged_in.post(
        url, {"review": "approved", "image": [i.id for i in mine] + [other.id]}
    )
    assert response.json() == {"updated": 3}
    other.refresh_from_db()
    assert other.review == Image.Review.UNREVIEWED


def test_picking_on_the_board_swaps_the_board_without_a_reload(logged_in, sheet):
    character, (front, _) = sheet
    image = candidate(character, front)
    url = reverse("characters:anchor_pick", args=[character.slug, "front"])
    response = logged_in.post(url, {"image_id": image.id}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="board">')
    assert "1 of 2 picked" in html


def test_gallery_pages_keep_the_filters(logged_in, sheet):
    character, (front, _) = sheet
    Image.objects.bulk_create(
        Image(
            character=character,
            kind=Image.Kind.CANDIDATE,
            pose=front,
            file=f"x/{n}.png",
            width=10,
            height=10,
            review=Image.Review.APPROVED,
        )
        for n in range(61)
    )
    url = reverse("characters:gallery", args=[character.slug])
    html = logged_in.get(url, {"review": "approved"}).content.decode()
    assert html.count("data-image-id=") == 60
    assert "?review=approved&page=2" in html
    assert (
        logged_in.get(url, {"review": "approved", "page": 2})
        .content.decode()
        .count("data-image-id=")
        == 1
    )
