"""No slugs, seed-document names or library errors on the pages a user walks, from the
character to the LoRA (the |label helper words them)."""

import re

import pytest

from datasets import services
from tests.datasets.conftest import make_image, stock
from training import reference_sets
from training import services as training

pytestmark = pytest.mark.usefixtures("eager_tasks")

# What a user must never read: the seed documents' names, stored slugs, Pillow's words.
JARGON = re.compile(
    r"seed 00\d|seeds 00\d|three_quarter|full_body|close_up|\bnone \d|\bcandidate \d"
    r"|cannot identify image file|image file is truncated|broken data stream",
    re.IGNORECASE,
)


def visible_text(html: str) -> str:
    """The page's text as a reader sees it: no tags, attributes, scripts or styles."""
    html = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", html)
    return re.sub(r"<[^>]+>", " ", html)


def test_the_pages_of_the_pipeline_speak_plain_words(
    logged_in, character, export, user, settings, finish, drive
):
    settings.LOCAL_PROVIDER_DELAY = 0
    stock(character)
    make_image(character, shot="mid", review="approved")  # no pose: counted as “no pose”
    dataset = services.create_dataset(character=character, name="v1")
    lora = finish(
        training.launch_training(
            plan=training.plan_training(export=export, provider="local"), created_by=user
        )
    ).lora
    plan = reference_sets.plan(lora=lora, provider="local", scale=1.0)
    drive(reference_sets.launch(lora=lora, plan=plan, scale=1.0, shots=None, created_by=user))

    pages = {
        "character": f"/characters/{character.slug}/",
        "gallery": f"/characters/{character.slug}/gallery/",
        "datasets": f"/datasets/for/{character.slug}/",
        "dataset": f"/datasets/{dataset.id}/",
        "new training": f"/training/new/?export={export.id}",
        "lora": lora.get_absolute_url(),
        "runs": "/runs/",
    }
    for name, url in pages.items():
        response = logged_in.get(url, follow=True)  # the training page redirects to carry a token
        assert response.status_code == 200, name
        found = JARGON.findall(visible_text(response.content.decode()))
        assert not found, f"{name}: {found}"
    dataset_page = visible_text(logged_in.get(pages["dataset"]).content.decode())
    assert "anchors 8" in dataset_page and "no pose 7" in dataset_page


def test_a_damaged_photo_is_refused_in_our_words_not_pillows(api, character):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.datasets.test_ingest import photo_bytes

    cut = SimpleUploadedFile("half.jpg", photo_bytes(seed=20)[:3000], content_type="image/jpeg")
    response = api.post(f"/api/characters/{character.slug}/images", {"files": [cut]})
    result = api.get(f"/api/uploads/{response.json()[0]['id']}").json()
    assert result["outcome"] == "rejected"
    assert result["reason"].startswith("The picture is damaged or cut short: open it")
    assert not JARGON.search(result["reason"]) and "(" not in result["reason"]
