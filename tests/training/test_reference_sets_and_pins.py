"""Reference sets with a trained version, comparison, approval, versioned pins and packs."""

import hashlib
import io
import json
import zipfile
from decimal import Decimal

import pytest

from generation import runs
from generation.models import GenerationRun
from training import loras, pins, reference_sets, selectors, services
from training.models import Pin

pytestmark = pytest.mark.usefixtures("eager_tasks")


@pytest.fixture
def trained(export, user, settings, finish):
    settings.LOCAL_PROVIDER_DELAY = 0
    job = services.launch_training(
        plan=services.plan_training(export=export, provider="local"), created_by=user
    )
    return finish(job).lora


def render(lora, user, drive, *, provider="local", scale=1.0, shots=None):
    plan = reference_sets.plan(lora=lora, provider=provider, scale=scale, shots=shots)
    run = reference_sets.launch(lora=lora, plan=plan, scale=scale, shots=shots, created_by=user)
    return drive(run)


def test_the_reference_set_is_seed_004s_five_shots_with_fixed_seeds(trained, settings):
    settings.FAL_KEY = "key"
    plan = reference_sets.plan(lora=trained, provider="fal", scale=0.8)
    shots = [c.image["shot"] for c in plan.calls]
    assert shots == ["frontal", "side", "three_quarter", "action", "close_up"]
    assert all("fitmannequin" in c.inputs["prompt"] for c in plan.calls)
    assert {c.inputs["lora_scale"] for c in plan.calls} == {0.8}
    assert [c.inputs["seed"] for c in plan.calls] == list(runs.REFERENCE_SEEDS.values())
    assert plan.estimated_cost == Decimal("0.1750")  # 5 × $0.035 on fal-ai/flux-lora
    assert not GenerationRun.objects.exists()


def test_a_reference_set_renders_and_one_shot_can_be_regenerated(trained, user, drive):
    run = render(trained, user, drive)
    assert run.status == GenerationRun.Status.SUCCEEDED
    assert run.params["lora_id"] == trained.id
    [reference] = selectors.reference_sets(trained)
    assert all(image is not None for _, _, image in reference.ordered)
    first_side = reference.shots["side"]
    render(trained, user, drive, shots=["side"], scale=1.2)
    [reference] = selectors.reference_sets(trained)
    assert reference.shots["side"] != first_side and reference.shots["side"].seed == first_side.seed
    assert reference.shots["frontal"] == selectors.reference_sets(trained)[0].shots["frontal"]
    assert selectors.lineage_of_lora(trained).runs[0].kind == "reference_set"


def test_a_bad_scale_or_shot_is_refused(trained):
    with pytest.raises(runs.RunRefused, match="scale"):
        reference_sets.plan(lora=trained, provider="local", scale=3)
    with pytest.raises(runs.RunRefused, match="Unknown shot"):
        reference_sets.plan(lora=trained, provider="local", shots=["back"])


def test_a_retired_version_cannot_render_a_reference_set(trained):
    loras.retire_lora(lora=trained)
    with pytest.raises(runs.RunRefused, match="ready or approved"):
        reference_sets.plan(lora=trained, provider="local")


def test_versions_compare_on_the_same_suite(trained, export, user, drive, finish):
    second = finish(
        services.launch_training(
            plan=services.plan_training(export=export, provider="local"), created_by=user
        )
    ).lora
    render(trained, user, drive)
    render(second, user, drive)
    columns = selectors.comparison(trained.character)
    assert [c.label for c in columns] == ["v1 · local", "v2 · local"]
    assert [c.shots["action"].seed for c in columns] == [runs.REFERENCE_SEEDS["action"]] * 2


def test_pinning_the_reference_set_with_the_approved_version_makes_a_pack(
    trained, user, drive, django_capture_on_commit_callbacks
):
    render(trained, user, drive)
    [reference] = selectors.reference_sets(trained)
    loras.approve_lora(lora=trained, user=user)
    frontal = reference.shots["frontal"]
    others = [reference.shots[s] for s in ("side", "three_quarter", "action", "close_up")]
    pin, created = pins.pin_character(
        character=trained.character,
        primary_image_id=frontal.id,
        reference_image_ids=[i.id for i in others],
        lora_id=trained.id,
        lora_scale="0.9",
        pinned_by=user,
    )
    assert created and pin.version == 1
    # Roles come from the shots when none are given.
    assert list(pin.references.values_list("role", flat=True)) == [
        "side",
        "three_quarter",
        "action",
        "close_up",
    ]
    assert pin.pack_status == "building" and not pin.pack  # a worker builds it
    pins.build_pack(pin.id)
    pin.refresh_from_db()
    assert pin.pack_status == "ready"
    with pin.pack.open("rb") as handle:
        raw = handle.read()
    assert hashlib.sha256(raw).hexdigest() == pin.pack_sha256
    archive = zipfile.ZipFile(io.BytesIO(raw))
    names = archive.namelist()
    assert "manifest.json" in names and "lora/fit-v1-config.json" in names
    # The weights are kept once, as the LoRA's file: no copy in each pin version's pack.
    assert not [n for n in names if n.endswith(".safetensors")]
    assert len([n for n in names if n.startswith("images/")]) == 5
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["pin"]["version"] == 1 and manifest["lora"]["scale"] == "0.90"
    assert manifest["lora"]["sha256"] == trained.sha256
    assert manifest["character"]["trigger_word"] == "fitmannequin"
    # Every file the manifest names is in the pack, with its sha256.
    assert sorted(f["path"] for f in manifest["files"]) == sorted(set(names) - {"manifest.json"})
    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
    assert selectors.lineage_of_pin(pin).job == trained.training_job

    second, created = pins.pin_character(
        character=trained.character, primary_image_id=frontal.id, pinned_by=user
    )
    assert created and second.version == 2 and second.lora is None
    assert pins.current_pin(trained.character) == second
    assert Pin.objects.filter(character=trained.character).count() == 2  # v1 kept as it was
    assert Pin.objects.get(version=1).references.count() == 4


def test_deleting_a_character_takes_its_trainings_versions_and_pins_with_it(trained, user, drive):
    from characters.models import Character
    from training.models import LoraModel, TrainingJob

    render(trained, user, drive)
    loras.approve_lora(lora=trained, user=user)
    [reference] = selectors.reference_sets(trained)
    pins.pin_character(
        character=trained.character,
        primary_image_id=reference.shots["frontal"].id,
        reference_image_ids=[reference.shots["side"].id],
        lora_id=trained.id,
        pinned_by=user,
    )
    trained.character.delete()
    assert not Character.objects.exists()
    assert not (Pin.objects.exists() or LoraModel.objects.exists() or TrainingJob.objects.exists())


def test_roles_keyed_by_something_else_than_image_ids_are_refused_not_a_crash(character, user):
    from tests.factories import ImageFactory

    primary, side = (ImageFactory(character=character) for _ in range(2))
    with pytest.raises(pins.PinRefused, match="The keys of roles are reference image ids"):
        pins.pin_character(
            character=character,
            primary_image_id=primary.id,
            reference_image_ids=[side.id],
            roles={"left": "side"},
        )
