"""LoRA versions carry their reference set's likeness to the sheet, per shot and overall,
and rank by it: computed here from fixed vectors, so the order is known."""

import numpy as np
import pytest

from characters.likeness import scoring
from characters.models import Image, ImageEmbedding
from tests.factories import (
    AnchorFactory,
    CharacterFactory,
    ImageFactory,
    PoseFactory,
    ProviderCallFactory,
)
from training import likeness, selectors
from training.models import LoraModel

pytestmark = pytest.mark.django_db
SHOTS = ["frontal", "three_quarter"]


def face_vector(offset: float) -> list[float]:
    """A 128-d vector at Euclidean distance `offset` from the sheet's."""
    vector = np.zeros(128)
    vector[0] = 1.0
    vector[1] = offset
    return vector.tolist()


def embedded(image, offset: float):
    ImageEmbedding.objects.create(
        image=image,
        measure="face",
        model="dlib_face_recognition_resnet_model_v1",
        flag="ok",
        vector=face_vector(offset),
        face_px=200,
    )
    return image


def version(character, number, offsets, *, provider="local"):
    lora = LoraModel.objects.create(
        character=character, version=number, status=LoraModel.Status.TRAINING, trigger_word="x"
    )
    for shot, offset in zip(SHOTS, offsets, strict=True):
        call = ProviderCallFactory(
            run__character=character,
            provider=provider,
            context={"image": {"lora_id": lora.id, "shot": shot, "kind": "reference"}},
        )
        embedded(ImageFactory(character=character, kind=Image.Kind.REFERENCE, call=call), offset)
    return lora


@pytest.fixture
def versions():
    character = CharacterFactory()
    pose = PoseFactory(character=character, key="front")
    anchor = AnchorFactory(character=character, pose=pose)
    embedded(anchor.image, 0.0)
    loras = {
        "close": version(character, 1, [0.1, 0.3]),
        "far": version(character, 2, [0.5, 0.7]),
        "closest": version(character, 3, [0.05, 0.05], provider="replicate"),
    }
    scoring.score_character(character_id=character.id)
    return character, loras


def test_each_version_carries_per_shot_and_overall_likeness_in_the_api(api, versions):
    character, loras = versions
    body = {v["version"]: v for v in api.get(f"/api/characters/{character.slug}/loras").json()}
    close = body[1]["likeness"]
    assert close["measure"] == "face"
    # 0.1 and 0.3 from the sheet; score = 1 − d / 1.2 (0.5 at the 0.6 threshold).
    assert close["per_shot"] == {
        "frontal": pytest.approx(0.9167, abs=1e-3),
        "three_quarter": pytest.approx(0.75, abs=1e-3),
    }
    assert close["overall"] == pytest.approx((0.9167 + 0.75) / 2, abs=1e-3)
    assert body[2]["likeness"]["overall"] < close["overall"] < body[3]["likeness"]["overall"]


def test_versions_rank_by_likeness_across_providers_in_one_table(versions):
    character, loras = versions
    ranked = likeness.rank_columns(selectors.comparison(character))
    assert [(r.rank, r.column.lora.version, r.column.provider) for r in ranked] == [
        (1, 3, "replicate"),
        (2, 1, "local"),
        (3, 2, "local"),
    ]
    far = ranked[2]
    assert far.summary.flags == {"frontal": "drift", "three_quarter": "other_person"}
    assert all(image.likeness.reference == "sheet" for image in far.column.shots.values())


def test_a_version_without_measured_references_has_no_likeness(api):
    character = CharacterFactory()
    version(character, 1, [0.1, 0.2])
    ImageEmbedding.objects.all().delete()
    body = api.get(f"/api/characters/{character.slug}/loras").json()
    assert body[0]["likeness"] is None


def test_compare_versions_shows_the_ranking_and_numbers_under_the_images(logged_in, versions):
    from django.urls import reverse

    character, loras = versions
    page = logged_in.get(reverse("training:compare", args=[character.slug])).content.decode()
    ranking = page[page.index('id="likeness-ranking"') : page.index("compare-table")]
    order = [ranking.index(f'data-version="{n}"') for n in (3, 1, 2)]
    assert order == sorted(order)  # v3 (replicate) first, then v1, then v2
    assert "0.83" in ranking  # v1 overall: (0.917 + 0.75) / 2
    assert page.count('class="likeness-numbers"') == 6  # under each of the six images
    assert "Other person?" in page  # v2's three-quarter shot


def test_a_pin_reference_that_drifts_from_the_primary_is_warned_about(logged_in):
    from django.urls import reverse

    character = CharacterFactory()
    primary = embedded(ImageFactory(character=character), 0.0)
    near = embedded(ImageFactory(character=character), 0.2)
    far = embedded(ImageFactory(character=character), 0.8)
    response = logged_in.post(
        reverse("training:pin_edit", args=[character.slug]),
        {"primary": primary.id, "references": [near.id, far.id]},
        follow=True,
    )
    page = response.content.decode()
    assert f"Reference #{far.id}" in page and "another person than the primary" in page
    assert f"Reference #{near.id}" not in page
    detail = logged_in.get(reverse("training:pin_detail", args=[character.slug, 1]))
    assert "Likeness warning" in detail.content.decode()


def test_the_pin_forms_likeness_warning_follows_the_choice_before_anything_is_saved(logged_in):
    from django.urls import reverse

    from training.models import Pin

    character = CharacterFactory()
    primary = embedded(ImageFactory(character=character), 0.0)
    near = embedded(ImageFactory(character=character), 0.2)
    far = embedded(ImageFactory(character=character), 0.8)
    stranger = embedded(ImageFactory(), 0.8)  # another character's picture: not compared
    url = reverse("training:pin_drift", args=[character.slug])

    def warning(**choice) -> str:
        response = logged_in.get(url, choice, headers={"HX-Request": "true"})
        assert response.status_code == 200
        return response.content.decode()

    chosen = warning(primary=primary.id, references=[near.id, far.id], **{f"role_{far.id}": "side"})
    assert "Likeness warning" in chosen and "<html" not in chosen  # the partial alone
    assert f"Reference #{far.id} (side) looks like another person than the primary" in chosen
    assert f"Reference #{near.id}" not in chosen
    assert warning(primary=primary.id, references=[near.id]).strip() == ""
    assert warning(primary=primary.id, references=[stranger.id]).strip() == ""
    assert warning(references=[far.id]).strip() == ""  # no primary yet: nothing to compare
    assert not Pin.objects.exists()

    # The form asks again whenever the choice changes, and opens with the current pin's warning.
    logged_in.post(
        reverse("training:pin_edit", args=[character.slug]),
        {"primary": primary.id, "references": [far.id]},
    )
    page = logged_in.get(reverse("training:pin_edit", args=[character.slug])).content.decode()
    live = page[page.index('id="pin-drift"') : page.index("Pin as a new version")]
    assert f'hx-get="{url}"' in live and 'hx-trigger="change from:closest form"' in live
    assert f"Reference #{far.id}" in live
