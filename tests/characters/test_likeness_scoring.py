"""Likeness scores on images: measured once in the worker, against the sheet, an anchor, the
pin or (uploads only) the consensus, with the flag that goes with the distance."""

import pytest
from django.core.management import call_command

from characters.likeness import calibration, scoring, sweep
from characters.models import Image, ImageEmbedding, LikenessFlag, LikenessScore
from characters.services import pick_anchor
from tests.factories import (
    AnchorFactory,
    CharacterFactory,
    ImageFactory,
    PoseFactory,
    photo_file,
)

pytestmark = pytest.mark.django_db


def photo_image(character, person, change=None, **fields):
    rgb = calibration.photo(person)
    if change:
        rgb = calibration.changes(person)[change](rgb)
    return ImageFactory(character=character, file=photo_file(rgb, f"{person}.png"), **fields)


def primary(image) -> LikenessScore:
    return LikenessScore.objects.get(image=image, primary=True)


def test_an_upload_is_measured_once_by_each_offline_measure():
    image = photo_image(CharacterFactory(), "astronaut")
    scoring.measure_image(image_id=image.id)
    first = {e.measure: e.updated_at for e in ImageEmbedding.objects.filter(image=image)}
    scoring.measure_image(image_id=image.id)  # a redelivered task
    again = {e.measure: e.updated_at for e in ImageEmbedding.objects.filter(image=image)}
    assert first == again
    assert set(first) == {"face", "rough"}
    face = ImageEmbedding.objects.get(image=image, measure="face")
    assert face.flag == LikenessFlag.OK and len(face.vector) == 128 and face.face_px > 64


def test_uploads_alone_are_judged_by_their_consensus_flagging_exactly_the_foreign_person():
    character = CharacterFactory()
    own = [
        photo_image(character, "astronaut"),
        photo_image(character, "astronaut", "head and shoulders"),
        photo_image(character, "astronaut", "mirror"),
        photo_image(character, "astronaut", "rotated 15°"),
    ]
    stranger = photo_image(character, "grace_hopper")
    cup = photo_image(character, "coffee")
    for image in [*own, stranger, cup]:
        scoring.measure_image(image_id=image.id)

    flags = {image.id: primary(image).flag for image in [*own, stranger, cup]}
    assert flags == {
        **{image.id: LikenessFlag.OK for image in own},
        stranger.id: LikenessFlag.OTHER_PERSON,
        cup.id: LikenessFlag.NO_FACE,
    }
    row = primary(stranger)
    assert (row.measure, row.reference) == ("face", "consensus")
    assert row.distance > 0.6 and row.score < 0.5
    assert primary(cup).score is None and primary(cup).distance is None


def test_a_sheet_without_faces_leaves_uploads_judged_by_their_faces(eager_tasks):
    """A simulator's mannequins show no face: picked as the sheet, they must not turn the
    photos' face judgement (another person) into colour and shape's "drift"."""
    character = CharacterFactory()
    own = [
        photo_image(character, "astronaut", change)
        for change in (None, "head and shoulders", "mirror")
    ]
    stranger = photo_image(character, "grace_hopper")
    for image in [*own, stranger]:
        scoring.measure_image(image_id=image.id)
    pose = PoseFactory(character=character, key="front")
    mannequin = photo_image(character, "coffee", kind=Image.Kind.CANDIDATE, pose=pose)
    scoring.measure_image(image_id=mannequin.id)

    pick_anchor(character=character, pose_key="front", image_id=mannequin.id, picked_by=None)

    assert primary(stranger).flag == LikenessFlag.OTHER_PERSON
    assert (primary(stranger).measure, primary(stranger).reference) == ("face", "consensus")
    assert {primary(image).flag for image in own} == {LikenessFlag.OK}


def test_variations_are_scored_against_the_sheet_and_their_source_anchor():
    character = CharacterFactory()
    pose = PoseFactory(character=character, key="front")
    anchor = AnchorFactory(
        character=character,
        pose=pose,
        image=photo_image(character, "astronaut", kind=Image.Kind.CANDIDATE, pose=pose),
    )
    variation = photo_image(
        character, "astronaut", "rotated −20°", kind="variation", source_image=anchor.image
    )
    for image in (anchor.image, variation):
        scoring.measure_image(image_id=image.id)

    rows = {r.reference: r for r in LikenessScore.objects.filter(image=variation)}
    assert set(rows) == {"sheet", "anchor:front"}
    assert rows["sheet"].primary and rows["sheet"].flag == LikenessFlag.OK
    assert rows["anchor:front"].distance == rows["sheet"].distance  # one anchor on the sheet


def test_picking_another_person_as_the_anchor_rescores_every_image(eager_tasks):
    character = CharacterFactory()
    pose = PoseFactory(character=character, key="front")
    astronaut = photo_image(character, "astronaut", kind=Image.Kind.CANDIDATE, pose=pose)
    grace = photo_image(character, "grace_hopper", kind=Image.Kind.CANDIDATE, pose=pose)
    upload = photo_image(character, "astronaut", "mirror")
    pick_anchor(character=character, pose_key="front", image_id=astronaut.id, picked_by=None)
    for image in (astronaut, grace, upload):
        scoring.measure_image(image_id=image.id)
    assert primary(upload).flag == LikenessFlag.OK

    pick_anchor(character=character, pose_key="front", image_id=grace.id, picked_by=None)

    assert primary(upload).flag == LikenessFlag.OTHER_PERSON
    assert primary(upload).reference == "sheet"
    # A candidate is compared with the other anchors, not with the one it may replace.
    assert primary(astronaut).distance is None


