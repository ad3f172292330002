from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from characters import services
from characters.models import Character, Preset, Variation
from characters.presets import load_preset, load_presets
from tests.factories import CharacterFactory, PoseFactory, VariationFactory

pytestmark = pytest.mark.django_db

SEED_000_ANCHORS = {
    "pullup_top": "hanging",
    "chinup_top": "hanging",
    "barbell_row": "bent",
    "deadlift_start": "bent",
    "lat_pulldown": "seated",
    "cable_row": "seated",
    "bicep_curl": "front",
    "overhead_press": "arms_up",
}


def test_fitness_preset_has_the_eight_anchor_poses_and_about_thirty_variations(loaded_presets):
    fitness = loaded_presets["fitness"]
    assert [p.key for p in fitness.poses.all()] == [
        "front",
        "back",
        "side",
        "quarter",
        "arms_up",
        "bent",
        "seated",
        "hanging",
    ]
    assert 28 <= fitness.variations.count() <= 34
    for variation in fitness.variations.all():
        assert Decimal("0.3") <= variation.strength <= Decimal("0.75"), variation.key


def test_fitness_variations_follow_the_pose_to_anchor_table(loaded_presets):
    anchors = {
        v.key: v.anchor_pose.key
        for v in loaded_presets["fitness"].variations.select_related("anchor_pose")
    }
    for key, anchor in SEED_000_ANCHORS.items():
        assert anchors[key] == anchor, key
    assert any(k.startswith("squat") and a == "side" for k, a in anchors.items())
    assert any("lunge" in k and a == "quarter" for k, a in anchors.items())


def test_there_are_presets_beyond_fitness(loaded_presets):
    assert {"fitness", "fashion", "turnaround"} <= set(loaded_presets)


def test_loading_presets_twice_changes_nothing():
    load_presets()
    counts = (Preset.objects.count(), Variation.objects.count())
    load_presets()
    assert (Preset.objects.count(), Variation.objects.count()) == counts


def test_reloading_a_changed_preset_updates_adds_and_removes_its_rows_in_a_few_queries(
    django_assert_max_num_queries,
):
    def pose(key, label):
        return {"key": key, "label": label, "prompt": f"{key} prompt"}

    def variation(key, anchor, strength):
        return {"key": key, "label": key, "prompt": key, "anchor_pose": anchor,
                "strength": strength}  # fmt: skip

    data = {
        "key": "studio",
        "label": "Studio",
        "poses": [pose(f"p{n}", f"Pose {n}") for n in range(8)],
        "variations": [variation(f"v{n}", f"p{n % 8}", 0.5) for n in range(32)],
    }
    with django_assert_max_num_queries(16):  # 40 rows: 90-odd queries one by one
        load_preset(data)
    kept_pose_id = Preset.objects.get(key="studio").poses.get(key="p1").id

    data["poses"] = [pose("p1", "Side, renamed"), pose("p0", "Pose 0"), pose("new", "New")]
    data["variations"] = [variation("v1", "new", 0.3), variation("v9", "p1", 0.5)]
    with django_assert_max_num_queries(16):
        preset = load_preset(data)

    poses = list(preset.poses.order_by("order").values_list("key", "label", "order", "id"))
    assert poses == [
        ("p1", "Side, renamed", 0, kept_pose_id),
        ("p0", "Pose 0", 1, poses[1][3]),
        ("new", "New", 2, poses[2][3]),
    ]
    variations = {v.key: v for v in preset.variations.select_related("anchor_pose")}
    assert set(variations) == {"v1", "v9"}
    assert (variations["v1"].anchor_pose.key, variations["v1"].strength) == ("new", Decimal("0.3"))
    assert (variations["v9"].anchor_pose.key, variations["v9"].order) == ("p1", 1)


def test_a_preset_whose_variation_names_an_unknown_pose_is_refused_whole():
    data = {
        "key": "broken",
        "label": "Broken",
        "poses": [{"key": "front", "label": "Front", "prompt": "standing"}],
        "variations": [
            {"key": "x", "label": "X", "prompt": "x", "anchor_pose": "nowhere", "strength": 0.5}
        ],
    }
    with pytest.raises(ValidationError, match="unknown anchor pose"):
        load_preset(data)
    assert not Preset.objects.filter(key="broken").exists()


def test_creating_a_character_from_a_preset_copies_its_poses_and_variations(loaded_presets, user):
    character = services.create_character(
        name="Fit Mannequin",
        trigger_word="fitmannequin",
        base_prompt="Orange mannequin",
        preset="fitness",
        created_by=user,
    )
    assert character.slug == "fit-mannequin"
    assert character.poses.count() == 8
    assert character.variations.count() == loaded_presets["fitness"].variations.count()
    pullup = character.variations.get(key="pullup_top")
    assert pullup.anchor_pose.key == "hanging"
    assert pullup.anchor_pose.character == character


def test_two_characters_with_the_same_name_get_distinct_slugs():
    a = services.create_character(name="Emma", trigger_word="emmav1", base_prompt="a woman")
    b = services.create_character(name="Emma", trigger_word="emmav2", base_prompt="a woman")
    assert (a.slug, b.slug) == ("emma", "emma-2")


