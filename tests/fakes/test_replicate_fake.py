"""The Replicate fake, driven through the real `replicate` SDK (no database needed)."""

import base64
import hashlib
import hmac
import io
import json
import re
import struct
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import replicate
from PIL import Image
from replicate.exceptions import ModelError, ReplicateError
from replicate.helpers import FileOutput
from replicate.prediction import Prediction
from replicate.webhook import (
    InvalidSignatureError,
    InvalidTimestampError,
    Webhooks,
    WebhookSigningSecret,
)

from tests.fakes.replicate import TRAINER, FakeReplicate

ULTRA = "black-forest-labs/flux-1.1-pro-ultra"
FLUX_DEV = "black-forest-labs/flux-dev"
KONTEXT_MULTI = "flux-kontext-apps/multi-image-kontext-pro"
FLORENCE = "lucataco/florence-2-large"


@pytest.fixture
def fake():
    with FakeReplicate() as fake:
        yield fake


@pytest.fixture
def client(fake):
    return replicate.Client(api_token=fake.token, base_url=fake.base_url)


def download(url: str) -> httpx.Response:
    return httpx.get(url)


# -- predictions -----------------------------------------------------------------------------


def test_a_prediction_starts_processes_with_growing_logs_and_succeeds_with_a_downloadable_image(
    fake, client
):
    fake.script(ULTRA, starting_polls=1, processing_polls=2, logs=["25%", "50%", "100%"])

    prediction = client.models.predictions.create(model=ULTRA, input={"prompt": "a red fox"})
    assert prediction.status == "starting"
    assert prediction.model == ULTRA and prediction.version == "hidden"
    assert prediction.urls["get"] == f"{fake.base_url}/v1/predictions/{prediction.id}"

    seen = []
    while prediction.status not in ("succeeded", "failed", "canceled"):
        prediction.reload()
        seen.append((prediction.status, prediction.logs))
    assert seen == [
        ("starting", ""),
        ("processing", "25%\n50%\n"),
        ("processing", "25%\n50%\n100%\n"),
        ("succeeded", "25%\n50%\n100%\n"),
    ]
    assert prediction.metrics["predict_time"] > 0
    assert prediction.completed_at and prediction.started_at

    # flux-1.1-pro-ultra returns one URL (a string), jpg unless output_format says otherwise.
    assert isinstance(prediction.output, str) and prediction.output.endswith(".jpg")
    response = download(prediction.output)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (64, 64)

    calls = fake.requests
    assert calls.creates_per_model() == {ULTRA: 1}
    assert [c.status for c in calls.gets(prediction.id)] == [200, 200, 200, 200]
    assert calls.creates()[0].body == {"input": {"prompt": "a red fox"}}
    assert calls.creates()[0].headers["authorization"] == f"Bearer {fake.token}"


def test_flux_dev_returns_a_list_of_num_outputs_images_in_the_requested_format(fake, client):
    prediction = client.models.predictions.create(
        model=FLUX_DEV,
        input={
            "prompt": "a fox",
            "image": "https://x/y.png",
            "prompt_strength": 0.6,
            "num_outputs": 3,
            "output_format": "png",
        },
    )
    prediction.reload()

    assert prediction.status == "succeeded"
    assert len(prediction.output) == 3
    images = [download(url).content for url in prediction.output]
    assert all(data.startswith(b"\x89PNG\r\n\x1a\n") for data in images)
    assert len(set(images)) == 3  # every output is a different picture


def test_flux_dev_defaults_to_webp_and_refuses_more_than_four_outputs(fake, client):
    prediction = client.models.predictions.create(model=FLUX_DEV, input={"prompt": "a fox"})
    prediction.reload()
    assert download(prediction.output[0]).headers["content-type"] == "image/webp"

    with pytest.raises(ReplicateError) as error:
        client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x", "num_outputs": 5})
    assert error.value.status == 422


def test_missing_required_input_is_a_422_with_the_field_named(client):
    with pytest.raises(ReplicateError) as error:
        client.models.predictions.create(
            model=KONTEXT_MULTI, input={"prompt": "the two of them", "input_image_1": "u"}
        )
    assert error.value.status == 422
    assert "input_image_2 is required" in error.value.detail


