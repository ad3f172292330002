import pytest

from characters.models import Image, ShotSource
from datasets import captions, services
from datasets.balance import balance_report
from datasets.concepts import current_taxonomy, load_default_taxonomy
from datasets.models import Concept, Dataset, DatasetItem
from datasets.selectors import caption_warnings, rendered_caption
from tests.datasets.conftest import make_image
from tests.factories import CharacterFactory

pytestmark = pytest.mark.django_db


def test_a_new_dataset_holds_anchors_approved_images_and_uploads_but_not_rejected_ones(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")

    kinds = [item.image.kind for item in dataset.items.select_related("image")]
    assert kinds.count(Image.Kind.CANDIDATE) == 8  # anchors, though never approved
    assert kinds.count(Image.Kind.VARIATION) == 6  # only the approved ones
    assert kinds.count(Image.Kind.UPLOAD) == 6  # the rejected upload stays out
    first = dataset.items.order_by("order").first()
    assert first.image.anchor_for.exists()


def test_generated_images_get_captions_from_their_prompts_without_the_shared_boilerplate(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")

    front = dataset.items.get(image__pose__key="front", image__kind="candidate")
    assert front.caption == (
        "standing facing the camera, arms relaxed at sides, feet hip-width apart, full body, "
        "centered"
    )
    assert "mannequin" not in front.caption  # the base prompt is boilerplate
    assert dataset.items.filter(image__kind="upload", caption="").count() == 6


def test_phrases_every_prompt_shares_are_boilerplate_too():
    prompts = [
        "orange, standing, studio light",
        "orange, sitting, studio light",
        "orange, lying, studio light",
    ]
    boilerplate = captions.shared_boilerplate(prompts, base_prompt="orange")
    assert boilerplate == {"orange", "studio light"}
    assert (
        captions.caption_from_prompt(
            "orange, fitmannequin sitting, studio light",
            boilerplate=boilerplate,
            trigger="fitmannequin",
        )
        == "sitting"
    )
    # Two prompts are too few to tell boilerplate from coincidence.
    assert captions.shared_boilerplate(prompts[:2], base_prompt="") == set()


def test_the_template_fills_trigger_shot_and_pose_without_stray_commas(stocked):
    dataset = services.create_dataset(
        character=stocked, name="v1", caption_template="{trigger}, {shot}, {pose}, {caption}"
    )
    item = dataset.items.select_related("image__pose").get(image__pose__key="side")
    assert rendered_caption(dataset, item) == (
        "fitmannequin, full body shot, side profile, standing in side profile, "
        "arms relaxed at sides, feet together, full body, centered"
    )
    upload = dataset.items.filter(image__kind="upload", image__shot_type="close").first()
    assert rendered_caption(dataset, upload) == "fitmannequin, close-up"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{trigger}, {captoin}", "Unknown placeholder {captoin}"),
        ("{trigger}", "needs {caption}"),
        ("{trigger, {caption}", "not valid"),
    ],
)
def test_a_bad_caption_template_is_refused_and_nothing_is_saved(stocked, template, message):
    with pytest.raises(captions.CaptionRefused, match=message):
        services.create_dataset(character=stocked, name="v1", caption_template=template)
    assert not Dataset.objects.exists()


def test_a_second_dataset_with_the_same_name_is_refused(stocked):
    services.create_dataset(character=stocked, name="v1")
    with pytest.raises(services.DatasetConflict, match="already has a dataset named"):
        services.create_dataset(character=stocked, name="v1")


