"""Factories for every model the tests build (factory-boy)."""

import io
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from PIL import Image as PILImage

from characters.models import Anchor, Character, Image, Pose, Variation
from characters.presets import load_presets
from generation.models import GenerationRun, ProviderCall


def png_bytes(size=(48, 64), color=(226, 98, 43)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def photo_file(rgb, name: str = "photo.png") -> ContentFile:
    """A PNG file of an H × W × 3 array (a real photo from characters.likeness.calibration)."""
    buffer = io.BytesIO()
    PILImage.fromarray(rgb).save(buffer, "PNG")
    return ContentFile(buffer.getvalue(), name=name)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"artist{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()

    @factory.post_generation
    def role(obj, create, extracted, **kwargs):
        """The user's group: a lead unless asked (`UserFactory(role="viewer")`), so a test
        that is not about roles may do everything but the admin's work."""
        if create and not obj.is_superuser:
            from django.contrib.auth.models import Group

            from lorastudio.roles import LEAD, ensure_roles

            ensure_roles()
            obj.groups.add(Group.objects.get(name=extracted or LEAD))


class CharacterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Character

    name = factory.Sequence(lambda n: f"Mannequin {n}")
    slug = factory.Sequence(lambda n: f"mannequin-{n}")
    trigger_word = factory.Sequence(lambda n: f"fitmannq{n}")
    base_prompt = "Orange anatomical mannequin figure with wireframe mesh, cream background"
    negative_prompt = "text, watermark"


class PoseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pose

    character = factory.SubFactory(CharacterFactory)
    key = factory.Sequence(lambda n: f"pose_{n}")
    label = factory.LazyAttribute(lambda p: p.key.replace("_", " ").title())
    prompt = "standing facing the camera"


class VariationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Variation

    character = factory.SubFactory(CharacterFactory)
    anchor_pose = factory.SubFactory(PoseFactory, character=factory.SelfAttribute("..character"))
    key = factory.Sequence(lambda n: f"variation_{n}")
    label = "Pull-up, top"
    prompt = "pull-up top position, chin above the bar"
    strength = Decimal("0.50")
    count = 4


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Image

    character = factory.SubFactory(CharacterFactory)
    kind = Image.Kind.UPLOAD
    file = factory.LazyFunction(lambda: ContentFile(png_bytes(), name="picture.png"))


class AnchorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Anchor

    character = factory.SubFactory(CharacterFactory)
    pose = factory.SubFactory(PoseFactory, character=factory.SelfAttribute("..character"))
    image = factory.SubFactory(
        ImageFactory,
        character=factory.SelfAttribute("..character"),
        kind=Image.Kind.CANDIDATE,
        pose=factory.SelfAttribute("..pose"),
    )


class GenerationRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GenerationRun

    character = factory.SubFactory(CharacterFactory)
    kind = GenerationRun.Kind.ANCHORS
    provider = "local"


class ProviderCallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderCall

    run = factory.SubFactory(GenerationRunFactory)
    provider = "local"
    task = "text_to_image"
    endpoint = "local/text-to-image"


def queued_candidate_call(run, n: int, **fields) -> ProviderCall:
    """A call of `run`, queued to make one candidate of its character with prompt and seed
    of its own (`n`): what a launched anchors run holds before dispatch claims it."""
    inputs = {"prompt": f"front {n}", "num_images": 1, "seed": n + 1}
    return ProviderCallFactory(
        run=run,
        status=ProviderCall.Status.CREATED,
        request=inputs,
        context={
            "purpose": "images",
            "inputs": inputs,
            "image": {"character_id": run.character_id, "kind": "candidate"},
        },
        **fields,
    )


def presets():
    return {p.key: p for p in load_presets()}


# --- Datasets exports and training (a small real zip, until datasets builds its own) ------------
def export_zip(*, trigger_word: str = "fitmannequin", count: int = 3) -> tuple[bytes, dict]:
    """A training-set zip as an export holds it: images, one .txt caption each, a manifest."""
    import json
    import zipfile

    buffer = io.BytesIO()
    images = []
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(count):
            name = f"{trigger_word}_{n:04d}"
            archive.writestr(f"{name}.png", png_bytes(color=(200, 60 + n * 20, 40)))
            caption = f"{trigger_word}, full body, standing pose {n}"
            archive.writestr(f"{name}.txt", caption)
            images.append({"filename": f"{name}.png", "caption": caption, "shot_type": "far"})
        manifest = {"trigger_word": trigger_word, "total_images": count, "images": images}
        archive.writestr("manifest.json", json.dumps(manifest))
    return buffer.getvalue(), manifest


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "datasets.Dataset"

    character = factory.SubFactory(CharacterFactory)
    name = factory.Sequence(lambda n: f"Set {n}")


class ReadyExportFactory(factory.django.DjangoModelFactory):
    """A READY export with a real zip of `image_count` captioned images and its manifest."""

    class Meta:
        model = "datasets.DatasetExport"

    class Params:
        image_count_ = 3

    dataset = factory.SubFactory(DatasetFactory)
    status = "ready"

    @factory.lazy_attribute
    def archive(self):
        content, _ = export_zip(
            trigger_word=self.dataset.character.trigger_word, count=self.image_count_
        )
        return ContentFile(content, name="export.zip")

    @factory.lazy_attribute
    def manifest(self):
        return export_zip(
            trigger_word=self.dataset.character.trigger_word, count=self.image_count_
        )[1]

    image_count = factory.SelfAttribute("image_count_")
    size_bytes = factory.LazyAttribute(lambda o: o.archive.size)


# --- A bit of everything around one character (list pages, query counts, the API fuzz) -------
def a_bit_of_everything(character, *, n: int, lora_status: str = "ready") -> dict:
    """One more of every kind of row a page or the API lists, around `character` (and one more
    character): anchor, reference images with their calls, an upload, a dataset with an item, a
    ready export, a finished training with its LoRA, a pin, a webhook endpoint with a failed
    delivery. Returns the main rows by name."""
    from datasets.models import DatasetItem, Upload
    from tests.fakes.media import fake_safetensors
    from training.models import (
        LoraModel,
        Pin,
        PinReference,
        TrainingJob,
        WebhookDelivery,
        WebhookEndpoint,
    )

    CharacterFactory(name=f"Other {n}", trigger_word=f"other{n}")
    pose = PoseFactory(character=character, key=f"side-{n}")
    anchor_image = ImageFactory(character=character, kind=Image.Kind.CANDIDATE, pose=pose)
    Anchor.objects.create(character=character, pose=pose, image=anchor_image)
    run = GenerationRun.objects.create(
        character=character, kind=GenerationRun.Kind.REFERENCE_SET, provider="local"
    )
    export = ReadyExportFactory(dataset=DatasetFactory(character=character))
    job = TrainingJob.objects.create(
        character=character, export=export, provider="local", trigger_word="fit", status="succeeded"
    )
    lora = LoraModel.objects.create(
        character=character,
        training_job=job,
        export=export,
        version=n,
        status=lora_status,
        trigger_word="fit",
        weights=ContentFile(fake_safetensors(seed=n), name="w.safetensors"),
    )
    references = []
    for shot in ("frontal", "side"):
        call = ProviderCall.objects.create(
            run=run,
            provider="local",
            task="lora_text_to_image",
            endpoint="local/lora",
            status=ProviderCall.Status.DONE,
            external_id=f"ref-{n}-{shot}",
            context={"image": {"shot": shot, "lora_id": lora.id}},
        )
        references.append(
            ImageFactory(
                character=character,
                kind=Image.Kind.REFERENCE,
                call=call,
                review=Image.Review.APPROVED,
            )
        )
    upload_image = ImageFactory(
        character=character, kind=Image.Kind.UPLOAD, review=Image.Review.APPROVED
    )
    upload = Upload.objects.create(
        character=character, original_filename="photo.jpg", outcome="accepted", image=upload_image
    )
    dataset = DatasetFactory(character=character)
    items = [
        DatasetItem.objects.create(dataset=dataset, image=image, caption="fit, standing")
        for image in references
    ]
    DatasetItem.objects.create(dataset=dataset, image=upload_image, caption="")  # to caption
    pin = Pin.objects.create(
        character=character,
        version=n,
        primary_image=references[0],
        lora=lora,
        pack_status=Pin.PackStatus.READY,
        pack=ContentFile(b"zip", name="pack.zip"),
    )
    PinReference.objects.create(pin=pin, image=references[1], role="side")
    endpoint = WebhookEndpoint.objects.create(url=f"https://example.com/hook/{n}", events=[])
    deliveries = [
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_type="pin.changed",
            payload={"pin": {"version": n}},
            status=status,
        )
        for status in ("delivered", "failed")
    ]
    return {
        "images": references,
        "upload": upload,
        "dataset": dataset,
        "item": items[0],
        "export": export,
        "job": job,
        "lora": lora,
        "pin": pin,
        "endpoint": endpoint,
        "delivery": deliveries[1],
    }