def test_once_pinned_the_pin_is_the_reference(eager_tasks):
    from training.pins import pin_character

    character = CharacterFactory()
    pose = PoseFactory(character=character, key="front")
    AnchorFactory(
        character=character,
        pose=pose,
        image=photo_image(character, "grace_hopper", kind=Image.Kind.CANDIDATE, pose=pose),
    )
    primary_image = photo_image(character, "astronaut")
    upload = photo_image(character, "astronaut", "grey")
    for image in Image.objects.filter(character=character):
        scoring.measure_image(image_id=image.id)
    assert primary(upload).flag == LikenessFlag.OTHER_PERSON  # vs the sheet (Grace Hopper)

    pin, _ = pin_character(character=character, primary_image_id=primary_image.id)

    assert primary(upload).reference == f"pin:{pin.version}"
    assert primary(upload).flag == LikenessFlag.OK
    sheet = LikenessScore.objects.get(image=upload, reference="sheet")
    assert not sheet.primary and sheet.flag == LikenessFlag.OTHER_PERSON


def test_a_stale_identity_is_found_by_the_sweep():
    character = CharacterFactory()
    pose = PoseFactory(character=character, key="front")
    images = [photo_image(character, "astronaut", change) for change in (None, "mirror", "grey")]
    for image in images:
        scoring.measure_image(image_id=image.id)
    assert sweep.stale_characters() == []
    images[0].kind, images[0].pose = Image.Kind.CANDIDATE, pose
    images[0].save()
    AnchorFactory(character=character, pose=pose, image=images[0])  # picked, task lost
    assert sweep.stale_characters() == [character.id]


def test_backfill_measures_old_images_with_progress(capsys):
    character = CharacterFactory()
    for change in (None, "mirror"):
        photo_image(character, "astronaut", change)
    call_command("backfill_likeness")
    out = capsys.readouterr().out
    assert "2/2 images measured (100 %)" in out
    assert LikenessScore.objects.filter(image__character=character, primary=True).count() == 2


def test_the_api_shows_likeness_on_an_image_and_lists_sort_and_filter_by_it(api):
    character = CharacterFactory()
    own = [photo_image(character, "astronaut", c) for c in (None, "mirror", "head crop")]
    stranger = photo_image(character, "cameraman")
    cup = photo_image(character, "coffee")
    unmeasured = ImageFactory(character=character)
    for image in [*own, stranger, cup]:
        scoring.measure_image(image_id=image.id)

    body = api.get(f"/api/images/{stranger.id}").json()
    assert body["likeness"]["measure"] == "face"
    assert body["likeness"]["reference"] == "consensus"
    assert body["likeness"]["flag"] == "other_person"
    assert 0 <= body["likeness"]["score"] < 0.5 and body["likeness"]["distance"] > 0.6
    assert api.get(f"/api/images/{unmeasured.id}").json()["likeness"] is None
    cup_body = api.get(f"/api/images/{cup.id}").json()["likeness"]
    assert (cup_body["flag"], cup_body["score"]) == ("no_face", None)

    url = f"/api/characters/{character.slug}/images"
    least = [i["id"] for i in api.get(url, {"sort": "likeness"}).json()["items"]]
    assert least[0] == stranger.id and set(least[-2:]) == {cup.id, unmeasured.id}
    most = [i["id"] for i in api.get(url, {"sort": "-likeness"}).json()["items"]]
    assert most[:3] != least[:3] and most[3] == stranger.id
    flagged = api.get(url, {"flag": "other_person"}).json()["items"]
    assert [i["id"] for i in flagged] == [stranger.id]
    assert api.get(url, {"flag": "purple"}).status_code == 422


def test_an_image_list_reads_likeness_without_a_query_per_image(api, django_assert_max_num_queries):
    character = CharacterFactory()
    for change in (None, "mirror", "grey", "head crop"):
        scoring.measure_image(image_id=photo_image(character, "astronaut", change).id)
    with django_assert_max_num_queries(8):
        items = api.get(f"/api/characters/{character.slug}/images").json()["items"]
    assert all(i["likeness"]["flag"] == "ok" for i in items)


def test_the_anchor_board_orders_candidates_by_likeness_to_the_other_anchors(logged_in):
    from django.urls import reverse

    from tests.training.test_likeness_of_versions import embedded

    character = CharacterFactory()
    front = PoseFactory(character=character, key="front", order=0)
    side = PoseFactory(character=character, key="side", order=1)
    AnchorFactory(
        character=character,
        pose=front,
        image=embedded(
            ImageFactory(character=character, kind=Image.Kind.CANDIDATE, pose=front), 0.0
        ),
    )
    far, near, other = (
        embedded(ImageFactory(character=character, kind=Image.Kind.CANDIDATE, pose=side), d)
        for d in (0.5, 0.1, 0.8)
    )
    scoring.score_character(character_id=character.id)

    url = reverse("characters:anchors", args=[character.slug])
    page = logged_in.get(url, {"order": "likeness"}).content.decode()
    positions = [page.index(f"Candidate {image.id} for") for image in (near, far, other)]
    assert positions == sorted(positions)
    assert "Other person?" in page and "Drift" in page
    newest = logged_in.get(url).content.decode()
    assert newest.index(f"Candidate {other.id} for") < newest.index(f"Candidate {near.id} for")
