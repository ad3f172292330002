"""What the job page shows while a LoRA trains: samples, the loss curve, time queued."""

import time

import time_machine
from django.utils import timezone

from generation import calls
from generation.models import ProviderCall
from generation.providers.base import Poll, Sample, State
from tests.factories import png_bytes
from training import services
from training.loss_curve import loss_curve
from training.models import TrainingSample
from training.progress import loss_points


def _launch(export, user):
    return services.launch_training(
        plan=services.plan_training(export=export, provider="local", steps=1000), created_by=user
    )


def test_the_simulator_emits_the_reference_suite_as_samples_while_it_trains(
    export, user, settings, eager_tasks, logged_in
):
    settings.LOCAL_PROVIDER_DELAY = 40
    job = _launch(export, user)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        traveller.shift(21)  # a little past half way
        calls.poll(job.call_id)
        kept = sorted(TrainingSample.objects.filter(job=job).values_list("step", "shot"))
        assert [step for step, _ in kept] == [250] * 5 + [500] * 5
        assert {shot for _, shot in kept} == {
            "frontal",
            "side",
            "three_quarter",
            "action",
            "close_up",
        }
        calls.poll(job.call_id)  # the same samples again: kept once
        assert TrainingSample.objects.filter(job=job).count() == 10
        html = logged_in.get(f"/training/jobs/{job.id}/").content.decode()
    assert html.count('alt="Frontal at step') == 2
    assert "Step 500" in html and html.index("Step 500") < html.index("Step 250")


def test_samples_from_a_provider_link_are_fetched_from_its_own_hosts(export, user, settings):
    job = _launch(export, user)
    ProviderCall.objects.filter(id=job.call_id).update(status="running", external_id="x-1")
    call = ProviderCall.objects.get(id=job.call_id)
    from training.samples import keep_samples

    kept = keep_samples(
        call,
        [
            Sample(step=100, shot="frontal", content=png_bytes()),
            Sample(step=100, shot="side", url="https://evil.example/side.png"),
        ],
    )
    assert kept == 1  # the one from elsewhere is refused (local has no download hosts)
    assert list(job.samples.values_list("shot", flat=True)) == ["frontal"]


def test_a_running_poll_with_samples_reaches_the_training(export, user):
    job = _launch(export, user)
    ProviderCall.objects.filter(id=job.call_id).update(status="running", external_id="x-2")
    calls.apply_poll(
        job.call_id,
        Poll(
            State.RUNNING,
            logs=["Step 100/1000"],
            samples=[Sample(100, "action", content=png_bytes())],
        ),
    )
    assert job.samples.get().shot == "action"


def test_the_loss_curve_is_read_from_the_log_lines_that_carry_loss():
    logs = "\n".join(
        [
            "Caching latents",
            "Step 100/1000, loss 0.172",
            "flux_train:  25%|##5  | 250/1000 [02:10<06:30,  1.92it/s, lr: 4.0e-04 loss: 1.5e-01]",
            "Step 500/1000, loss 0.140",
            "image 3/12",
        ]
    )
    points = loss_points(logs, total_steps=1000)
    assert points == [(100, 0.172), (250, 0.15), (500, 0.14)]
    curve = loss_curve(points, steps=1000)
    assert len(curve.points.split()) == 3
    first_y = float(curve.points.split()[0].split(",")[1])
    last_y = float(curve.points.split()[-1].split(",")[1])
    assert first_y < last_y  # the loss falls: the line goes down the picture
    assert loss_curve(points[:1], steps=1000) is None
    assert loss_points("Step 100/1000\nTraining 40%", total_steps=1000) == []


def test_the_job_page_draws_the_loss_curve_where_the_logs_carry_loss(logged_in, export, user):
    job = _launch(export, user)
    with_loss = "Step 100/1000, loss 0.172\nStep 200/1000, loss 0.160\nStep 300/1000, loss 0.151"
    ProviderCall.objects.filter(id=job.call_id).update(
        status="running", external_id="x-3", logs=with_loss
    )
    html = logged_in.get(f"/training/jobs/{job.id}/").content.decode()
    assert 'data-testid="loss-curve"' in html and "<polyline points=" in html
    ProviderCall.objects.filter(id=job.call_id).update(logs="Step 100/1000\nStep 200/1000")
    assert "loss-curve" not in logged_in.get(f"/training/jobs/{job.id}/").content.decode()


def test_a_queued_training_says_how_long_it_has_waited_not_a_made_up_time_left(
    logged_in, export, user
):
    with time_machine.travel(time.time(), tick=False) as traveller:
        job = _launch(export, user)
        traveller.shift(75)
        job = services.sync_job(job.id)
        assert job.status == "queued" and job.eta_seconds is None
        html = logged_in.get(f"/training/jobs/{job.id}/").content.decode()
    assert "Queued for <strong>1 min 15 s</strong>" in html
    assert "Left <strong>" not in html


def test_no_queue_time_once_it_runs(logged_in, export, user):
    job = _launch(export, user)
    ProviderCall.objects.filter(id=job.call_id).update(
        status="running", external_id="x-4", submitted_at=timezone.now()
    )
    html = logged_in.get(f"/training/jobs/{job.id}/").content.decode()
    assert "Training" in html and "Queued for" not in html


def test_the_api_gives_the_samples_and_the_loss(api, export, user):
    job = _launch(export, user)
    ProviderCall.objects.filter(id=job.call_id).update(
        status="running", external_id="x-5", logs="Step 100/1000, loss 0.2\nStep 200/1000, loss 0.1"
    )
    from training.samples import keep_samples

    keep_samples(
        ProviderCall.objects.get(id=job.call_id), [Sample(200, "side", content=png_bytes())]
    )
    body = api.get(f"/api/training-jobs/{job.id}").json()
    assert body["loss"] == [[100, 0.2], [200, 0.1]]
    [sample] = body["samples"]
    assert (sample["step"], sample["shot"]) == (200, "side") and "sig=" in sample["url"]
    listed = api.get("/api/training-jobs").json()
    assert listed["items"][0]["samples"][0]["shot"] == "side"
