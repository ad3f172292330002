import hashlib
import io
import json
import tomllib
import zipfile

import pytest
import yaml
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from characters.models import Image
from datasets import captions, exports, services
from datasets.models import DatasetExport, ExportFrozen
from tests.datasets.conftest import make_image
from tests.lorastudio.test_storage_s3 import s3, s3_endpoint  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(stocked):
    big = make_image(
        stocked, shot="close", size=(3000, 2000), review="approved"
    )  # resized to 1024 wide
    dataset = services.create_dataset(character=stocked, name="v1")
    for item in dataset.items.filter(image__kind="upload"):
        services.update_item(item=item, caption="a person smiling outdoors in natural light")
    dataset.big_image = big
    return dataset


def _built(dataset, **kwargs) -> DatasetExport:
    # These tests are about the zip: what an export warns of is tested on its own.
    export = exports.start_export(dataset=dataset, enqueue=False, accept_warnings=True, **kwargs)
    return exports.build_export(export.id)


def _zip(export) -> zipfile.ZipFile:
    with default_storage.open(export.archive.name, "rb") as handle:
        return zipfile.ZipFile(io.BytesIO(handle.read()))


def test_an_export_zip_matches_its_manifest_file_by_file(dataset):
    export = _built(dataset)

    assert export.status == "ready", export.error
    with default_storage.open(export.archive.name, "rb") as handle:
        raw = handle.read()
    assert hashlib.sha256(raw).hexdigest() == export.sha256
    assert len(raw) == export.size_bytes
    archive = zipfile.ZipFile(io.BytesIO(raw))
    manifest = json.loads(archive.read("manifest.json"))
    names = set(archive.namelist())
    assert names == {f["name"] for f in manifest["files"]} | {"manifest.json"}
    for entry in manifest["files"]:
        data = archive.read(entry["name"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["name"]
        assert len(data) == entry["size"]
    assert manifest["image_count"] == export.image_count == 21


def test_every_image_has_a_same_named_caption_with_the_trigger_once(dataset):
    archive = _zip(_built(dataset))
    images = sorted(n for n in archive.namelist() if n.endswith(".jpg"))

    assert images[0] == "0001_front.jpg"
    assert all("/" not in n for n in images)  # flat, as the hosted trainers expect
    for name in images:
        caption = archive.read(name.replace(".jpg", ".txt")).decode()
        assert caption.count("fitmannequin") == 1, caption


def test_images_are_resized_to_the_resolution_and_never_upscaled(dataset):
    export = _built(dataset, resolution=1024)
    archive = _zip(export)
    manifest = json.loads(archive.read("manifest.json"))

    for entry in manifest["images"]:
        with PILImage.open(io.BytesIO(archive.read(entry["file"]))) as picture:
            assert picture.size == (entry["width"], entry["height"])
            assert max(picture.size) <= 1024
            assert picture.width <= entry["original_width"]
            assert picture.height <= entry["original_height"]
    big = next(e for e in manifest["images"] if e["image_id"] == dataset.big_image.id)
    assert (big["width"], big["height"]) == (1024, 683)
    small = next(e for e in manifest["images"] if e["source"] == "candidate")
    assert (small["width"], small["height"]) == (600, 800)  # smaller than 1024: kept as is


def test_the_seed_files_and_training_configs_are_in_the_zip(dataset):
    archive = _zip(_built(dataset))

    metadata = json.loads(archive.read("metadata.json"))
    assert metadata["trigger_word"] == "fitmannequin"
    assert metadata["total_images"] == 21
    assert metadata["shot_distribution"] == {"close": 4, "mid": 3, "far": 14, "unknown": 0}
    assert {"concept": "smiling", "count": 7, "frequency": 0.33} in metadata["top_concepts"]
    shots = json.loads(archive.read("shots.json"))
    assert shots["0001_front.jpg"] == {"shot_type": "far", "face_ratio": None, "source": "prompt"}
    concepts = json.loads(archive.read("concepts.json"))
    upload = next(v for v in concepts.values() if v["raw_caption"].startswith("a person"))
    assert upload["expression"] == ["smiling"] and upload["lighting"] == ["natural_light"]

    config = yaml.safe_load(archive.read("train/ai-toolkit.yaml"))
    process = config["config"]["process"][0]
    assert process["trigger_word"] == "fitmannequin"
    # 14 of 21 shots are full-body: the fashion recipe, as training on the export suggests.
    assert process["train"]["steps"] == 1000
    assert process["datasets"][0]["caption_ext"] == "txt"
    kohya = tomllib.loads(archive.read("train/kohya_config.toml").decode())
    assert kohya["network_module"] == "networks.lora_flux"
    assert kohya["max_train_steps"] == 1000 and kohya["network_dim"] == 16
    dataset_toml = tomllib.loads(archive.read("train/kohya_dataset.toml").decode())
    assert dataset_toml["general"]["caption_extension"] == ".txt"


def test_a_ready_export_never_changes_when_the_dataset_does(dataset):
    export = _built(dataset)
    archive_name, sha, manifest = export.archive.name, export.sha256, export.manifest

    item = dataset.items.filter(image__kind="upload").first()
    services.update_item(item=item, caption="something else entirely", included=False)
    services.update_item(item=dataset.items.first(), shot_type="close")
    dataset.caption_template = "{trigger} {shot}, {caption}"
    dataset.save()
    exports.build_export(export.id)  # a second run of the task leaves it alone

    export.refresh_from_db()
    assert (export.archive.name, export.sha256, export.manifest) == (archive_name, sha, manifest)
    with default_storage.open(archive_name, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == sha
    export.error = "tampered"
    with pytest.raises(ExportFrozen):
        export.save()


def test_the_export_freezes_the_dataset_as_it_was_when_asked(dataset):
    export = exports.start_export(dataset=dataset, enqueue=False)
    services.update_item(item=dataset.items.filter(image__kind="upload").first(), included=False)

    built = exports.build_export(export.id)
    assert built.image_count == 21  # the item left out after the export was asked still counts


def test_a_caption_without_the_trigger_blocks_the_export_and_says_which(dataset):
    dataset.caption_template = "{caption}"
    dataset.save()

    with pytest.raises(exports.ExportRefused, match="not have the trigger word") as exc:
        exports.start_export(dataset=dataset, enqueue=False)
    assert len(exc.value.extra["problems"]) == 21
    assert [w["code"] for w in exc.value.extra["warnings"]] == ["trigger"]
    assert not DatasetExport.objects.exists()


def test_an_empty_dataset_cannot_be_exported(character):
    dataset = services.create_dataset(character=character, name="empty")
    with pytest.raises(exports.ExportRefused, match="no included images"):
        exports.start_export(dataset=dataset, enqueue=False)


def test_an_unreadable_image_is_skipped_and_named_in_the_manifest(dataset):
    broken = dataset.items.filter(image__kind="upload").first().image
    with default_storage.open(broken.file.name, "wb") as handle:
        handle.write(b"not a picture")

    export = _built(dataset)

    assert export.status == "ready"
    assert export.image_count == 20
    assert export.manifest["skipped"][0]["image_id"] == broken.id
    assert "could not be read" in export.manifest["skipped"][0]["reason"]


def test_an_export_with_no_readable_image_fails_with_a_clear_error(character):
    image = make_image(character, shot="close", review="approved")
    dataset = services.create_dataset(character=character, name="one")
    default_storage.delete(image.file.name)

    export = _built(dataset)

    assert export.status == "failed"
    assert f"#{image.id} its file is missing from storage" in export.error
    assert not export.archive


def test_file_names_are_safe_whatever_the_pose_key(character):
    pose = character.poses.first()
    pose.key = "arms-up"
    pose.save()
    make_image(character, kind=Image.Kind.CANDIDATE, pose=pose, review="approved")
    make_image(character, shot="unknown", review="approved")
    dataset = services.create_dataset(character=character, name="names")

    names = sorted(n for n in _zip(_built(dataset)).namelist() if n.endswith(".jpg"))
    assert names == ["0001_arms_up.jpg", "0002_image.jpg"]


def test_an_export_is_streamed_into_s3_when_s3_is_the_storage(s3, character):  # noqa: F811
    from tests.lorastudio.test_storage_s3 import BUCKET

    for shot in ("close", "mid", "far"):
        make_image(character, shot=shot, size=(1400, 1000), review="approved")
    dataset = services.create_dataset(character=character, name="on s3")

    export = _built(dataset)

    assert export.status == "ready", export.error
    body = s3.get_object(Bucket=BUCKET, Key=export.archive.name)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == export.sha256
    assert (
        zipfile.ZipFile(io.BytesIO(body)).read("0001_close.txt").decode().startswith("fitmannequin")
    )


def test_a_trigger_word_in_another_case_blocks_the_export_as_trainers_match_case(dataset):
    # ai-toolkit (and Replicate's trainer on it) counts the exact string and prepends the
    # trigger when absent (ostris/ai-toolkit@27a03a9 toolkit/prompt_utils.py:736-742).
    item = dataset.items.filter(image__kind="upload").first()
    services.update_item(item=item, caption="FitMannequin smiling outdoors")

    with pytest.raises(exports.ExportRefused, match="another case") as exc:
        exports.start_export(dataset=dataset, enqueue=False)
    assert exc.value.extra["problems"] == [
        f"image #{item.image_id}: the trigger word “fitmannequin” is written in another case; "
        "trainers match it exactly, so write it as the character's trigger word"
    ]
    assert captions.trigger_problem("fitmannequin, smiling", "fitmannequin") == ""
    assert "another case" in captions.trigger_problem("FITMANNEQUIN, smiling", "fitmannequin")


def test_an_export_is_recorded_in_the_audit_trail(dataset, user):
    from lorastudio.models import AuditEvent

    export = exports.start_export(dataset=dataset, enqueue=False, created_by=user)
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT_MADE)
    assert event.actor == user and event.target == f"export:{export.id}"
