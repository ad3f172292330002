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


def presets():
    return {p.key: p for p in load_presets()}
