"""“Pin with vN” from a LoRA page: that version, its reference set, Save at the top."""

import re

from tests.training.versions import lora_version, reference_set
from training.models import Pin


def _checked(html: str, name: str) -> set[int]:
    return {int(m) for m in re.findall(rf'name="{name}" value="(\d+)" checked', html)}


def _pin_page(client, character, lora) -> str:
    return client.get(f"/training/characters/{character.slug}/pin/?lora={lora.id}").content.decode()


def test_pin_with_a_version_preselects_it_and_its_reference_set(logged_in, character):
    older = lora_version(character, version=1)
    reference_set(older)
    lora = lora_version(character, version=2)
    shots = reference_set(lora)
    html = logged_in.get(
        f"/training/characters/{character.slug}/pin/?lora={lora.id}"
    ).content.decode()

    assert "<h1>Pin Fit with v2</h1>" in html
    assert re.search(rf'<option value="{lora.id}" selected>v2</option>', html)
    assert _checked(html, "primary") == {shots["frontal"].id}
    assert _checked(html, "references") == {
        shots[s].id for s in ("side", "three_quarter", "action", "close_up")
    }
    for shot in ("side", "three_quarter", "action", "close_up"):
        image = shots[shot]
        select = re.search(rf'name="role_{image.id}".*?</select>', html, re.S)[0]
        assert f'value="{shot}" selected' in select
    assert html.count("<strong>v2</strong>") == 5  # each image says its version
    assert "<strong>v1</strong>" in html  # the other version's set is there, folded
    first_image = html.index('class="pin-choice"')
    assert html.index("Pin as a new version") < first_image  # the choice and Save on top
    assert html.index("id_lora") < first_image
    assert html.count("<details") == 1  # the other version's set folded away (no anchors yet)


def test_saving_the_preselected_pin_pins_the_version_and_its_shots(logged_in, character):
    lora = lora_version(character, version=1)
    shots = reference_set(lora)
    url = f"/training/characters/{character.slug}/pin/?lora={lora.id}"
    html = logged_in.get(url).content.decode()
    data = {
        "primary": _checked(html, "primary").pop(),
        "references": sorted(_checked(html, "references")),
        "lora": lora.id,
        "scale": "1",
        **dict(re.findall(r'name="(role_\d+)"[^>]*>.*?<option value="(\w+)" selected', html, re.S)),
    }
    response = logged_in.post(url, data)
    pin = Pin.objects.get()
    assert response["Location"] == pin.get_absolute_url()
    assert (pin.primary_image_id, pin.lora_id) == (shots["frontal"].id, lora.id)
    assert [(r.image_id, r.role) for r in pin.references.order_by("order")] == [
        (shots[s].id, s) for s in ("side", "three_quarter", "action", "close_up")
    ]


def test_a_version_not_approved_preselects_nothing(logged_in, character):
    lora = lora_version(character, version=1, status="ready")
    reference_set(lora)
    html = logged_in.get(
        f"/training/characters/{character.slug}/pin/?lora={lora.id}"
    ).content.decode()
    assert not _checked(html, "primary")
    assert "<details" not in html


def test_the_lora_page_links_its_pin_form(logged_in, character):
    lora = lora_version(character, version=3)
    html = logged_in.get(f"/training/loras/{lora.id}/").content.decode()
    assert (
        f'href="/training/characters/{character.slug}/pin/?lora={lora.id}">Pin with v3</a>' in html
    )
