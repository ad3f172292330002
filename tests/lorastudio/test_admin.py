import pytest
from django.contrib import admin
from django.urls import reverse

from characters.models import ImageEmbedding, LikenessScore
from datasets.models import Dataset, DatasetExport, DatasetItem
from lorastudio.models import ApiToken
from tests.factories import AnchorFactory, ProviderCallFactory, UserFactory, VariationFactory
from training.models import (
    LoraModel,
    Notification,
    Pin,
    PinReference,
    TrainingJob,
    TrainingPreset,
    WebhookDelivery,
    WebhookEndpoint,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def one_of_everything(loaded_presets):
    anchor = AnchorFactory()
    character = anchor.character
    VariationFactory(character=character)
    call = ProviderCallFactory(
        run__character=character, request={"prompt": "x"}, response={"images": []}
    )
    dataset = Dataset.objects.create(character=character, name="v1")
    DatasetItem.objects.create(dataset=dataset, image=anchor.image, caption="fitmannq, front")
    export = DatasetExport.objects.create(dataset=dataset, manifest={"images": 1})
    job = TrainingJob.objects.create(
        character=character, export=export, provider="local", trigger_word="x", call=call
    )
    lora = LoraModel.objects.create(
        character=character, training_job=job, version=1, trigger_word="x"
    )
    pin = Pin.objects.create(character=character, version=1, primary_image=anchor.image, lora=lora)
    PinReference.objects.create(pin=pin, image=anchor.image, role="frontal")
    ImageEmbedding.objects.create(
        image=anchor.image, measure="face", model="m", flag="ok", vector=[0.1] * 128
    )
    LikenessScore.objects.create(
        image=anchor.image, measure="face", model="m", reference="sheet", reference_key="k",
        distance=0.1, score=0.9, flag="ok", primary=True,
    )  # fmt: skip
    TrainingPreset.objects.create(name="Team")
    Notification.objects.create(user=UserFactory(), title="Fit: LoRA v1 is ready")
    endpoint = WebhookEndpoint.objects.create(url="https://hooks.example/studio")
    WebhookDelivery.objects.create(endpoint=endpoint, event_type="pin.changed", payload={})


def test_every_model_has_an_admin_whose_pages_render(admin_client, one_of_everything):
    for model in admin.site._registry:
        if model._meta.app_label not in {
            "characters",
            "generation",
            "datasets",
            "training",
            "lorastudio",
        }:
            continue
        info = (model._meta.app_label, model._meta.model_name)
        changelist = admin_client.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert changelist.status_code == 200, model
        obj = model.objects.first()
        if obj is not None:
            change = admin_client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
            assert change.status_code == 200, model


def test_all_domain_models_are_registered():
    registered = {m._meta.model_name for m in admin.site._registry}
    expected = {
        "character",
        "pose",
        "variation",
        "image",
        "anchor",
        "providercall",
        "generationrun",
        "dataset",
        "datasetitem",
        "datasetexport",
        "trainingjob",
        "loramodel",
        "pin",
        "trainingpreset",
        "notification",
        "webhookendpoint",
        "webhookdelivery",
        "apitoken",
        "preset",
        "imageembedding",
        "likenessscore",
    }
    # Poses are edited inline on their character; everything else has its own pages.
    assert expected - {"pose"} <= registered


def test_adding_a_token_in_the_admin_shows_the_key_once_and_stores_a_hash(admin_client):
    user = UserFactory(username="pipeline")
    response = admin_client.post(
        reverse("admin:lorastudio_apitoken_add"), {"user": user.pk, "name": "video"}, follow=True
    )
    token = ApiToken.objects.get(user=user)
    shown = [str(m) for m in response.context["messages"] if "ls_" in str(m)]
    assert len(shown) == 1
    key = shown[0].split(": ")[-1]
    assert token.key_hash == ApiToken.hash_key(key)
    assert key not in token.key_hash