def test_community_models_run_only_by_version(fake, client):
    with pytest.raises(ReplicateError) as error:
        client.models.predictions.create(model=FLORENCE, input={"image": "https://x/y.png"})
    assert error.value.status == 404

    version = fake.models[FLORENCE].version_id
    prediction = client.predictions.create(
        version=version, input={"image": "https://x/y.png", "task_input": "Detailed Caption"}
    )
    prediction.reload()
    assert prediction.model == FLORENCE and prediction.version == version
    # Florence-2 answers a Python-repr string keyed by the task tag, not JSON.
    assert prediction.output["img"] is None
    assert prediction.output["text"].startswith("{'<DETAILED_CAPTION>': '")

    with pytest.raises(ReplicateError) as error:
        client.predictions.create(version="0" * 64, input={"image": "u"})
    assert error.value.status == 422


def test_run_with_prefer_wait_finishes_at_once_and_gives_plain_urls_over_http(fake, client):
    fake.script(FLUX_DEV, starting_polls=5, processing_polls=5)

    output = client.run(FLUX_DEV, input={"prompt": "a fox", "num_outputs": 2})

    # The SDK wraps only https: URLs in FileOutput; over the http fake they stay strings.
    assert all(isinstance(url, str) for url in output) and len(output) == 2
    assert fake.requests.creates()[0].headers["prefer"] == "wait"
    assert fake.requests.gets() == []


def test_over_https_run_returns_file_outputs_that_read_the_image(monkeypatch):
    with FakeReplicate(https=True) as fake:
        for name, value in fake.env.items():
            monkeypatch.setenv(name, value)
        client = replicate.Client()  # token, base URL and CA all from the environment

        output = client.run(ULTRA, input={"prompt": "a fox", "output_format": "png"})

        assert fake.base_url.startswith("https://127.0.0.1:")
        assert isinstance(output, FileOutput)
        assert output.read().startswith(b"\x89PNG")


def test_a_failed_prediction_ends_failed_with_the_error_and_no_output(fake, client):
    fake.prediction_failure(FLUX_DEV, error="NSFW content detected. Try a different prompt.")

    prediction = client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})
    prediction.reload()

    assert prediction.status == "failed"
    assert prediction.error == "NSFW content detected. Try a different prompt."
    assert prediction.output is None

    with pytest.raises(ModelError):
        client.run(FLUX_DEV, input={"prompt": "x"})


def test_a_script_for_a_number_of_creates_then_falls_back(fake, client):
    fake.script(FLUX_DEV, starting_polls=2)
    fake.prediction_failure(FLUX_DEV, error="boom", times=1)

    first = client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})
    second = client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})

    assert fake.complete(first.id)["status"] == "failed"
    second.reload()
    assert second.status == "starting"  # the persistent script: two polls of starting


def test_cancel_ends_a_running_prediction_as_canceled(fake, client):
    fake.script(FLUX_DEV, processing_polls=10)
    prediction = client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})
    prediction.reload()
    assert prediction.status == "processing"

    prediction.cancel()

    assert prediction.status == "canceled"
    prediction.reload()
    assert prediction.status == "canceled" and prediction.output is None
    assert [c.status for c in fake.requests.cancels(prediction.id)] == [200]


def test_unknown_ids_are_404_and_a_wrong_token_is_401(fake, client):
    with pytest.raises(ReplicateError) as error:
        client.predictions.get("doesnotexist")
    assert error.value.status == 404
    with pytest.raises(ReplicateError) as error:
        client.predictions.cancel("doesnotexist")
    assert error.value.status == 404

    stranger = replicate.Client(api_token="r8_wrong", base_url=fake.base_url)
    with pytest.raises(ReplicateError) as error:
        stranger.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})
    assert error.value.status == 401
    assert fake.requests.creates_per_model() == {}


