"""The fal fake, driven through the real fal-client (no database needed).

These tests also pin down what fal-client 1.0.3 itself does (its retries, its errors), which
the fal adapter relies on; docs/providers/fal.md has the details.
"""

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fal_client
import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from PIL import Image

from tests.fakes.fal import FakeFal
from tests.fakes.media import read_safetensors_header

ULTRA = "fal-ai/flux-pro/v1.1-ultra"
IMG2IMG = "fal-ai/flux/dev/image-to-image"
KONTEXT = "fal-ai/flux-pro/kontext/max/multi"
TRAINING = "fal-ai/flux-lora-fast-training"
CAPTION = "fal-ai/florence-2-large/detailed-caption"


@pytest.fixture
def fake(monkeypatch):
    with FakeFal() as fake:
        for name, value in fake.env.items():
            monkeypatch.setenv(name, value)
        yield fake


@pytest.fixture
def client(fake):
    # A fresh client after the environment is set: httpx reads the proxy and CA at creation.
    return fal_client.SyncClient(key=fake.key)


def test_a_job_walks_queue_progress_and_completion_and_its_files_download(fake, client):
    fake.script(ULTRA, queue_polls=2, run_polls=1, logs=["step 1/28", "step 28/28"])

    handle = client.submit(
        ULTRA,
        {"prompt": "a woman in a red coat", "num_images": 2, "aspect_ratio": "3:4"},
        webhook_url="https://studio.example/webhooks/fal",
    )
    statuses = [client.status(ULTRA, handle.request_id, with_logs=True) for _ in range(4)]
    result = client.result(ULTRA, handle.request_id)

    assert handle.status_url.startswith("https://queue.fal.run/fal-ai/flux-pro/requests/")
    assert fake.jobs[handle.request_id].webhook_url == "https://studio.example/webhooks/fal"
    assert statuses[0] == fal_client.Queued(position=1)
    assert statuses[1] == fal_client.Queued(position=0)
    assert isinstance(statuses[2], fal_client.InProgress)
    assert [log["message"] for log in statuses[2].logs] == ["step 1/28", "step 28/28"]
    assert isinstance(statuses[3], fal_client.Completed) and statuses[3].error is None
    assert len(result["images"]) == 2 and result["has_nsfw_concepts"] == [False, False]
    first = result["images"][0]
    assert first["url"].startswith("https://v3.fal.media/files/")
    assert first["content_type"] == "image/jpeg"
    download = httpx.get(first["url"])
    assert download.status_code == 200
    picture = Image.open(io.BytesIO(download.content))
    assert (picture.format, picture.size) == ("JPEG", (first["width"], first["height"]))
    assert fake.requests.submits[ULTRA] == 1
    assert fake.requests.status[handle.request_id] == 5  # four polls, and get()'s own


def test_each_endpoint_answers_in_its_documented_shape(fake, client):
    edit = client.subscribe(
        KONTEXT, {"prompt": "same woman, side view", "image_urls": ["https://a/1.png"]}
    )
    img2img = client.subscribe(
        IMG2IMG,
        {"prompt": "x", "image_url": "https://a/1.png", "strength": 0.6, "output_format": "png"},
    )
    trained = client.subscribe(TRAINING, {"images_data_url": "https://a/d.zip", "steps": 10})
    caption = client.subscribe(CAPTION, {"image_url": "https://a/portrait.png"})

    assert (edit["images"][0]["width"], edit["images"][0]["height"]) == (1024, 1024)
    assert img2img["images"][0]["content_type"] == "image/png"
    weights = httpx.get(trained["diffusers_lora_file"]["url"]).content
    header = read_safetensors_header(weights)
    assert any(name.endswith("lora_A.weight") for name in header)
    assert trained["config_file"]["url"].endswith("config.json")
    assert "portrait.png" in caption["results"]


def test_the_sdk_retries_429_and_nginx_5xx_itself_but_not_fal_500(fake, client):
    fake.fail_next_submits(429, times=2)
    handle = client.submit(ULTRA, {"prompt": "x"})
    assert fake.requests.submits[ULTRA] == 3
    assert fake.requests.accepted[ULTRA] == 1
    assert handle.request_id in fake.jobs

    fake.fail_next_submits(503, ingress=True)
    client.submit(ULTRA, {"prompt": "x"})
    assert fake.requests.submits[ULTRA] == 5

    fake.fail_next_submits(500)
    with pytest.raises(fal_client.FalClientHTTPError) as refused:
        client.submit(ULTRA, {"prompt": "x"})
    assert refused.value.status_code == 500
    assert fake.requests.submits[ULTRA] == 6
    assert len(fake.jobs) == 2


def test_a_lost_submit_answer_makes_the_sdk_submit_again(fake, client):
    # fal took the first request but the answer never came: the SDK's own retry duplicates it.
    fake.drop_next_submits(accept=True)

    client.submit(ULTRA, {"prompt": "x"})

    assert fake.requests.submits[ULTRA] == 2
    assert len(fake.jobs) == 2


def test_a_failed_job_completes_with_its_error_and_its_result_is_an_http_error(fake, client):
    fake.job_failure(IMG2IMG, "NSFW content detected", status=422, error_type="content_policy")
    handle = client.submit(IMG2IMG, {"prompt": "x", "image_url": "https://a/1.png"})

    status = client.status(IMG2IMG, handle.request_id)
    with pytest.raises(fal_client.FalClientHTTPError) as failed:
        handle.get()

    assert isinstance(status, fal_client.Completed)
    assert (status.error, status.error_type) == ("NSFW content detected", "content_policy")
    assert failed.value.status_code == 422
    assert failed.value.message == "NSFW content detected"
    assert failed.value.error_type == "content_policy"


