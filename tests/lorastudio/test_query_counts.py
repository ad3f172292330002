"""A query count per page: every list page and list API makes as many queries for three rows
as for one. A loop that queries per row (an N+1) fails here, not as a slow page at 20,000
images. Each case is measured on a small world, the world grows, and the same page must stay
within the first count (django_assert_max_num_queries)."""

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from characters.models import Anchor, Image
from datasets.models import DatasetItem
from generation.models import GenerationRun, ProviderCall
from tests.factories import (
    CharacterFactory,
    DatasetFactory,
    ImageFactory,
    PoseFactory,
    ReadyExportFactory,
)
from tests.fakes.media import fake_safetensors
from training.models import (
    LoraModel,
    Pin,
    PinReference,
    TrainingJob,
    WebhookDelivery,
    WebhookEndpoint,
)


def grow(character, *, user, n: int) -> None:
    """One more of everything a list shows, around `character` (and one more character)."""
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
        status=LoraModel.Status.APPROVED,
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
    ImageFactory(character=character, kind=Image.Kind.UPLOAD, review=Image.Review.APPROVED)
    dataset = DatasetFactory(character=character)
    for image in references:
        DatasetItem.objects.create(dataset=dataset, image=image, caption="fit, standing")
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
    for _ in range(2):
        WebhookDelivery.objects.create(
            endpoint=endpoint, event_type="pin.changed", payload={"pin": {"version": n}}
        )


PAGES = [

    "/characters/",
    "/characters/{slug}/",
    "/characters/{slug}/anchors/",
    "/characters/{slug}/gallery/",
    "/runs/",
    "/datasets/",
    "/datasets/for/{slug}/",
    "/training/",
    "/training/characters/{slug}/",
    "/training/characters/{slug}/compare/",
    "/training/characters/{slug}/pin/",
    "/training/characters/{slug}/pins/1/",
    "/training/webhooks/",
    "/training/notifications/",
]
APIS = [
    "/api/characters",
    "/api/characters/{slug}/sheet",
    "/api/characters/{slug}/variations",
    "/api/characters/{slug}/images",
    "/api/characters/{slug}/datasets",
    "/api/characters/{slug}/loras",
    "/api/characters/{slug}/pins",
    "/api/characters/{slug}/pin",
    "/api/training-jobs",
    "/api/webhook-endpoints",
]


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured)


@pytest.mark.parametrize("path", PAGES + APIS)
def test_a_list_makes_as_many_queries_for_three_rows_as_for_one(
    path, logged_in, api, user, character, django_assert_max_num_queries
):
    client = api if path.startswith("/api/") else logged_in
    url = path.format(slug=character.slug)
    grow(character, user=user, n=1)
    _queries(client, url)  # warm: sessions, caches, first-use lookups
    one = _queries(client, url)
    grow(character, user=user, n=2)
    grow(character, user=user, n=3)
    with django_assert_max_num_queries(one):
        response = client.get(url)
    assert response.status_code == 200
