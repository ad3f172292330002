"""The fal adapter, through the real fal-client, against a fake speaking fal's HTTP protocol."""

import time
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from characters.models import Image
from generation import calls, runs
from generation.models import GenerationRun, ProviderCall
from generation.providers import ProviderUnavailable

ULTRA = "fal-ai/flux-pro/v1.1-ultra"
Status = ProviderCall.Status
pytestmark = pytest.mark.usefixtures("eager_tasks")


@pytest.fixture
def private_app(settings):
    """The app is not reachable from fal: input files go to fal's storage."""
    settings.PUBLIC_BASE_URL = ""


def launch_variation_of_an_anchor(character, user):
    """A run of one variation (pull-up top) made from the hanging pose's anchor."""
    from tests.factories import AnchorFactory

    AnchorFactory(character=character, pose=character.poses.get(key="hanging"))
    plan = runs.plan_run(
        character=character, kind="variations", provider="fal", variations=["pullup_top"]
    )
    return runs.launch_run(plan=plan, character=character, created_by=user, params={})


def launch(character, user, *, poses=("front",), count=2):
    plan = runs.plan_run(
        character=character, kind="anchors", provider="fal", poses=list(poses), count=count
    )
    return runs.launch_run(plan=plan, character=character, created_by=user, params={})


def test_a_run_on_fal_saves_every_image_with_its_logs_and_cost(fal, character, user, drive):
    fal.script(ULTRA, queue_polls=1, run_polls=2, logs=["step 1/28", "step 28/28"])
    run = drive(launch(character, user, poses=("front", "side"), count=2))
    assert run.status == GenerationRun.Status.SUCCEEDED
    assert fal.requests.submits[ULTRA] == 2
    call = run.calls.first()
    assert call.status == Status.DONE
    assert "step 28/28" in call.logs
    assert call.request["num_images"] == 2 and call.request["output_format"] == "png"
    assert call.actual_cost == Decimal("0.12")
    assert run.actual_cost == Decimal("0.24")
    images = Image.objects.filter(call__run=run)
    assert images.count() == 4
    assert all(image.file and image.thumbnail and image.width for image in images)


def test_a_429_on_submit_is_retried_later_and_submitted_once(fal, character, user, drive):
    fal.fail_next_submits(429, times=1)
    run = launch(character, user, count=1)
    call = run.calls.get()
    call.refresh_from_db()
    assert call.status == Status.CREATED and call.attempts == 1
    assert "Retrying" in call.error and "429" in call.error
    run = drive(run)
    assert run.status == GenerationRun.Status.SUCCEEDED
    assert fal.requests.accepted[ULTRA] == 1


def test_a_500_on_submit_is_retried_with_backoff(fal, character, user, drive):
    fal.fail_next_submits(500, times=2)
    run = drive(launch(character, user, count=1))
    assert run.status == GenerationRun.Status.SUCCEEDED
    assert run.calls.get().attempts == 2
    assert fal.requests.accepted[ULTRA] == 1


def test_a_validation_error_fails_the_call_at_once_with_fals_reason(fal, character, user):
    fal.fail_next_submits(422, times=1)
    run = launch(character, user, count=1)
    call = run.calls.get()
    assert call.status == Status.FAILED
    assert "422" in call.error
    run.refresh_from_db()
    assert run.status == GenerationRun.Status.FAILED


def test_a_job_that_fails_at_fal_fails_the_call_and_costs_nothing(fal, character, user, drive):
    fal.job_failure(ULTRA, "NSFW content detected")
    run = drive(launch(character, user, count=1))
    call = run.calls.get()
    assert call.status == Status.FAILED
    assert "NSFW content detected" in call.error
    assert call.actual_cost == 0
    assert "1 of 1 calls failed" in run.error


def test_a_lost_submit_answer_is_unknown_and_never_sent_again(fal, character, user, drive):
    fal.drop_next_submits(times=1)
    run = launch(character, user, count=1)
    call = run.calls.get()
    assert call.status == Status.UNKNOWN
    assert "may have accepted" in call.error
    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=10)):
        calls.sweep()
    assert fal.requests.submits[ULTRA] == 1
    run.refresh_from_db()
    assert "unknown outcome" in run.error
    # The user's explicit retry sends it again.
    calls.retry_unknown(call.id)
    run = drive(run)
    assert fal.requests.submits[ULTRA] == 2
    assert run.status == GenerationRun.Status.SUCCEEDED


def test_canceling_a_run_cancels_the_job_at_fal(fal, character, user):
    fal.script(ULTRA, queue_polls=50)
    run = launch(character, user, count=1)
    call = run.calls.get()
    assert call.status == Status.SUBMITTED
    runs.cancel_run(run)
    call.refresh_from_db()
    assert call.status == Status.CANCELED
    assert fal.requests.cancels[call.external_id] == 1


def test_an_expired_result_url_fails_the_call_with_a_clear_message(fal, character, user, drive):
    fal.fail_next("file", 404, times=10)  # the result URLs have expired at fal
    run = drive(launch(character, user, count=1))
    call = run.calls.get()
    assert call.status == Status.FAILED
    assert "result could not be saved" in call.error and "404" in call.error
    assert not Image.objects.exists()


def test_results_are_downloaded_only_from_fal_hosts(fal, character, user, drive, settings):
    settings.FAL_DOWNLOAD_HOSTS = ["fal.run"]  # v3.fal.media is no longer trusted
    run = drive(launch(character, user, count=1))
    call = run.calls.get()
    assert call.status == Status.FAILED
    assert "not a provider host" in call.error


