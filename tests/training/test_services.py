"""Training jobs through the services, on the offline simulator."""

import io
import zipfile
from decimal import Decimal

import pytest

from datasets import training_configs
from generation import downloads
from generation.models import ProviderCall
from generation.providers import ProviderUnavailable
from tests.factories import DatasetFactory, ReadyExportFactory
from tests.training.versions import reference_set
from training import defaults, loras, services
from training.models import LoraModel, Notification, TrainingJob
from training.progress import parse_logs

pytestmark = pytest.mark.django_db


def test_defaults_follow_the_seeds_by_image_count():
    # Seed 002: 20 epochs under 20 images, 15 up to 50, 10 up to 100 (4 repeats an epoch).
    assert [training_configs.steps_for(n) for n in (10, 20, 60)] == [800, 1200, 1200]
    batch_sizes = [training_configs.smart_defaults(n).batch_size for n in (10, 30, 100, 101)]
    assert batch_sizes == [1, 2, 2, 4]
    fashion = defaults.defaults_for(image_count=12, preset="fashion")
    assert (fashion.steps, fashion.learning_rate, fashion.rank, fashion.resolution) == (
        1000,
        Decimal("0.0004"),
        16,
        "768,1024",
    )
    assert defaults.defaults_for(image_count=12, preset="style").rank == 32
    assert defaults.defaults_for(image_count=12, preset="character").steps == 960


def test_resolutions_never_go_above_the_exports():
    assert training_configs.resolution_for("512,768,1024", 768) == "512,768"
    assert training_configs.resolution_for("1024", 768) == "768"
    assert training_configs.resolution_for("768,1024", None) == "768,1024"


def test_a_mostly_full_body_export_suggests_the_fashion_preset(export, settings):
    plan = services.plan_training(export=export, provider="local")
    assert plan.preset == "fashion"
    export.manifest = {"images": [{"shot_type": "close"}] * 3}
    assert services.plan_training(export=export, provider="local").preset == "character"


def test_the_estimate_uses_catalog_prices(export, settings):
    settings.FAL_KEY, settings.REPLICATE_API_TOKEN, settings.REPLICATE_OWNER = "k", "t", "me"
    fal = services.plan_training(export=export, provider="fal", steps=1500)
    assert fal.estimate.cost == Decimal("3.0000")  # $0.002 per step
    replicate = services.plan_training(export=export, provider="replicate", steps=1000)
    assert replicate.estimate.seconds == 1200
    assert replicate.estimate.cost == Decimal("1.8336")  # $0.001528 per second


@pytest.mark.parametrize(
    "provider, setting, message",
    [
        ("fal", "FAL_KEY", "FAL_KEY"),
        ("replicate", "REPLICATE_API_TOKEN", "REPLICATE_API_TOKEN"),
        ("replicate", "REPLICATE_OWNER", "REPLICATE_OWNER"),
    ],
)
def test_a_provider_without_its_key_is_refused_up_front(
    export, settings, provider, setting, message
):
    settings.FAL_KEY, settings.REPLICATE_API_TOKEN, settings.REPLICATE_OWNER = "k", "t", "me"
    setattr(settings, setting, "")
    with pytest.raises(ProviderUnavailable, match=message):
        services.plan_training(export=export, provider=provider)
    assert not TrainingJob.objects.exists() and not ProviderCall.objects.exists()


def test_an_export_that_is_not_ready_is_refused(export):
    export.status = "building"
    with pytest.raises(services.TrainingRefused, match="ready export"):
        services.plan_training(export=export, provider="local")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"steps": 50}, "Steps"),
        ({"rank": 500}, "rank"),
        ({"learning_rate": "0.5"}, "learning rate"),
        ({"learning_rate": "fast"}, "number"),
        ({"resolution": "big"}, "Resolutions"),
    ],
)
def test_bad_settings_are_refused_with_what_to_do(export, change, message):
    with pytest.raises(services.TrainingRefused, match=message):
        services.plan_training(export=export, provider="local", **change)


def test_training_on_the_simulator_makes_version_1_then_2(
    export, user, settings, eager_tasks, finish, mailoutbox
):
    settings.LOCAL_PROVIDER_DELAY = 0
    user.email = "artist@example.com"
    user.save()
    first = finish(
        services.launch_training(
            plan=services.plan_training(export=export, provider="local"), created_by=user
        )
    )
    assert first.status == TrainingJob.Status.SUCCEEDED
    assert first.progress == 100 and first.actual_cost == Decimal("0")
    lora = first.lora
    assert (lora.version, lora.status, lora.export_id) == (1, "ready", export.id)
    with lora.weights.open("rb") as handle:
        assert downloads.check_safetensors(handle.read())
    assert lora.config_file and lora.sha256 and lora.size_bytes > 0
    assert first.call.context["purpose"] == "training"
    # The in-app notification and the e-mail, once.
    services.sync_job(first.id)
    assert Notification.objects.filter(user=user).count() == 1
    assert len(mailoutbox) == 1 and "v1 is ready" in mailoutbox[0].subject

    second = finish(
        services.launch_training(
            plan=services.plan_training(export=export, provider="local", preset="style"),
            created_by=user,
        )
    )
    assert second.lora.version == 2 and second.rank == 32