def test_expired_output_files_are_404_and_removed_data_reads_as_removed(fake, client):
    prediction = client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})
    prediction.reload()
    url = prediction.output[0]
    assert download(url).status_code == 200

    fake.expire_outputs(remove_data=True)

    assert download(url).status_code == 404
    prediction.reload()
    assert fake.prediction(prediction.id)["data_removed"] is True
    assert prediction.output is None

    later = client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})
    later.reload()
    assert download(later.output[0]).status_code == 200  # only what existed expired


# -- 429 / 5xx as the SDK sees them ----------------------------------------------------------------


def test_a_throttled_create_is_not_retried_by_the_sdk(fake, client):
    fake.fail_next_creates(429)

    with pytest.raises(ReplicateError) as error:
        client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})

    assert error.value.status == 429
    assert "throttled" in error.value.detail
    assert [c.status for c in fake.requests.creates()] == [429]
    assert fake.requests.creates_per_model() == {}

    prediction = client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})
    assert prediction.status == "starting"


def test_a_500_on_create_is_not_retried_and_carries_a_problem_body(fake, client):
    fake.fail_next_creates(500, detail="Something went wrong on our side.")

    with pytest.raises(ReplicateError) as error:
        client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})

    assert (error.value.status, error.value.detail) == (500, "Something went wrong on our side.")
    assert len(fake.requests.creates()) == 1


def test_throttled_and_unavailable_gets_are_retried_by_the_sdk_itself(fake, client):
    prediction = client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})
    fake.fail_next_gets(429, times=2, retry_after=0)
    fake.fail_next_gets(503, times=1, retry_after=0)

    prediction.reload()

    assert prediction.status == "succeeded"
    assert [c.status for c in fake.requests.gets(prediction.id)] == [429, 429, 503, 200]


def test_a_500_on_get_is_not_retried(fake, client):
    prediction = client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})
    fake.fail_next_gets(500)

    with pytest.raises(ReplicateError) as error:
        prediction.reload()

    assert error.value.status == 500
    assert len(fake.requests.gets(prediction.id)) == 1


def test_a_create_whose_answer_is_lost_still_created_the_prediction(fake, client):
    fake.drop_next_creates()

    with pytest.raises(httpx.TransportError):
        client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})

    [lost] = fake.requests.creates()
    assert lost.status is None and lost.id
    assert fake.requests.creates_per_model() == {FLUX_DEV: 1}
    assert [p.id for p in client.predictions.list().results] == [lost.id]


def test_latency_beyond_the_client_timeout_times_out_a_poll_but_never_a_create(fake):
    impatient = replicate.Client(
        api_token=fake.token, base_url=fake.base_url, timeout=httpx.Timeout(0.05)
    )
    prediction = impatient.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})
    fake.latency = 0.3

    with pytest.raises(httpx.ReadTimeout):
        prediction.reload()
    # The SDK sends prediction creates with timeout=None (no timeout at all) unless `wait`
    # is given, so the client's timeout does not bound them.
    slow = impatient.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})
    assert slow.status == "starting"


def test_concurrent_creates_get_distinct_ids(fake, client):
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(
            pool.map(
                lambda _: (
                    client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"}).id
                ),
                range(24),
            )
        )

    assert len(set(ids)) == 24
    assert fake.requests.creates_per_model() == {FLUX_DEV: 24}


# -- trainings -------------------------------------------------------------------------------------


def read_safetensors(data: bytes) -> dict:
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    end = max(v["data_offsets"][1] for v in tensors.values())
    assert len(data) == 8 + length + end
    return header


