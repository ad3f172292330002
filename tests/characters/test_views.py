import pytest
from django.urls import reverse

from characters.models import Character, Variation
from tests.factories import AnchorFactory, CharacterFactory, ImageFactory, PoseFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    ["/", "/characters/", "/characters/new/", "/runs/", "/datasets/", "/training/"],
)
def test_every_page_sends_anonymous_visitors_to_the_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_demo_login_works_and_lands_on_the_character_list(client, user):
    response = client.post("/login/", {"username": "artist", "password": "correct horse battery"})
    assert response.status_code == 302
    assert response["Location"] == reverse("characters:list")


def test_creating_a_character_from_the_fitness_preset(logged_in, loaded_presets, user):
    response = logged_in.post(
        "/characters/new/",
        {
            "name": "Fit Mannequin",
            "trigger_word": "fitmannequin",
            "preset": "fitness",
            "base_prompt": "Orange anatomical mannequin figure",
            "negative_prompt": "text",
        },
    )
    character = Character.objects.get()
    assert response.status_code == 302
    assert response["Location"] == character.get_absolute_url()
    assert character.created_by == user
    assert character.poses.count() == 8


def test_a_duplicate_trigger_word_gives_a_clear_message_and_saves_nothing(logged_in):
    CharacterFactory(trigger_word="jdoe")
    response = logged_in.post(
        "/characters/new/", {"name": "Other", "trigger_word": "jdoe", "base_prompt": "a figure"}
    )
    assert response.status_code == 200
    assert "Another character already uses this trigger word." in response.content.decode()
    assert Character.objects.count() == 1


def test_an_empty_prompt_gives_a_clear_message_and_saves_nothing(logged_in):
    response = logged_in.post(
        "/characters/new/", {"name": "Other", "trigger_word": "ochar", "base_prompt": ""}
    )
    assert "the base prompt cannot be empty" in response.content.decode()
    assert not Character.objects.exists()


def test_a_common_word_as_trigger_is_explained(logged_in):
    response = logged_in.post(
        "/characters/new/", {"name": "Other", "trigger_word": "woman", "base_prompt": "a figure"}
    )
    assert "is a common word" in response.content.decode()
    assert not Character.objects.exists()


def test_a_strength_of_one_and_a_half_gives_a_clear_message_and_saves_nothing(logged_in):
    pose = PoseFactory(key="hanging")
    url = reverse("characters:variation_create", args=[pose.character.slug])
    response = logged_in.post(
        url,
        {
            "label": "Pull-up",
            "prompt": "chin above bar",
            "anchor_pose": "hanging",
            "strength": "1.5",
            "count": 4,
        },
    )
    assert response.status_code == 200
    assert "less than or equal to 1" in response.content.decode()
    assert not Variation.objects.exists()


def test_an_empty_variation_prompt_is_refused(logged_in):
    pose = PoseFactory(key="hanging")
    url = reverse("characters:variation_create", args=[pose.character.slug])
    response = logged_in.post(
        url,
        {"label": "Pull-up", "prompt": "", "anchor_pose": "hanging", "strength": "0.5", "count": 4},
    )
    assert "the prompt cannot be empty" in response.content.decode()
    assert not Variation.objects.exists()


def test_editing_a_variation_changes_it(logged_in):
    pose = PoseFactory(key="hanging")
    from characters.services import save_variation

    variation = save_variation(
        character=pose.character,
        label="Pull-up",
        prompt="chin above",
        anchor_pose="hanging",
        strength=0.5,
    )
    url = reverse("characters:variation_edit", args=[pose.character.slug, variation.key])
    response = logged_in.post(
        url,
        {
            "label": "Pull-up top",
            "prompt": "chin above bar",
            "anchor_pose": "hanging",
            "strength": "0.55",
            "count": 5,
        },
    )
    assert response.status_code == 302
    variation.refresh_from_db()
    assert (variation.label, str(variation.strength), variation.count) == ("Pull-up top", "0.55", 5)


def test_the_character_page_shows_the_pipeline_and_the_sheet(logged_in, loaded_presets):
    from characters.services import create_character

    character = create_character(
        name="Fit", trigger_word="fitmannequin", base_prompt="Orange mannequin", preset="fitness"
    )
    front = character.poses.get(key="front")
    AnchorFactory(character=character, pose=front)
    response = logged_in.get(character.get_absolute_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert "1 of 8 anchors picked" in html
    assert html.count('class="slot picked"') == 1
    assert "Pull-up, top" in html
    step_states = [s.state for s in response.context["steps"]]
    assert step_states[0] == "current"


def test_the_character_list_runs_a_fixed_number_of_queries(
    logged_in, django_assert_max_num_queries
):
    for _ in range(12):
        character = CharacterFactory()
        ImageFactory.create_batch(2, character=character)
    # 6 for the page, 3 for the role: its permissions (the user's, its groups') and its name.
    with django_assert_max_num_queries(9):
        response = logged_in.get("/characters/")
    assert response.content.decode().count("character-card") == 12


def test_an_unknown_character_is_a_404(logged_in):
    assert logged_in.get("/characters/nobody/").status_code == 404


def test_pages_carry_a_content_security_policy(logged_in):
    response = logged_in.get("/characters/")
    assert "script-src 'self' 'nonce-" in response["Content-Security-Policy"]


def test_the_variation_form_has_the_anchor_suggestion_right_under_the_prompt(logged_in):
    pose = PoseFactory(key="hanging")
    html = logged_in.get(
        reverse("characters:variation_create", args=[pose.character.slug])
    ).content.decode()
    prompt, suggestion, anchor = (
        html.index('id="id_prompt"'),
        html.index('id="anchor-suggestion"'),
        html.index('id="id_anchor_pose"'),
    )
    assert prompt < suggestion < anchor
