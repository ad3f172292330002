"""Training on fal and Replicate through their real SDKs, against the protocol fakes."""

import pytest
import time_machine
from django.utils import timezone

from generation import calls
from generation.models import ProviderCall
from tests.fakes.replicate import trained_model_tar
from training import services
from training.models import LoraModel, Notification, TrainingJob

FAL_TRAINER = "fal-ai/flux-lora-fast-training"
REPLICATE_TRAINER = "ostris/flux-dev-lora-trainer"
pytestmark = pytest.mark.usefixtures("eager_tasks")


def launch(export, user, provider, **settings_):
    plan = services.plan_training(export=export, provider=provider, **settings_)
    return services.launch_training(plan=plan, created_by=user)


def until(job, condition, *, rounds=40, step=5):
    """Run the periodic passes, letting time go by, until `condition(job)` holds."""
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        for _ in range(rounds):
            calls.sweep()
            job = services.sync_job(job.id)
            if condition(job):
                return job
            traveller.shift(step)
    raise AssertionError(f"job {job.status} / call {job.call.status}: {job.call.error}")


def test_fal_training_shows_progress_from_its_logs_then_makes_v1(
    fal, export, user, finish, mailoutbox
):
    logs = [f"Training step {n}/1000, loss: 0.{200 - n // 10}" for n in (100, 250, 500, 750)]
    fal.script(FAL_TRAINER, queue_polls=1, run_polls=4, logs=logs)
    job = launch(export, user, "fal")
    assert job.call.context["inputs"]["images_zip_url"].startswith("file:")
    seen = until(job, lambda j: j.step is not None)
    assert seen.status == TrainingJob.Status.TRAINING
    assert 0 < seen.step < 1000 and seen.progress == seen.step // 10
    assert "Training step" in seen.logs and seen.eta_seconds is not None

    job = finish(seen)
    assert job.status == TrainingJob.Status.SUCCEEDED and job.progress == 100
    assert "step 750/1000" in job.logs
    call = job.call
    assert call.request["images_data_url"].startswith("https://v3.fal.media/")  # uploaded zip
    assert call.request["steps"] == 1000 and call.request["trigger_word"] == "fitmannequin"
    lora = job.lora
    assert lora.version == 1 and lora.provider_weights_url.endswith(".safetensors")
    with lora.config_file.open("rb") as handle:
        assert b"fitmannequin" in handle.read()  # fal's own config file, kept
    assert job.actual_cost == job.estimated_cost == call.actual_cost
    assert fal.requests.accepted[FAL_TRAINER] == 1


def test_a_failed_fal_training_shows_fals_message_and_tells_the_user(
    fal, export, user, finish, mailoutbox
):
    user.email = "artist@example.com"
    user.save()
    fal.job_failure(FAL_TRAINER, "Could not read images_data_url: no images in the archive")
    job = finish(launch(export, user, "fal"))
    assert job.status == TrainingJob.Status.FAILED
    assert "no images in the archive" in job.error
    assert not LoraModel.objects.exists()
    assert job.actual_cost == 0
    note = Notification.objects.get(user=user)
    assert note.level == "error" and "failed" in note.title
    assert len(mailoutbox) == 1 and "no images in the archive" in mailoutbox[0].body


def test_canceling_a_fal_training_cancels_it_at_fal(fal, export, user):
    fal.script(FAL_TRAINER, queue_polls=50)
    job = launch(export, user, "fal")
    job.refresh_from_db()
    assert job.call.status == ProviderCall.Status.SUBMITTED
    job = services.cancel_training(job=job)
    assert job.status == TrainingJob.Status.CANCELED and job.actual_cost == 0
    assert fal.requests.cancels[job.call.external_id] == 1
    assert Notification.objects.filter(user=user, level="info").count() == 1


def test_fal_weights_that_are_not_safetensors_fail_the_training(fal, export, user, finish):
    def bad_output(fake_job):
        stored = fal._store("bad.safetensors", b"<html>not weights</html>", "text/html")
        return {"diffusers_lora_file": stored, "config_file": None}

    fal.script(FAL_TRAINER, output=bad_output)
    job = finish(launch(export, user, "fal"))
    assert job.status == TrainingJob.Status.FAILED
    assert "not a valid .safetensors" in job.error
    assert not LoraModel.objects.exists()


