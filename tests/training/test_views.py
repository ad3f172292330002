"""The training pages, as a logged-in user sees them."""

import re

import pytest

from generation.models import GenerationRun
from tests.confirm_pages import token_of
from tests.training.versions import lora_version, reference_set
from training import pins, services
from training.models import Notification, TrainingJob, TrainingPreset

pytestmark = pytest.mark.django_db


def test_the_new_training_page_shows_the_price_before_anything_starts(logged_in, export):
    response = logged_in.get(f"/training/new/?export={export.id}", follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "About $0.00" in html and "Full-body fashion" in html
    assert not TrainingJob.objects.exists()


def test_changing_a_setting_updates_the_estimate_partial(logged_in, export, settings):
    settings.FAL_KEY = "key"
    response = logged_in.post(
        "/training/new/",
        {"export": export.id, "provider": "fal", "steps": 1500, "action": "estimate"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert 'id="estimate"' in html and "About $3.00" in html
    assert 'name="export"' not in html  # only the estimate, not the form


def test_a_provider_without_a_key_is_refused_on_the_page(logged_in, export, settings):
    settings.FAL_KEY = ""
    response = logged_in.post(
        "/training/new/", {"export": export.id, "provider": "fal", "action": "launch"}
    )
    assert response.status_code == 200
    assert "FAL_KEY" in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_launching_from_the_page_opens_the_job_page(logged_in, export):
    page = logged_in.get(f"/training/new/?export={export.id}", follow=True)
    response = logged_in.post(
        "/training/new/",
        {
            "export": export.id,
            "provider": "local",
            "rank": 8,
            "action": "launch",
            "once": token_of(page),
        },
        follow=True,
    )
    job = TrainingJob.objects.get()
    assert response.redirect_chain[-1][0] == f"/training/jobs/{job.id}/"
    assert job.rank == 8
    html = response.content.decode()
    assert 'hx-trigger="every 2s"' in html and "Cancel training" in html


def test_the_job_partial_asks_for_a_refresh_when_the_job_ends(logged_in, export, user):
    job = services.launch_training(
        plan=services.plan_training(export=export, provider="local"), created_by=user
    )
    services.cancel_training(job=job)
    response = logged_in.get(f"/training/jobs/{job.id}/?live=1", headers={"HX-Request": "true"})
    assert response["HX-Refresh"] == "true"
    assert "Canceled" in response.content.decode()


def test_train_again_fills_the_form_with_the_past_settings(logged_in, export, user):
    job = services.launch_training(
        plan=services.plan_training(export=export, provider="local", steps=1700),
        created_by=user,
    )
    html = logged_in.get(f"/training/new/?from_job={job.id}", follow=True).content.decode()
    assert 'value="1700"' in html


def test_saving_a_preset_from_the_page(logged_in, export):
    logged_in.post(
        "/training/presets/",
        {
            "name": "Our look",
            "steps": 800,
            "learning_rate": "0.0003",
            "rank": 16,
            "resolution": "1024",
            "batch_size": 1,
        },
    )
    assert TrainingPreset.objects.get().steps == 800
    assert "Saved: Our look" in logged_in.get("/training/new/", follow=True).content.decode()


@pytest.fixture
def trained(export, user, settings, eager_tasks, finish):
    settings.LOCAL_PROVIDER_DELAY = 0
    job = services.launch_training(
        plan=services.plan_training(export=export, provider="local"), created_by=user
    )
    return finish(job).lora


def test_the_lora_page_shows_lineage_and_prices_the_reference_set(logged_in, trained):
    html = logged_in.get(f"/training/loras/{trained.id}/").content.decode()
    assert "Lineage" in html and f"Training #{trained.training_job_id}" in html
    response = logged_in.post(
        f"/training/loras/{trained.id}/reference-set/",
        {"provider": "local", "scale": "0.8"},
        follow=True,
    )
    assert "Spend about $0.00?" in response.content.decode()


def test_a_version_without_a_reference_set_is_not_approved_from_a_page(logged_in, character):
    lora = lora_version(character, status="ready")
    page = logged_in.get(f"/training/characters/{character.slug}/").content.decode()
    assert "Render its reference set to approve" in page
    assert f"/training/loras/{lora.id}/approve/" not in page  # no button to press
    response = logged_in.post(f"/training/loras/{lora.id}/approve/", follow=True)
    assert "v1 has no reference set yet: render it from the version" in response.content.decode()
    lora.refresh_from_db()
    assert lora.status == "ready"
    reference_set(lora)
    page = logged_in.get(f"/training/characters/{character.slug}/").content.decode()
    assert f"/training/loras/{lora.id}/approve/" in page


def test_approving_from_the_page_and_pinning(logged_in, trained, character):
    reference_set(trained)
    logged_in.post(f"/training/loras/{trained.id}/approve/")
    trained.refresh_from_db()
    assert trained.status == "approved"
    image = character.images.create(kind="reference", file=trained.weights.name)
    page = logged_in.get(f"/training/characters/{character.slug}/pin/")
    assert page.status_code == 200
    response = logged_in.post(
        f"/training/characters/{character.slug}/pin/",
        {"primary": image.id, "lora": trained.id, "scale": "1"},
        follow=True,
    )
    assert "Pinned Fit as version 1" in response.content.decode()
    pin = pins.current_pin(character)
    pack = logged_in.get(f"/training/characters/{character.slug}/pins/1/pack/")
    assert pack.status_code == 302 and "sig=" in pack["Location"] and pin.pack


def test_the_notifications_count_shows_in_the_nav_until_seen(logged_in, user):
    Notification.objects.create(user=user, title="Fit: LoRA v1 is ready", url="/training/")
    html = logged_in.get("/training/").content.decode()
    assert 'class="count">1<' in html
    assert "LoRA v1 is ready" in logged_in.get("/training/notifications/").content.decode()
    assert 'class="count"' not in logged_in.get("/training/").content.decode()


def test_the_webhooks_page_adds_an_endpoint_and_refuses_a_private_one(logged_in, settings):
    response = logged_in.post("/training/webhooks/", {"url": "http://127.0.0.1:8/x"})
    assert "private" in response.content.decode()
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    response = logged_in.post("/training/webhooks/", {"url": "http://127.0.0.1:8/x"})
    assert "whsec_" in response.content.decode()


@pytest.mark.parametrize(
    "path",
    ["/training/", "/training/new/", "/training/webhooks/", "/training/notifications/"],
)
def test_pages_need_a_login(client, path):
    assert client.get(path).status_code == 302


def test_the_character_pages_render(logged_in, trained, character):
    for path in (
        f"/training/characters/{character.slug}/",
        f"/training/characters/{character.slug}/compare/",
        f"/training/jobs/{trained.training_job_id}/",
        "/training/",
    ):
        assert logged_in.get(path).status_code == 200, path
    assert (
        f"/training/characters/{character.slug}/"
        in logged_in.get(f"/characters/{character.slug}/").content.decode()
    )


def test_a_failed_delivery_can_be_sent_again_from_the_log(logged_in, settings, eager_tasks):
    from tests.training.receiver import Receiver
    from training import outgoing
    from training.models import WebhookDelivery

    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    with Receiver() as receiver:
        outgoing.create_endpoint(url=receiver.url)
        delivery = WebhookDelivery.objects.create(
            endpoint=outgoing.WebhookEndpoint.objects.get(),
            event_type="pin.changed",
            payload={"type": "pin.changed"},
            status="failed",
            attempts=6,
        )
        page = logged_in.get("/training/webhooks/").content.decode()
        assert "Send again" in page
        logged_in.post(f"/training/webhooks/deliveries/{delivery.id}/redeliver/")
        receiver.wait_for(1)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 1


def test_the_form_says_each_providers_image_minimum_before_spending(logged_in, export):
    html = logged_in.get("/training/new/", follow=True).content.decode()
    assert "fal.ai needs at least 4 images." in html
    assert "Replicate recommends 10 or more." in html


def test_each_setting_says_which_providers_take_it(logged_in, export):
    html = logged_in.get("/training/new/", follow=True).content.decode()
    assert re.search(r'name="learning_rate"[^>]*data-providers="local replicate"', html)
    assert re.search(r'name="steps"[^>]*data-providers="local fal replicate"', html)
    assert "fal.ai: not taken (it sets this itself)" in html
    assert "Replicate: from 100 to 6000" in html


def test_the_estimate_for_fal_lists_only_what_is_sent(logged_in, export, settings):
    settings.FAL_KEY = "key"
    response = logged_in.post(
        "/training/new/",
        {"export": export.id, "provider": "fal", "action": "estimate"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    sent = html.split('data-testid="sent-settings"', 1)[1].split("</dl>", 1)[0]
    assert "Steps" in sent
    assert not any(s in sent for s in ("Learning rate", "Rank", "Resolution", "Batch size"))
    assert "fal.ai sets the learning rate, rank, resolution, batch size itself" in html


def test_a_learning_rate_posted_for_fal_is_refused_on_the_page(logged_in, export, settings):
    settings.FAL_KEY = "key"
    response = logged_in.post(
        "/training/new/",
        {"export": export.id, "provider": "fal", "learning_rate": "0.0004", "action": "launch"},
    )
    assert "does not take the learning rate" in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_the_training_page_carries_a_token_and_start_twice_trains_once(logged_in, export):
    page = logged_in.get(f"/training/new/?export={export.id}", follow=True)
    address = page.redirect_chain[-1][0]
    assert "once=" in address and "no-store" in page["Cache-Control"]
    launch = {"export": export.id, "provider": "local", "action": "launch"}
    launch["once"] = token_of(page)
    first = logged_in.post("/training/new/", launch, headers={"HX-Request": "true"})
    job = TrainingJob.objects.get()
    assert first["HX-Redirect"] == f"/training/jobs/{job.id}/"  # the browser goes to the job
    again = logged_in.post("/training/new/", launch, headers={"HX-Request": "true"})
    assert again["HX-Redirect"] == f"/training/jobs/{job.id}/"
    back = logged_in.get(address, follow=True)
    assert back.redirect_chain[-1][0] == f"/training/jobs/{job.id}/"
    assert f"Training #{job.id} was started from this page" in back.content.decode()
    assert TrainingJob.objects.count() == 1


def test_a_reference_set_confirmed_twice_runs_once(logged_in, trained):
    url = f"/training/loras/{trained.id}/reference-set/"
    page = logged_in.post(url, {"provider": "local", "scale": "0.8"}, follow=True)
    assert "no-store" in page["Cache-Control"]
    confirmed = {"provider": "local", "scale": "0.8", "confirm": "yes", "once": token_of(page)}
    logged_in.post(url, confirmed)
    again = logged_in.post(url, confirmed, follow=True)
    run = GenerationRun.objects.get(kind="reference_set")
    assert f"Reference set run #{run.id} was started from this page" in again.content.decode()
