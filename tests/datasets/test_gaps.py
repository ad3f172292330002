"""Fill the gap: close-up and mid gaps get close-up and mid pictures, labelled as such."""

import io

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from characters import faces, shot_types
from characters.models import Anchor, Image, ShotSource
from datasets import framing, gaps, services
from generation.models import GenerationRun
from generation.providers import local_render
from tests.characters.test_shot_types import astronaut, framed
from tests.confirm_pages import price, start

pytestmark = pytest.mark.django_db

FASHION_BASE = (
    "full body studio photo of a young woman with shoulder-length dark brown hair, wearing "
    "a fitted white t-shirt, plain white seamless background, soft even studio lighting, "
    "photorealistic, head to toe visible"
)
FRONT_POSE = "standing facing the camera, arms down at the sides, feet slightly apart, full body"


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(array).save(out, "PNG")
    return out.getvalue()


def rendered_anchors(character):
    """Anchors drawn by the simulator (a mannequin, no face a detector finds), far shots."""
    for pose in character.poses.all():
        content = local_render.render(f"{character.base_prompt}, {pose.prompt}", seed=pose.order)
        image = Image(character=character, kind=Image.Kind.CANDIDATE, pose=pose, prompt=pose.prompt)
        image.file.save(f"anchor-{pose.key}.png", ContentFile(content), save=False)
        shot_types.assign(image, face_ratio=None)
        image.save()
        Anchor.objects.create(character=character, pose=pose, image=image)


def test_a_gap_prompt_leaves_out_the_base_prompts_framing_words():
    prompt = framing.gap_prompt(shot="close", base_prompt=FASHION_BASE, pose_prompt=FRONT_POSE)

    assert prompt.startswith("close-up portrait, head and shoulders filling the frame")
    assert "full body" not in prompt and "head to toe" not in prompt
    assert "feet" not in prompt  # a close-up cannot show them
    assert "studio photo of a young woman with shoulder-length dark brown hair" in prompt
    assert shot_types.from_prompt(prompt) == "close"
    mid = framing.gap_prompt(shot="mid", base_prompt=FASHION_BASE, pose_prompt=FRONT_POSE)
    assert shot_types.from_prompt(mid) == "mid" and "full body" not in mid


@pytest.mark.parametrize("shot", ["close", "mid"])
def test_a_crop_of_a_far_shot_around_its_face_has_the_gaps_shot_type(shot):
    wide = framed(astronaut(), widen=2.0)  # the whole figure small in the frame: far
    assert shot_types.classify(faces.largest_face_ratio(wide)) == "far"

    content, how = framing.reframed(png(wide), shot)

    assert "around its face" in how
    assert shot_types.classify(shot_types.face_ratio_of(content)) == shot


def test_without_a_face_the_crop_is_taken_from_the_top_of_the_figure():
    content = local_render.render("orange mannequin, standing facing the camera", seed=3)
    cropped, how = framing.reframed(content, "close")
    assert "from the top of the figure" in how
    before = PILImage.open(io.BytesIO(content))
    after = PILImage.open(io.BytesIO(cropped))
    assert after.size == before.size  # enlarged back to the anchor's size
    assert np.asarray(after).tobytes() != np.asarray(before).tobytes()


def test_the_confirm_page_says_which_anchor_prompt_and_strength_it_uses(logged_in, character):
    rendered_anchors(character)
    dataset = services.create_dataset(character=character, name="v1")
    url = f"/datasets/{dataset.id}/fill-gap/"

    page = price(logged_in, url, {"shot": "close", "count": "4", "provider": "local"})

    body = page.content.decode()
    front = Anchor.objects.get(character=character, pose__key="front")
    assert "Fill the gap: 4 close-up shots" in body
    assert f"of the Front anchor (image #{front.image_id})" in body
    assert "head-and-shoulders crop" in body
    assert (
        "close-up portrait, head and shoulders filling the frame, face clearly visible, "
        "orange mannequin, cream background, standing facing the camera"
    ) in body
    assert "<dt>Strength</dt><dd>0.55" in body
    assert f'action="{url}"' in body
    assert not GenerationRun.objects.exists()


def test_a_close_up_gap_makes_close_ups_without_a_variation_spec(
    logged_in, character, settings, eager_tasks, drive
):
    settings.LOCAL_PROVIDER_DELAY = 0
    rendered_anchors(character)
    specs = set(character.variations.values_list("key", flat=True))
    dataset = services.create_dataset(character=character, name="v1")

    response = start(
        logged_in,
        f"/datasets/{dataset.id}/fill-gap/",
        {"shot": "close", "count": "3", "provider": "local"},
    )

    assert response.status_code == 302
    run = drive(GenerationRun.objects.get())
    assert run.status == "succeeded", run.error
    assert run.params["gap"]["shot"] == "close"
    assert set(character.variations.values_list("key", flat=True)) == specs
    made = list(Image.objects.filter(call__run=run))
    assert len(made) == 3
    assert {(i.shot_type, i.shot_source, i.variation_id) for i in made} == {
        ("close", ShotSource.PROMPT, None)
    }
    sent = run.calls.first().context["inputs"]
    assert sent["image_url"].startswith("file:gap-sources/")
    assert default_storage.exists(sent["image_url"].removeprefix("file:"))

    page = logged_in.get(f"/datasets/{dataset.id}/").content.decode()
    assert f'3 close-ups from <a href="/runs/{run.id}/">run #{run.id}</a> await review' in page
    assert f"?run={run.id}&amp;review=unreviewed" in page

    Image.objects.filter(call__run=run).update(review=Image.Review.APPROVED)
    page = logged_in.get(f"/datasets/{dataset.id}/").content.decode()
    assert "await review" not in page
    assert "3 approved images of Fit are not in this dataset yet" in page


def test_the_api_dry_run_names_the_anchor_the_source_and_the_prompt(api, character):
    rendered_anchors(character)
    dataset = services.create_dataset(character=character, name="v1")
    response = api.post(
        f"/api/datasets/{dataset.id}/fill-gap",
        {"shot": "mid", "count": 2, "dry_run": True},
        content_type="application/json",
    )
    assert response.status_code == 200
    gap = response.json()["gap"]
    assert gap["anchor_pose"] == "front"
    assert "waist-up crop" in gap["source"]
    assert gap["prompt"].startswith("medium shot from the waist up")
    assert not character.variations.filter(label__startswith="Fill the gap").exists()


def test_the_gap_run_for_a_missing_pose_edits_that_poses_anchor(api, character):
    rendered_anchors(character)
    dataset = services.create_dataset(character=character, name="v1")
    plan = gaps.plan_gap(dataset=dataset, pose="seated", count=2, provider="local")
    seated = Anchor.objects.get(character=character, pose__key="seated")
    assert plan.plan.calls[0].inputs["image_url"] == f"file:{seated.image.file.name}"
    assert plan.plan.calls[0].image["shot"] == ""