def test_progress_and_time_left_are_read_from_the_logs(export, user, settings, eager_tasks):
    settings.LOCAL_PROVIDER_DELAY = 3600
    job = services.launch_training(
        plan=services.plan_training(export=export, provider="local", steps=1000), created_by=user
    )
    call = job.call
    call.refresh_from_db()
    ProviderCall.objects.filter(id=call.id).update(
        status="running", logs="Caching latents\nStep 250/1000, loss 0.12"
    )
    job = services.sync_job(job.id)
    assert (job.status, job.step, job.progress) == ("training", 250, 25)
    assert job.eta_seconds is not None


def test_tqdm_lines_give_step_percent_and_time_left():
    line = "flux_train_replicate:  25%|##5       | 250/1000 [02:10<06:30,  1.92it/s, lr: 4.0e-04]"
    progress = parse_logs("starting\n" + line, total_steps=1000)
    assert (progress.percent, progress.step, progress.total) == (25, 250, 1000)
    assert progress.seconds_left == 390
    assert parse_logs("Simulating… 40%").percent == 40
    assert parse_logs("caching image 3/12", total_steps=1000).step is None
    assert parse_logs("nothing to see").percent is None


def test_canceling_a_queued_training_never_sends_it(export, user):
    job = services.launch_training(
        plan=services.plan_training(export=export, provider="local"), created_by=user
    )
    job = services.cancel_training(job=job)
    assert job.status == TrainingJob.Status.CANCELED
    assert job.call.status == ProviderCall.Status.CANCELED and not job.call.external_id
    with pytest.raises(services.Conflict):
        services.cancel_training(job=job)


def test_train_again_reopens_the_exact_settings(export, user):
    job = services.launch_training(
        plan=services.plan_training(
            export=export, provider="local", steps=1200, rank=8, learning_rate="0.0002"
        ),
        created_by=user,
    )
    again = services.retrain_settings(job)
    assert again["steps"] == 1200 and again["rank"] == 8
    assert again["learning_rate"] == Decimal("0.0002") and again["export"] == str(export.id)


def test_a_saved_preset_is_shared_and_names_are_unique(export, user):
    params = defaults.defaults_for(image_count=10, preset="character")
    preset = services.save_preset(name="Team fast", params=defaults.override(params, steps=600))
    plan = services.plan_training(export=export, provider="local", saved_preset=preset)
    assert plan.params.steps == 600 and plan.preset == "Team fast"
    with pytest.raises(services.Conflict):
        services.save_preset(name="Team fast", params=params)


def test_the_export_zip_of_the_factory_is_real(character):
    export = ReadyExportFactory(dataset=DatasetFactory(character=character), image_count_=4)
    with export.archive.open("rb") as handle:
        names = zipfile.ZipFile(io.BytesIO(handle.read())).namelist()
    assert len([n for n in names if n.endswith(".png")]) == 4
    assert len([n for n in names if n.endswith(".txt")]) == 4 and "manifest.json" in names


def test_approving_and_retiring_versions(export, user, settings, eager_tasks, finish):
    settings.LOCAL_PROVIDER_DELAY = 0
    job = finish(
        services.launch_training(
            plan=services.plan_training(export=export, provider="local"), created_by=user
        )
    )
    with pytest.raises(loras.NoReferenceSet):
        loras.approve_lora(lora=job.lora, user=user)
    reference_set(job.lora)
    lora = loras.approve_lora(lora=job.lora, user=user)
    assert lora.status == LoraModel.Status.APPROVED and lora.approved_by == user
    lora = loras.retire_lora(lora=lora)
    assert lora.status == LoraModel.Status.RETIRED
    with pytest.raises(services.Conflict):
        loras.approve_lora(lora=lora, user=user)


def test_a_mail_server_that_is_down_leaves_the_notification_saying_so(
    export, user, settings, eager_tasks, finish
):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 2},
        }
    }
    settings.LOCAL_PROVIDER_DELAY = 0
    user.email = "artist@example.com"
    user.save()
    finish(
        services.launch_training(
            plan=services.plan_training(export=export, provider="local"), created_by=user
        )
    )
    note = Notification.objects.get(user=user)
    assert note.emailed_at is None and "Connection" in note.email_error