def test_a_training_runs_to_a_tar_of_lora_weights_and_a_new_version(fake, client):
    fake.script(TRAINER, processing_polls=2)
    trainer = client.models.get(TRAINER)
    version = trainer.latest_version.id

    training = client.trainings.create(
        model=TRAINER,
        version=version,
        input={
            "input_images": "https://example.com/set.zip",
            "trigger_word": "ZOE",
            "steps": 1000,
            "lora_rank": 8,
        },
        destination="studio/zoe-lora",
        webhook="https://example.com/hook",
        webhook_events_filter=["completed"],
    )

    assert training.status == "starting"
    assert training.model == TRAINER and training.version == version
    [create] = fake.requests.creates(TRAINER)
    assert create.path == f"/v1/models/{TRAINER}/versions/{version}/trainings"
    assert create.body["destination"] == "studio/zoe-lora"
    assert create.body["webhook_events_filter"] == ["completed"]

    training.reload()
    assert training.status == "processing"
    # tqdm lines prefixed with the job name: the SDK's Progress.parse wants the percentage
    # at the start of the line, so it finds nothing; a plain "n/total" search does.
    assert Prediction.Progress.parse(training.logs) is None
    assert re.findall(r"(\d+)/(\d+) \[", training.logs)[-1] == ("500", "1000")

    training.reload()
    training.reload()
    assert training.status == "succeeded"
    assert training.output["version"].startswith("studio/zoe-lora:")
    assert training.destination == "studio/zoe-lora"  # the SDK derives it from the output

    # As the real trainer does, `weights` is a tar of the job folder, not a bare file.
    weights = download(training.output["weights"])
    assert weights.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(weights.content)) as tar:
        lora = tar.extractfile("output/flux_train_replicate/lora.safetensors").read()
    header = read_safetensors(lora)
    assert header["__metadata__"]["trigger_word"] == "ZOE"
    lora_a = header["transformer.single_transformer_blocks.0.proj_out.lora_A.weight"]
    assert lora_a["shape"][0] == 8  # the lora_rank asked for


def test_a_training_can_be_scripted_to_return_a_bare_safetensors(fake, client):
    fake.script(TRAINER, weights="safetensors")
    version = fake.models[TRAINER].version_id
    training = client.trainings.create(
        model=TRAINER, version=version, input={"input_images": "u"}, destination="a/b"
    )
    training.reload()
    assert read_safetensors(download(training.output["weights"]).content)


def test_training_with_an_unknown_version_is_404(client):
    with pytest.raises(ReplicateError) as error:
        client.trainings.create(
            model=TRAINER, version="latest", input={"input_images": "u"}, destination="a/b"
        )
    assert error.value.status == 404


def test_a_training_without_images_fails_as_the_trainer_does(fake, client):
    version = fake.models[TRAINER].version_id
    training = client.trainings.create(model=TRAINER, version=version, input={}, destination="a/b")
    training.reload()
    assert (training.status, training.error) == ("failed", "input_images must be provided")


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"steps": 6001}, "- input.steps: Must be less than or equal to 6000"),
        ({"steps": 2}, "- input.steps: Must be greater than or equal to 3"),
        ({"lora_rank": 129}, "- input.lora_rank: Must be less than or equal to 128"),
        ({"caption_dropout_rate": 1.5}, "- input.caption_dropout_rate: Must be less than"),
        ({"steps": "1000"}, "- input.steps: Invalid type. Expected: integer, given: string"),
        ({"rank": 16}, "- input: Additional property rank is not allowed"),
    ],
)
def test_the_trainer_refuses_out_of_range_and_unknown_inputs_with_a_422(
    fake, client, inputs, message
):
    version = fake.models[TRAINER].version_id
    with pytest.raises(ReplicateError) as error:
        client.trainings.create(
            model=TRAINER,
            version=version,
            input={"input_images": "https://a/d.zip", **inputs},
            destination="a/b",
        )
    assert error.value.status == 422
    assert message in error.value.detail
    assert not fake.requests.of("create_training")[-1].id


def test_a_training_can_be_canceled_and_unknown_trainings_are_404(fake, client):
    fake.script(TRAINER, processing_polls=100)
    version = fake.models[TRAINER].version_id
    training = client.trainings.create(
        model=TRAINER, version=version, input={"input_images": "u"}, destination="a/b"
    )

    training.cancel()

    assert training.status == "canceled"
    assert client.trainings.get(training.id).status == "canceled"
    with pytest.raises(ReplicateError) as error:
        client.trainings.get("doesnotexist")
    assert error.value.status == 404
    with pytest.raises(ReplicateError) as error:
        client.trainings.get(
            client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"}).id
        )
    assert error.value.status == 404  # a prediction id is not a training id