def test_the_trainer_refuses_inputs_outside_fals_schema_as_fal_validates(fake, client):
    handle = client.submit(
        TRAINING,
        {"images_data_url": "https://a/d.zip", "learning_rate": 0.0004, "steps": "many"},
    )
    with pytest.raises(fal_client.FalClientHTTPError) as refused:
        handle.get()

    assert refused.value.status_code == 422
    detail = refused.value.response.json()["detail"]
    assert {
        "loc": ["body", "learning_rate"],
        "msg": "extra fields not permitted",
        "type": "value_error.extra",
    } in detail
    assert any(e["loc"] == ["body", "steps"] and e["type"] == "type_error.integer" for e in detail)
    ok = client.submit(
        TRAINING,
        {"images_data_url": "https://a/d.zip", "steps": 500, "data_archive_format": "zip"},
    )
    assert "diffusers_lora_file" in ok.get()


def test_cancel_stops_a_queued_job_and_a_second_cancel_is_refused(fake, client):
    fake.script(TRAINING, queue_polls=5)
    handle = client.submit(TRAINING, {"images_data_url": "https://a/d.zip"})

    client.cancel(TRAINING, handle.request_id)
    status = client.status(TRAINING, handle.request_id)
    with pytest.raises(fal_client.FalClientHTTPError) as again:
        handle.cancel()

    assert isinstance(status, fal_client.Completed) and "cancelled" in status.error
    assert again.value.status_code == 400
    assert json.loads(again.value.response.text) == {"status": "ALREADY_COMPLETED"}
    assert fake.requests.cancels[handle.request_id] == 2


def test_unknown_ids_are_404_and_a_wrong_key_is_401(fake):
    with pytest.raises(fal_client.FalClientHTTPError) as unknown:
        fal_client.SyncClient(key=fake.key).status(ULTRA, "no-such-request")
    with pytest.raises(fal_client.FalClientHTTPError) as refused:
        fal_client.SyncClient(key="wrong").submit(ULTRA, {"prompt": "x"})

    assert unknown.value.status_code == 404
    assert refused.value.status_code == 401
    assert fake.jobs == {}


def test_result_files_answer_404_once_expired(fake, client):
    result = client.subscribe(ULTRA, {"prompt": "x"})
    url = result["images"][0]["url"]
    assert httpx.get(url).status_code == 200

    fake.expire_results()

    assert httpx.get(url).status_code == 404
    assert client.result(ULTRA, fake.last_job().request_id) == result  # the JSON stays


def test_uploads_go_to_the_fake_cdn(fake, client):
    url = client.upload(b"zip bytes", "application/zip", file_name="dataset.zip")

    assert url.startswith("https://v3.fal.media/files/")
    assert httpx.get(url).content == b"zip bytes"


class _Receiver(BaseHTTPRequestHandler):
    deliveries: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.deliveries.append((dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _verifies(public_keys: list[bytes], headers: dict, body: bytes) -> bool:
    message = "\n".join(
        [
            headers["X-Fal-Webhook-Request-Id"],
            headers["X-Fal-Webhook-User-Id"],
            headers["X-Fal-Webhook-Timestamp"],
            hashlib.sha256(body).hexdigest(),
        ]
    ).encode()
    for key in public_keys:
        try:
            signature = bytes.fromhex(headers["X-Fal-Webhook-Signature"])
            Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
            return True
        except InvalidSignature:
            continue
    return False


def test_webhooks_verify_with_the_published_keys_unless_tampered(fake, client):
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, args=(0.05,), daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/webhooks/fal"
    _Receiver.deliveries = []
    try:
        handle = client.submit(ULTRA, {"prompt": "x"}, webhook_url=hook)
        assert fake.send_webhook(handle.request_id)[0] == 200
        assert fake.send_webhook(handle.request_id, tamper=True)[0] == 200
    finally:
        receiver.shutdown()
        receiver.server_close()
    jwks = httpx.get(fake.jwks_url).json()
    keys = [base64.urlsafe_b64decode(k["x"] + "=" * (-len(k["x"]) % 4)) for k in jwks["keys"]]
    (good_headers, good_body), (bad_headers, bad_body) = _Receiver.deliveries

    assert httpx.get("https://rest.alpha.fal.ai/.well-known/jwks.json").json() == jwks
    assert _verifies(keys, good_headers, good_body)
    assert not _verifies(keys, bad_headers, bad_body)
    payload = json.loads(good_body)
    assert payload["status"] == "OK" and payload["request_id"] == handle.request_id
    assert payload["payload"] == client.result(ULTRA, handle.request_id)


def test_fal_hosts_move_only_when_set_before_fal_client_is_imported(fake):
    # FAL_QUEUE_RUN_HOST is read at import: a new process sees it, this one never would.
    script = (
        "import fal_client, sys\n"
        "h = fal_client.SyncClient(key=sys.argv[1]).submit('fal-ai/flux-lora', {'prompt': 'x'})\n"
        "print(h.status_url)\n"
    )
    env = {**os.environ, **fake.host_env, "HTTPS_PROXY": "", "https_proxy": ""}
    done = subprocess.run(
        [sys.executable, "-c", script, fake.key], env=env, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(f"{fake.base_url}/queue/fal-ai/flux-lora/requests/")
    assert fake.requests.accepted["fal-ai/flux-lora"] == 1