def test_replicate_training_reads_tqdm_progress_and_unpacks_the_weights(
    replicate_ready, export, user, finish
):
    lines = [
        f"flux_train_replicate:  {p:>3}%|{'#' * (p // 10):<10}| {p * 10}/1000 "
        f"[00:{p // 2:02d}<00:{50 - p // 2:02d}, 10.00it/s]"
        for p in (20, 40, 60)
    ]
    replicate_ready.script(
        REPLICATE_TRAINER, starting_polls=1, processing_polls=3, logs=lines, predict_time=420.0
    )
    job = launch(export, user, "replicate")
    seen = until(job, lambda j: j.step is not None)
    assert seen.step in (200, 400, 600) and seen.progress == seen.step // 10
    assert seen.eta_seconds is not None and seen.eta_seconds <= 40

    job = finish(seen)
    assert job.status == TrainingJob.Status.SUCCEEDED
    assert job.call.request["input_images"].startswith("https://studio.example/media/")
    assert job.call.request["lora_rank"] == 16
    assert job.lora.version == 1 and job.lora.size_bytes > 0
    # Billed by the trainer's GPU time: 420 s at the catalog's price per second.
    assert str(job.actual_cost) == "0.6418"
    created = replicate_ready.requests.of("create_model")
    assert [c.model for c in created] == ["studio/lora-fitmannequin"]


def test_a_failed_replicate_training_keeps_replicates_error(replicate_ready, export, user, finish):
    replicate_ready.prediction_failure(REPLICATE_TRAINER, "CUDA out of memory")
    job = finish(launch(export, user, "replicate"))
    assert job.status == TrainingJob.Status.FAILED
    assert "CUDA out of memory" in job.error


def test_canceling_a_replicate_training_cancels_it_there(replicate_ready, export, user):
    replicate_ready.script(REPLICATE_TRAINER, starting_polls=50)
    job = launch(export, user, "replicate")
    job.refresh_from_db()
    job = services.cancel_training(job=job)
    assert job.status == TrainingJob.Status.CANCELED
    assert len(replicate_ready.requests.cancels(job.call.external_id)) == 1


def test_replicate_weights_that_fail_the_check_fail_the_training(
    replicate_ready, export, user, finish
):
    url = replicate_ready._store("bad/trained_model.tar", trained_model_tar(b"garbage"), "x-tar")
    replicate_ready.script(
        REPLICATE_TRAINER, output={"version": "studio/lora-fitmannequin:abc", "weights": url}
    )
    job = finish(launch(export, user, "replicate"))
    assert job.status == TrainingJob.Status.FAILED
    assert "safetensors" in job.error
    assert not LoraModel.objects.exists()


def test_fals_signed_webhook_finishes_a_training_without_waiting_for_a_poll(
    fal, export, user, client
):
    fal.script(FAL_TRAINER, queue_polls=0, run_polls=0)
    job = launch(export, user, "fal")
    job.refresh_from_db()
    delivery = fal.webhook_delivery(job.call.external_id)
    response = client.post(
        "/webhooks/fal", delivery.body, content_type="application/json", headers=delivery.headers
    )
    assert response.status_code == 200
    job = services.sync_job(job.id)
    assert job.status == TrainingJob.Status.SUCCEEDED and job.lora.version == 1


def test_a_lost_submit_is_never_resent_until_the_user_says_so(fal, export, user, finish):
    fal.drop_next_submits(times=1)
    job = services.sync_job(launch(export, user, "fal").id)
    assert job.status == TrainingJob.Status.QUEUED and job.call.status == "unknown"
    assert "may have accepted" in job.error
    services.retry_unknown_training(job=job)
    with pytest.raises(services.Conflict):
        services.retry_unknown_training(job=TrainingJob.objects.get(id=job.id))
    job = finish(job)
    assert job.status == TrainingJob.Status.SUCCEEDED
    assert fal.requests.submits[FAL_TRAINER] == 2


def test_a_success_without_weights_fails_the_training_and_says_so(fal, export, user, finish):
    fal.script(FAL_TRAINER, output={"diffusers_lora_file": {"url": ""}, "config_file": None})
    job = finish(launch(export, user, "fal"))
    assert job.status == TrainingJob.Status.FAILED
    assert job.error
    assert not LoraModel.objects.exists()


def test_without_a_public_url_the_zip_is_uploaded_to_replicate(
    replicate_fake, settings, export, user, finish
):
    settings.REPLICATE_OWNER, settings.PUBLIC_BASE_URL = "studio", ""
    job = finish(launch(export, user, "replicate"))
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    [(filename, content)] = replicate_fake.uploads
    with export.archive.open("rb") as handle:
        assert content == handle.read()
    assert job.call.request["input_images"].endswith(filename)