def test_a_signed_webhook_makes_the_call_finish_without_waiting_for_a_poll(
    fal, character, user, client
):
    fal.script(ULTRA, queue_polls=0, run_polls=0)
    run = launch(character, user, count=1)
    call = run.calls.get()
    delivery = fal.webhook_delivery(call.external_id)
    response = client.post(
        "/webhooks/fal", delivery.body, content_type="application/json", headers=delivery.headers
    )
    assert response.status_code == 200
    call.refresh_from_db()
    assert call.status == Status.DONE
    assert Image.objects.filter(call=call).count() == 1


def test_a_tampered_webhook_is_refused(fal, character, user, client):
    run = launch(character, user, count=1)
    delivery = fal.webhook_delivery(run.calls.get().external_id, tamper=True)
    response = client.post(
        "/webhooks/fal", delivery.body, content_type="application/json", headers=delivery.headers
    )
    assert response.status_code == 401


def test_without_a_key_the_run_is_refused_up_front_naming_the_setting(
    fal, character, user, settings
):
    settings.FAL_KEY = ""
    with pytest.raises(ProviderUnavailable, match="FAL_KEY is not set"):
        launch(character, user, count=1)
    assert not GenerationRun.objects.exists()
    assert fal.requests.submits[ULTRA] == 0


def test_an_input_file_is_uploaded_to_fal_when_the_app_is_not_public(
    fal, private_app, character, user, drive
):
    run = drive(launch_variation_of_an_anchor(character, user))
    assert run.status == GenerationRun.Status.SUCCEEDED
    call = run.calls.first()
    assert call.request["image_url"].startswith("https://v3.fal.media/")


def test_an_input_file_is_uploaded_once_however_often_its_submit_meets_a_429(
    fal, private_app, character, user, drive
):
    fal.fail_next_submits(429, times=3)
    run = drive(launch_variation_of_an_anchor(character, user))
    assert run.status == GenerationRun.Status.SUCCEEDED
    submits = sum(fal.requests.submits.values())
    assert submits >= 4  # three refused, then accepted
    assert len(fal.requests.of("upload")) == 1  # the anchor, uploaded once, sent four times
    urls = {call.request["image_url"] for call in run.calls.all()}
    assert len(urls) == 1 and next(iter(urls)).startswith("https://v3.fal.media/")


def test_a_success_costs_one_result_request_the_download_reuses_it(fal, character, user, drive):
    fal.script(ULTRA, queue_polls=1, run_polls=1)
    run = drive(launch(character, user, poses=("front", "side", "back"), count=2))
    assert run.status == GenerationRun.Status.SUCCEEDED
    assert sorted(fal.requests.results.values()) == [1, 1, 1]
    assert Image.objects.filter(call__run=run).count() == 6


def test_a_failed_download_asks_fal_for_fresh_result_links_before_trying_again(
    fal, character, user, drive
):
    fal.script(ULTRA, queue_polls=0, run_polls=1)
    fal.fail_next("file", 503, times=1)  # the first download of the result fails
    run = drive(launch(character, user, count=1))
    call = run.calls.get()
    assert call.status == Status.DONE
    assert fal.requests.results[call.external_id] == 2  # the poll's, then a fresh one


def test_submits_status_checks_and_results_keep_their_connections(fal, character, user, drive):
    """Through fal's proxy each new connection is a CONNECT and a TLS handshake: three calls
    take one connection for their submits and one for their status checks and results."""
    fal.script(ULTRA, queue_polls=1, run_polls=1)
    run = drive(launch(character, user, poses=("front", "side", "back"), count=2))

    assert run.status == GenerationRun.Status.SUCCEEDED
    assert fal.requests.submits[ULTRA] == 3 and len(fal.requests.of("status")) >= 6
    tunnels = [c for c in fal.requests.of("connect") if "queue.fal.run" in c.url]
    assert len(tunnels) == 2


def test_calls_that_need_one_input_file_at_the_same_moment_upload_it_once(
    fal, private_app, character, user, drive
):
    """A run's first calls leave together, many from one anchor: one uploads it, the others
    wait for its URL (in threads, as a worker pool sends them)."""
    import threading

    from django.core.cache import cache

    from generation.inputs import build_task

    call = drive(launch_variation_of_an_anchor(character, user)).calls.first()
    cache.clear()  # as when no call has sent this anchor yet
    fal.requests.clear()
    fal.delay_next("upload", 0.5)  # the first upload takes a while: the others pile up behind
    urls, barrier = [], threading.Barrier(8)

    def send():
        barrier.wait(timeout=10)
        urls.append(build_task(call).image_url)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(urls) == 8 and len(set(urls)) == 1
    assert len(fal.requests.of("upload")) == 1


def test_a_failed_upload_leaves_the_file_for_the_next_call_to_upload(
    fal, private_app, character, user, drive
):
    from django.core.cache import cache

    from generation.inputs import build_task
    from generation.providers.base import ProviderError

    call = drive(launch_variation_of_an_anchor(character, user)).calls.first()
    cache.clear()
    fal.requests.clear()
    fal.fail_next("upload", 500)

    with pytest.raises(ProviderError):
        build_task(call)
    started = time.monotonic()
    url = build_task(call).image_url  # at once: nobody is left holding the upload

    assert time.monotonic() - started < 5
    assert url.startswith("https://v3.fal.media/")
    assert fal.requests.of("upload")[0].status == 500
    assert fal.requests.of("upload")[-1].status == 200
