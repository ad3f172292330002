"""The small ones of issue 14: anchor clicks in order, a “to review” count without the
candidates that lost, a lower-cased trigger word, dataset defaults, confirm pages alike."""

import pytest
from django.conf import settings

from characters import selectors, services
from characters.models import Character, Image
from datasets.models import Dataset
from tests.characters.test_curation import candidate, sheet  # noqa: F401  (fixture)
from tests.confirm_pages import price

pytestmark = pytest.mark.django_db


def test_anchor_clicks_are_sent_one_after_another_so_none_is_lost(logged_in, character):
    front = character.poses.get(key="front")
    candidate(character, front)
    page = logged_in.get(f"/characters/{character.slug}/anchors/").content.decode()
    assert 'hx-sync="#board:queue all"' in page


def test_candidates_that_lost_to_an_anchor_are_not_left_to_review(sheet, user):  # noqa: F811
    character, (front, back) = sheet
    picked = candidate(character, front)
    for _ in range(3):
        candidate(character, front)  # lost to the picked one
    candidate(character, back)  # its pose has no anchor yet: still to judge
    services.pick_anchor(character=character, pose_key="front", image_id=picked.id, picked_by=user)

    counts = selectors.curation_counts(character)

    assert counts.unreviewed == 1
    assert counts.total == 5


def test_the_trigger_word_is_kept_lower_cased_from_the_form_and_the_api(
    logged_in, api, loaded_presets
):
    logged_in.post(
        "/characters/new/",
        {"name": "Ava", "trigger_word": "AvaStudio", "base_prompt": "a woman", "preset": ""},
    )
    assert Character.objects.get(name="Ava").trigger_word == "avastudio"
    response = api.post(
        "/api/characters",
        {"name": "Bo", "trigger_word": "BoToken", "base_prompt": "a man"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["trigger_word"] == "botoken"
    page = logged_in.get("/characters/new/").content.decode()
    assert 'autocapitalize="none"' in page


def test_a_dataset_has_a_default_name_and_caption_template(logged_in, api, character):
    page = logged_in.get(f"/datasets/for/{character.slug}/").content.decode()
    assert 'value="Fit set 1"' in page
    assert 'value="{trigger}, {caption}"' in page

    logged_in.post(f"/datasets/for/{character.slug}/", {"name": "", "caption_template": ""})
    made = api.post(
        f"/api/characters/{character.slug}/datasets", {}, content_type="application/json"
    )
    assert made.status_code == 201
    assert sorted(Dataset.objects.values_list("name", flat=True)) == ["Fit set 1", "Fit set 2"]
    assert set(Dataset.objects.values_list("caption_template", flat=True)) == {
        "{trigger}, {caption}"
    }


def test_every_confirm_page_says_start_the_run_above_a_scrolling_list(logged_in, character):
    front = character.poses.get(key="front")
    candidate(character, front, review=Image.Review.APPROVED)
    page = price(
        logged_in,
        f"/runs/new/{character.slug}/",
        {"kind": "anchors", "poses": [p.key for p in character.poses.all()], "count": "50"},
    ).content.decode()
    assert '<div class="table-wrap confirm-calls">' in page
    assert ">Start the run</button>" in page
    reference = (settings.BASE_DIR / "templates/training/reference_confirm.html").read_text()
    assert ">Start the run</button>" in reference and "confirm-calls" in reference