def test_the_trigger_check_lists_captions_with_the_trigger_missing_or_twice(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    items = list(dataset.items.order_by("order")[:2])
    services.update_item(item=items[0], caption="fitmannequin standing again")
    dataset.caption_template = "{caption}"
    dataset.save()

    messages = [w.message for w in caption_warnings(dataset)]
    assert (
        f"Image #{items[0].image_id}: the trigger word “fitmannequin” is missing." not in messages
    )
    assert f"Image #{items[1].image_id}: the trigger word “fitmannequin” is missing." in messages

    dataset.caption_template = "{trigger}, {caption}"
    dataset.save()
    messages = [w.message for w in caption_warnings(dataset)]
    assert (
        f"Image #{items[0].image_id}: the trigger word “fitmannequin” appears 2 times." in messages
    )


def test_adding_images_skips_those_already_in_and_refuses_another_characters(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    unseen = list(stocked.images.filter(review="unreviewed", kind="variation"))
    present = dataset.items.first().image_id

    added = services.add_images(dataset=dataset, image_ids=[unseen[0].id, present])
    assert added == 1

    stranger = make_image(CharacterFactory())
    with pytest.raises(services.DatasetRefused, match="is not a picture of"):
        services.add_images(dataset=dataset, image_ids=[unseen[1].id, stranger.id])
    assert not dataset.items.filter(image=unseen[1]).exists()  # nothing half-added


def test_a_shot_type_set_by_hand_goes_on_the_image_marked_as_by_hand(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    item = dataset.items.filter(image__kind="upload").first()

    services.update_item(item=item, shot_type="far")

    image = Image.objects.get(id=item.image_id)
    assert (image.shot_type, image.shot_source) == ("far", ShotSource.HAND)


def test_an_unknown_shot_type_is_refused(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    item = dataset.items.first()
    with pytest.raises(services.DatasetRefused, match="Use a shot type"):
        services.update_item(item=item, shot_type="wide")


def test_find_and_replace_previews_a_count_then_applies_exactly_that(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    before = {i.id: i.caption for i in dataset.items.all()}

    preview = services.find_and_replace(dataset=dataset, find="arms relaxed", replace="arms loose")
    assert len(preview) == 4  # front, back, side, quarter
    assert {i.id: i.caption for i in dataset.items.all()} == before  # a preview changes nothing

    applied = services.find_and_replace(
        dataset=dataset, find="ARMS RELAXED", replace="arms loose", match_case=False, apply=True
    )
    assert [c.item_id for c in applied] == [c.item_id for c in preview]
    assert dataset.items.filter(caption__contains="arms loose").count() == 4
    assert not dataset.items.filter(caption__contains="arms relaxed").exists()


def test_find_and_replace_refuses_an_empty_search(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    with pytest.raises(services.DatasetRefused, match="Type the text"):
        services.find_and_replace(dataset=dataset, find="", replace="x")


def test_concepts_come_from_captions_through_the_taxonomy():
    taxonomy = current_taxonomy()
    found = taxonomy.extract(
        "smiling woman seated on a weight bench outdoors in soft light, wearing a t-shirt"
    )
    assert {"smiling", "sitting", "outdoor", "soft_light", "t_shirt", "gym"} <= set(found)
    assert "swimwear" not in taxonomy.extract("a suit")  # whole words only
    assert taxonomy.grouped(found)["pose"] == ["sitting"]


def test_the_taxonomy_is_editable_once_loaded_into_the_database(stocked):
    load_default_taxonomy()
    assert load_default_taxonomy() == (0, 0)  # loading again adds nothing, keeps edits
    concept = Concept.objects.get(name="smiling")
    concept.synonyms = "beaming"
    concept.save()

    assert current_taxonomy().extract("a beaming face") == ["smiling"]
    assert current_taxonomy().extract("grinning") == []


def test_editing_a_caption_updates_its_concepts(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    item = dataset.items.filter(image__kind="upload").first()
    services.update_item(item=item, caption="smiling, outdoors")
    assert DatasetItem.objects.get(id=item.id).concepts == ["outdoor", "smiling"]


def test_the_balance_report_counts_and_plans_what_to_do(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    report = balance_report(dataset)

    assert report.total == 20
    assert report.by_shot == {"close": 3, "mid": 3, "far": 14, "unknown": 0}
    assert report.by_source == {"anchor": 8, "variation": 6, "upload": 6}
    assert report.by_pose["hanging"] == 7
    steps = {w.code: w for w in report.warnings}
    # 3 close, 3 mid, 14 far: the fewest changes to 20 images with every share in range.
    assert steps["low_close"].action == "Add 3 close-up shots."
    assert steps["low_close"].gap.shot == "close" and steps["low_close"].gap.count == 3
    assert steps["low_mid"].action == "Add 5 mid shots."
    assert steps["high_far"].action == "Exclude 8 far shots."
    assert steps["high_far"].exclude.count == 8
    assert steps["high_far"].message == "Far shots are 70% of the set; aim for 20%–30%."
    assert "ends at 20 (6 close-up, 8 mid, 6 far)" in steps["plan"].message


def test_a_small_set_gets_a_plan_to_twenty_with_every_shot_type(character):
    for _ in range(4):
        make_image(character, shot="close", review="approved")
    dataset = services.create_dataset(character=character, name="tiny")
    steps = {w.code: w for w in balance_report(dataset).warnings}

    assert "4 images now. The plan below ends at 20" in steps["plan"].message
    assert steps["few_mid"].gap.count == 8
    assert steps["low_close"].action == "Add 2 close-up shots."
    # The 6 far shots the plan needs are new takes of the first three missing poses (their
    # anchors are far shots); the other poses would only fit by swapping images out.
    assert "few_far" not in steps
    in_plan = [w for w in steps.values() if w.code.startswith("missing_pose_")]
    assert sum(w.gap.count for w in in_plan if w.level == "warning") == 6
    assert "no room left" in steps["missing_pose_hanging"].message


def test_excluded_items_leave_the_report(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    for item in dataset.items.filter(image__shot_type="close"):
        services.update_item(item=item, included=False)
    report = balance_report(dataset)
    assert report.by_shot["close"] == 0
    assert report.total == 17


def test_a_shot_type_below_both_minimum_and_share_gets_one_step(stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    services.update_item(
        item=dataset.items.filter(image__shot_type="close").first(), included=False
    )
    codes = [w.code for w in balance_report(dataset).warnings]
    assert codes.count("few_close") + codes.count("low_close") == 1


def test_the_admin_extracts_concepts_again_after_the_taxonomy_changed(admin_client, stocked):
    dataset = services.create_dataset(character=stocked, name="v1")
    item = dataset.items.filter(image__kind="upload").first()
    services.update_item(item=item, caption="beaming by the sea")
    load_default_taxonomy()
    Concept.objects.filter(name="smiling").update(synonyms="beaming")

    admin_client.post(
        "/admin/datasets/dataset/",
        {"action": "extract_concepts_again", "_selected_action": [dataset.id]},
    )
    item.refresh_from_db()
    assert item.concepts == ["smiling"]