@pytest.mark.parametrize(
    ("trigger", "reason"),
    [
        ("woman", "common word"),
        ("photo", "common word"),
        ("Emma-V", "lowercase"),  # capitals are lowered (“Emma” is “emma”); a hyphen is not
        ("the_person_emma_from_the_photos", "3–24"),
        ("ab", "3–24"),
        ("1emma", "starting with a letter"),
        ("em ma", "lowercase letters"),
    ],
)
def test_bad_trigger_words_are_refused_with_a_reason(trigger, reason):
    with pytest.raises(services.CharacterInvalid) as excinfo:
        services.create_character(name="X", trigger_word=trigger, base_prompt="a figure")
    assert "trigger_word" in excinfo.value.fields
    assert reason in " ".join(excinfo.value.fields["trigger_word"])
    assert excinfo.value.message.startswith("Trigger word: ")
    assert not Character.objects.exists()


def test_a_capitalised_trigger_word_is_kept_lower_cased():
    character = services.create_character(name="E", trigger_word="EmmaV", base_prompt="a figure")
    assert character.trigger_word == "emmav"


def test_a_duplicate_trigger_word_is_refused_and_nothing_is_saved():
    services.create_character(name="One", trigger_word="jdoe", base_prompt="a figure")
    with pytest.raises(services.CharacterInvalid) as excinfo:
        services.create_character(name="Two", trigger_word="jdoe", base_prompt="a figure")
    assert "trigger_word" in excinfo.value.fields
    assert Character.objects.count() == 1


def test_an_empty_base_prompt_is_refused(loaded_presets):
    with pytest.raises(services.CharacterInvalid) as excinfo:
        services.create_character(
            name="X", trigger_word="xchar", base_prompt="   ", preset="fitness"
        )
    assert "base_prompt" in excinfo.value.fields
    assert not Character.objects.exists()


def test_an_unknown_preset_is_refused():
    with pytest.raises(services.CharacterInvalid, match="no preset"):
        services.create_character(name="X", trigger_word="xchar", base_prompt="p", preset="nope")


def test_the_database_itself_refuses_a_strength_above_one():
    variation = VariationFactory()
    with pytest.raises(IntegrityError):
        Variation.objects.filter(pk=variation.pk).update(strength=Decimal("1.5"))


def test_the_database_itself_refuses_a_badly_formed_trigger_word():
    character = CharacterFactory()
    with pytest.raises(IntegrityError):
        Character.objects.filter(pk=character.pk).update(trigger_word="Has Spaces")


@pytest.mark.parametrize("strength", ["1.5", "-0.1", "strong"])
def test_saving_a_variation_with_a_strength_outside_zero_to_one_saves_nothing(strength):
    pose = PoseFactory()
    with pytest.raises(services.CharacterInvalid) as excinfo:
        services.save_variation(
            character=pose.character,
            label="Curl",
            prompt="bicep curl",
            anchor_pose=pose.key,
            strength=strength,
        )
    assert "strength" in excinfo.value.fields
    assert not Variation.objects.exists()


def test_a_variation_must_use_one_of_the_characters_own_poses():
    other_pose = PoseFactory()
    character = CharacterFactory()
    with pytest.raises(services.CharacterInvalid, match="not a pose"):
        services.save_variation(
            character=character,
            label="Curl",
            prompt="curl",
            anchor_pose=other_pose.key,
            strength=0.4,
        )


def test_saving_a_variation_gives_it_a_unique_key():
    pose = PoseFactory(key="front")
    kwargs = dict(character=pose.character, label="Bicep curl", prompt="curl", anchor_pose="front")
    first = services.save_variation(**kwargs, strength="0.35")
    second = services.save_variation(**kwargs, strength=0.4)
    assert (first.key, second.key) == ("bicep_curl", "bicep_curl_2")
    assert second.strength == Decimal("0.40")


def test_the_trigger_word_cannot_change_once_the_character_was_trained(django_user_model):
    from datasets.models import Dataset, DatasetExport
    from training.models import TrainingJob

    character = CharacterFactory()
    export = DatasetExport.objects.create(
        dataset=Dataset.objects.create(character=character, name="v1")
    )
    TrainingJob.objects.create(
        character=character, export=export, provider="local", trigger_word="x"
    )
    with pytest.raises(services.CharacterError, match="baked into"):
        services.update_character(character=character, trigger_word="newword")
    character.refresh_from_db()
    assert character.trigger_word.startswith("fitmannq")


def test_deleting_a_character_removes_its_poses_variations_anchors_and_images(loaded_presets):
    from characters.models import Anchor, Image, Pose
    from tests.factories import AnchorFactory

    character = services.create_character(
        name="Gone", trigger_word="gonechar", base_prompt="a figure", preset="fitness"
    )
    AnchorFactory(character=character, pose=character.poses.get(key="front"))
    character.delete()
    assert not Pose.objects.exists() and not Variation.objects.exists()
    assert not Anchor.objects.exists() and not Image.objects.exists()


def test_an_image_that_is_an_anchor_cannot_be_deleted_alone():
    from django.db.models import RestrictedError

    from tests.factories import AnchorFactory

    anchor = AnchorFactory()
    with pytest.raises(RestrictedError):
        anchor.image.delete()
