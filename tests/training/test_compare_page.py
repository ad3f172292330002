"""Compare versions: zoom, the sheet beside, the settings that differ, Approve per version."""

import re

from characters.services import pick_anchor
from tests.factories import DatasetFactory, ImageFactory, ReadyExportFactory
from tests.training.versions import lora_version, reference_set
from training.models import TrainingJob


def _job(character, export, **settings):
    return TrainingJob.objects.create(
        character=character,
        export=export,
        provider="local",
        preset="character",
        trigger_word=character.trigger_word,
        **settings,
    )


def _compare(client, character) -> str:
    return client.get(f"/training/characters/{character.slug}/compare/").content.decode()


def test_the_sheet_s_anchors_stand_beside_the_versions(logged_in, character):
    pose = character.poses.get(key="front")
    anchor = ImageFactory(character=character, kind="candidate", pose=pose)
    pick_anchor(character=character, pose_key="front", image_id=anchor.id, picked_by=None)
    reference_set(lora_version(character, version=1, status="ready"))
    html = _compare(logged_in, character)
    sheet = re.search(r'<aside class="compare-sheet".*?</aside>', html, re.S)[0]
    assert f'alt="Anchor: {pose.label}"' in sheet


def test_every_image_opens_full_size_to_zoom(logged_in, character):
    shots = reference_set(lora_version(character, version=1, status="ready"))
    html = _compare(logged_in, character)
    for image in shots.values():
        assert f'href="{image.file.url.split("?")[0]}' in html
    assert html.count("data-zoom ") == 5 and "data-zoom-dialog" in html


def test_only_the_settings_that_differ_are_shown(logged_in, character):
    export = ReadyExportFactory(dataset=DatasetFactory(character=character))
    first = lora_version(character, version=1, training_job=_job(character, export, rank=16))
    second = lora_version(character, version=2, training_job=_job(character, export, rank=32))
    reference_set(first)
    reference_set(second, scale=0.8)
    html = _compare(logged_in, character)
    differs = re.findall(r'<tr class="differs"><th scope="row">([^<]+)</th>(.*?)</tr>', html)
    assert [label for label, _ in differs] == ["LoRA scale", "Rank"]
    assert re.findall(r"<td[^>]*>([^<]*)</td>", dict(differs)["Rank"]) == ["16", "32"]
    assert "Steps" not in dict(differs)


def test_approve_is_offered_under_each_ready_version(logged_in, character):
    ready = lora_version(character, version=1, status="ready")
    approved = lora_version(character, version=2, status="approved")
    reference_set(ready)
    reference_set(approved)
    html = _compare(logged_in, character)
    approve_row = re.search(r'<tr class="compare-approve">.*?</tr>', html, re.S)[0]
    assert "Approve v1" in approve_row and "Approve v2" not in approve_row
    assert f"?lora={approved.id}" in approve_row  # an approved one is pinned from here
    response = logged_in.post(
        f"/training/loras/{ready.id}/approve/",
        {"next": f"/training/characters/{character.slug}/compare/"},
    )
    assert response["Location"] == f"/training/characters/{character.slug}/compare/"
    ready.refresh_from_db()
    assert ready.status == "approved"


def test_approve_is_not_offered_before_a_version_has_a_reference_set(logged_in, character):
    lora = lora_version(character, version=1, status="ready")
    html = logged_in.get(f"/training/loras/{lora.id}/").content.decode()
    assert "Approve v1" not in html
    assert "Render its reference set below to judge and approve it." in html
    assert "Approve v1" not in _compare(logged_in, character)
    reference_set(lora)
    assert "Approve v1" in logged_in.get(f"/training/loras/{lora.id}/").content.decode()