# -- webhooks --------------------------------------------------------------------------------------


def standard_webhook_is_valid(headers: dict, body: bytes, secret: str, tolerance=300) -> bool:
    """An independent Standard Webhooks check (what our receiver must do)."""
    headers = {k.lower(): v for k, v in headers.items()}
    webhook_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
    for candidate in headers["webhook-signature"].split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(signature), expected.digest()):
            return True
    return False


@pytest.fixture
def receiver():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    server.received = received
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/replicate"
    yield server
    server.shutdown()
    server.server_close()


def test_the_signing_secret_is_served_at_the_default_webhook_endpoint(fake, client):
    secret = client.webhooks.default.secret()
    assert secret.key == fake.webhook_secret and secret.key.startswith("whsec_")


def test_a_webhook_verifies_with_an_independent_standard_webhooks_check(fake, client, receiver):
    prediction = client.models.predictions.create(
        model=FLUX_DEV,
        input={"prompt": "x"},
        webhook=receiver.url,
        webhook_events_filter=["completed"],
    )
    fake.complete(prediction.id)

    assert fake.send_webhook(prediction.id) == 204

    [(headers, body)] = receiver.received
    assert standard_webhook_is_valid(headers, body, fake.webhook_secret)
    payload = json.loads(body)
    assert (payload["id"], payload["status"]) == (prediction.id, "succeeded")
    assert payload["output"] == fake.prediction(prediction.id)["output"]
    # The SDK's own validator agrees (it checks the timestamp only when given a tolerance).
    Webhooks.validate(
        headers=headers,
        body=body.decode(),
        secret=WebhookSigningSecret(key=fake.webhook_secret),
        tolerance=300,
    )


def test_a_tampered_webhook_does_not_verify(fake, client, receiver):
    prediction = client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})

    fake.send_webhook(prediction.id, receiver.url, tamper=True)

    [(headers, body)] = receiver.received
    assert json.loads(body)["output"] == ["https://evil.example/x.png"]
    assert not standard_webhook_is_valid(headers, body, fake.webhook_secret)
    with pytest.raises(InvalidSignatureError):
        Webhooks.validate(
            headers=headers,
            body=body.decode(),
            secret=WebhookSigningSecret(key=fake.webhook_secret),
        )


def test_a_replayed_webhook_with_an_old_timestamp_does_not_verify(fake, client, receiver):
    prediction = client.models.predictions.create(model=FLUX_DEV, input={"prompt": "x"})
    an_hour_ago = int(time.time()) - 3600

    fake.send_webhook(prediction.id, receiver.url, timestamp=an_hour_ago)

    [(headers, body)] = receiver.received
    assert not standard_webhook_is_valid(headers, body, fake.webhook_secret)
    # The signature itself is genuine: only the age gives the replay away.
    assert standard_webhook_is_valid(headers, body, fake.webhook_secret, tolerance=10**9)
    with pytest.raises(InvalidTimestampError):
        Webhooks.validate(
            headers=headers,
            body=body.decode(),
            secret=WebhookSigningSecret(key=fake.webhook_secret),
            tolerance=300,
        )


def test_signed_webhook_gives_headers_and_body_for_a_test_client(fake, client):
    version = fake.models[TRAINER].version_id
    training = client.trainings.create(
        model=TRAINER, version=version, input={"input_images": "u"}, destination="a/b"
    )
    fake.complete(training.id)

    headers, body = fake.signed_webhook(training.id)

    assert standard_webhook_is_valid(headers, body, fake.webhook_secret)
    assert json.loads(body)["output"]["weights"].endswith("/trained_model.tar")


def test_a_destination_model_can_be_created_once(client):
    model = client.models.create("studio", "zoe-lora", visibility="private", hardware="cpu")

    assert (model.owner, model.name, model.visibility) == ("studio", "zoe-lora", "private")
    assert client.models.get("studio/zoe-lora").latest_version is None
    with pytest.raises(ReplicateError) as error:
        client.models.create("studio", "zoe-lora", visibility="private", hardware="cpu")
    assert error.value.status == 409
