"""Caption templates are plain text with four placeholders, never format strings; item
captions keep to the length an image's caption has."""

import json

import pytest

from characters.models import CAPTION_MAX_LENGTH
from datasets import captions, services
from datasets.models import Dataset
from datasets.selectors import rendered_caption

pytestmark = pytest.mark.django_db


def patch(client, url, data):
    return client.patch(url, json.dumps(data), content_type="application/json")


@pytest.mark.parametrize(
    "template",
    [
        "{trigger}, {caption:d}",  # once saved, every page and export gave 500
        "{trigger}, {caption:x>10000000}",  # a 260 MB answer
        "{trigger}, {caption!r}",
        "{trigger}, {caption.__class__}",
        "{trigger}, {caption[0]}",
        "{trigger}, {caption}, {}",
        "{trigger}, {{caption}}",
    ],
)
def test_a_template_with_anything_but_the_four_plain_placeholders_is_refused_at_save(
    stocked, template
):
    with pytest.raises(captions.CaptionRefused, match="not valid|Unknown placeholder"):
        services.create_dataset(character=stocked, name="v1", caption_template=template)
    assert not Dataset.objects.exists()

    dataset = services.create_dataset(character=stocked, name="v2")
    with pytest.raises(captions.CaptionRefused):
        services.update_dataset(dataset=dataset, caption_template=template)
    dataset.refresh_from_db()
    assert dataset.caption_template == "{trigger}, {caption}"


def test_the_api_answers_400_naming_the_bad_placeholder(api, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    response = patch(api, f"/api/datasets/{dataset.id}", {"caption_template": "{caption:d}"})
    assert response.status_code == 400
    assert "{caption:d}" in response.json()["detail"]


def test_rendering_is_plain_replacement_so_a_stored_format_spec_stays_text(stocked, api):
    dataset = services.create_dataset(character=stocked, name="v1")
    # A template saved before templates were checked this way.
    Dataset.objects.filter(id=dataset.id).update(
        caption_template="{trigger}, {caption:x>10000000}, {caption:d}, {caption}"
    )
    dataset.refresh_from_db()
    item = dataset.items.exclude(caption="").first()

    text = rendered_caption(dataset, item)
    assert text == f"fitmannequin, {{caption:x>10000000}}, {{caption:d}}, {item.caption}"
    response = api.get(f"/api/datasets/{dataset.id}")
    assert response.status_code == 200
    assert len(response.content) < 200_000


def test_braces_in_a_caption_are_not_placeholders(stocked):
    text = captions.render(
        "{trigger}, {shot}, {caption}", trigger="fitmannequin", caption="a {pose} sign", shot="far"
    )
    assert text == "fitmannequin, full body shot, a {pose} sign"


def test_an_item_caption_over_the_image_caption_limit_is_refused(stocked, api):
    dataset = services.create_dataset(character=stocked, name="v1")
    item = dataset.items.first()
    before = item.caption
    with pytest.raises(services.DatasetRefused, match=f"at most {CAPTION_MAX_LENGTH}"):
        services.update_item(item=item, caption="x" * (CAPTION_MAX_LENGTH + 1))
    item.refresh_from_db()
    assert item.caption == before

    response = patch(api, f"/api/dataset-items/{item.id}", {"caption": "x" * 1_000_000})
    assert response.status_code == 422
    assert "caption" in json.dumps(response.json())
    item.refresh_from_db()
    assert item.caption == before


def test_the_caption_page_form_refuses_a_long_caption(logged_in, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    item = dataset.items.first()
    response = logged_in.post(
        f"/datasets/items/{item.id}/caption/",
        {"caption": "x" * (CAPTION_MAX_LENGTH + 1)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    assert f"at most {CAPTION_MAX_LENGTH}" in response.content.decode() + response.get(
        "HX-Trigger", ""
    )
    item.refresh_from_db()
    assert len(item.caption) <= CAPTION_MAX_LENGTH


def test_find_and_replace_that_would_grow_a_caption_past_the_limit_changes_nothing(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    before = {i.id: i.caption for i in dataset.items.all()}
    with pytest.raises(services.DatasetRefused, match="longer than"):
        services.find_and_replace(dataset=dataset, find="a", replace="b" * 200, apply=True)
    assert {i.id: i.caption for i in dataset.items.all()} == before
