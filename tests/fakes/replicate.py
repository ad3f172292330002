"""A fake Replicate API for tests: the HTTP protocol the `replicate` SDK (1.0.x) speaks.

It runs in-process on 127.0.0.1 (a free port, a daemon thread) and is driven from the test:

    with FakeReplicate() as fake:
        client = replicate.Client(api_token=fake.token, base_url=fake.base_url)
        fake.script("black-forest-labs/flux-dev", starting_polls=1, processing_polls=2)
        prediction = client.models.predictions.create(
            model="black-forest-labs/flux-dev", input={"prompt": "a fox"}
        )
        ...

What it serves (see docs/providers/replicate.md for the real API it imitates):
- predictions: `POST /v1/models/{owner}/{name}/predictions` (official models only),
  `POST /v1/predictions` with `version`, `GET /v1/predictions[/{id}]`,
  `POST /v1/predictions/{id}/cancel`; `Prefer: wait` finishes the prediction at once;
- trainings: `POST /v1/models/{owner}/{name}/versions/{version}/trainings`,
  `GET /v1/trainings[/{id}]`, `POST /v1/trainings/{id}/cancel`;
- models: `GET /v1/models/{owner}/{name}` (with `latest_version`),
  `GET /v1/models/{owner}/{name}/versions/{id}`, `POST /v1/models`;
- `GET /v1/webhooks/default/secret`;
- file uploads: `POST /v1/files` (multipart `content`), answering the file with its `urls.get`;
- output files under `/files/...` (no auth, like replicate.delivery): real PNG/JPEG/WebP
  images, and the trainer's `trained_model.tar` holding a valid `lora.safetensors`.

A prediction moves only when it is polled (or `complete()`d), so tests are deterministic:
the create answers `starting`, the next `starting_polls` GETs answer `starting`, the next
`processing_polls` answer `processing` with more of the logs each time, the one after that
answers `succeeded` (or `failed` when scripted to).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.media import fake_safetensors

TERMINAL = ("succeeded", "failed", "canceled")
TRAINER = "ostris/flux-dev-lora-trainer"


@dataclass(frozen=True)
class ModelSpec:
    """What the fake knows of one model: how it is run, what it needs, what it returns."""

    name: str
    official: bool  # official models run by name; community ones only by version
    kind: str  # "image" | "trainer" | "caption" | "embedding"
    output_shape: str = "list"  # image models: "list" of URLs or a "single" URL
    formats: tuple[str, ...] = ("webp", "jpg", "png")  # the first is the model's default
    max_outputs: int = 1
    required: tuple[str, ...] = ("prompt",)
    version: str = ""

    @property
    def version_id(self) -> str:
        return self.version or hashlib.sha256(self.name.encode()).hexdigest()


# Input/output shapes as the models' API pages give them; see docs/providers/replicate.md.
MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("black-forest-labs/flux-1.1-pro-ultra", True, "image", "single", ("jpg", "png")),
        ModelSpec("black-forest-labs/flux-1.1-pro", True, "image", "single"),
        ModelSpec("black-forest-labs/flux-dev", True, "image", "list", max_outputs=4),
        ModelSpec("black-forest-labs/flux-dev-lora", True, "image", "list", max_outputs=4),
        ModelSpec(
            "black-forest-labs/flux-kontext-pro",
            True,
            "image",
            "single",
            ("png", "jpg"),
            required=("prompt",),
        ),
        ModelSpec(
            "flux-kontext-apps/multi-image-kontext-pro",
            True,
            "image",
            "single",
            ("png", "jpg"),
            required=("prompt", "input_image_1", "input_image_2"),
        ),
        ModelSpec("lucataco/flux-dev-lora", False, "image", "list", max_outputs=4),
        ModelSpec(
            "lucataco/florence-2-large",
            False,
            "caption",
            required=("image",),
            version="da53547e17d45b9cfb48174b2f18af8b83ca020fa76db62136bf9c6616762595",
        ),
        ModelSpec(
            "andreasjansson/clip-features",
            False,
            "embedding",
            required=("inputs",),
            version="75b33f253f7714a281ad3e9b28f63e3232d583716ef6718f2e46641077ea040a",
        ),
        ModelSpec(
            TRAINER,
            False,
            "trainer",
            required=(),
            version="26dce37af90b9d997eeb970d92e47de3064d46c300504ae376c75bef6a9022d2",
        ),
    ]
}

# The trainer's inputs as its source declares them (replicate/flux-fine-tuner@3dd14e3
# train.py:105-211, cog `Input(...)` with ge/le): name -> (JSON type, low, high).
# Replicate checks types and ranges against the version's schema and answers 422
# "- input.steps: Must be less than or equal to 6000". It drops inputs the schema does not
# name (replicate/cog#2943: "Replicate's API ... has historically ignored unknown inputs");
# this fake refuses them instead, so a setting we send that the trainer never reads fails a test.
TRAINER_INPUTS: dict[str, tuple[str, float | None, float | None]] = {
    "input_images": ("string", None, None),
    "trigger_word": ("string", None, None),
    "autocaption": ("boolean", None, None),
    "autocaption_prefix": ("string", None, None),
    "autocaption_suffix": ("string", None, None),
    "steps": ("integer", 3, 6000),  # train.py:125-130
    "learning_rate": ("number", None, None),  # train.py:131-134
    "batch_size": ("integer", None, None),  # train.py:135-137
    "resolution": ("string", None, None),  # train.py:138-140
    "lora_rank": ("integer", 1, 128),  # train.py:141-146
    "caption_dropout_rate": ("number", 0, 1),  # train.py:147-152
    "optimizer": ("string", None, None),
    "cache_latents_to_disk": ("boolean", None, None),
    "layers_to_optimize_regex": ("string", None, None),
    "gradient_checkpointing": ("boolean", None, None),
    "hf_repo_id": ("string", None, None),
    "hf_token": ("string", None, None),
    "wandb_api_key": ("string", None, None),
    "wandb_project": ("string", None, None),
    "wandb_run": ("string", None, None),
    "wandb_entity": ("string", None, None),
    "wandb_sample_interval": ("integer", 1, None),
    "wandb_sample_prompts": ("string", None, None),
    "wandb_save_interval": ("integer", 1, None),
    "skip_training_and_use_pretrained_hf_lora_url": ("string", None, None),
}
_JSON_TYPES = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def trainer_input_problems(job_input: dict) -> list[str]:
    """Replicate's validation lines for a trainer input, or [] when it is valid."""
    problems = []
    for name, value in job_input.items():
        if name not in TRAINER_INPUTS:
            problems.append(f"- input: Additional property {name} is not allowed")
            continue
        kind, low, high = TRAINER_INPUTS[name]
        is_bool = isinstance(value, bool)
        if not isinstance(value, _JSON_TYPES[kind]) or (is_bool and kind != "boolean"):
            given = type(value).__name__.replace("str", "string").replace("float", "number")
            problems.append(f"- input.{name}: Invalid type. Expected: {kind}, given: {given}")
            continue
        if kind == "integer" and isinstance(value, float):
            problems.append(f"- input.{name}: Invalid type. Expected: integer, given: number")
        elif low is not None and value < low:
            problems.append(f"- input.{name}: Must be greater than or equal to {low}")
        elif high is not None and value > high:
            problems.append(f"- input.{name}: Must be less than or equal to {high}")
    return problems


_FLORENCE_TASKS = {
    "Caption": "<CAPTION>",
    "Detailed Caption": "<DETAILED_CAPTION>",
    "More Detailed Caption": "<MORE_DETAILED_CAPTION>",
}
_DEFAULT_CAPTION = "A woman with short dark hair stands in front of a plain grey wall."

# Problem-details bodies the way the real API words them (rate-limits page, SDK issues).
_ERROR_TEXT = {
    400: ("Bad request", "The request body could not be parsed."),
    401: ("Unauthenticated", "You did not pass a valid authentication token"),
    404: ("Not found", "The requested resource could not be found."),
    409: ("Conflict", "A model with that owner and name already exists."),
    422: ("Input validation failed", "The input is not valid."),
    429: ("Request was throttled", "Request was throttled. Your rate limit resets in ~30s."),
    500: ("Internal server error", "An unexpected error occurred. Please try again."),
    502: ("Bad gateway", "The upstream server returned an invalid response."),
    503: ("Service unavailable", "The service is temporarily unavailable. Please try again."),
    504: ("Gateway timeout", "The upstream server did not answer in time."),
}


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class Script:
    """How the next predictions (or trainings) of a model behave."""

    starting_polls: int = 0
    processing_polls: int = 0
    logs: tuple[str, ...] | None = None  # None: the model's usual log lines
    fail: str | None = None  # an error message: the job ends `failed` with it
    output: Any = UNSET  # a literal output instead of generated files
    output_shape: str | None = None  # "list" | "single", to override the model's shape
    predict_time: float | None = None  # metrics.predict_time once finished
    weights: str = "tar"  # trainer only: "tar" (as the real trainer) or "safetensors"
    caption: str = _DEFAULT_CAPTION  # captioner only


@dataclass(frozen=True)
class Call:
    """One request the fake answered (status None: the connection was dropped unanswered)."""

    method: str
    path: str
    kind: str
    status: int | None
    model: str | None = None
    id: str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class Calls:
    """A snapshot of the requests made so far, with the questions tests ask of it."""

    CREATE_KINDS = ("create_prediction", "create_training")
    GET_KINDS = ("get_prediction", "get_training")
    CANCEL_KINDS = ("cancel_prediction", "cancel_training")

    def __init__(self, calls: list[Call]) -> None:
        self._calls = list(calls)

    def __iter__(self):
        return iter(self._calls)

    def __len__(self) -> int:
        return len(self._calls)

    def __getitem__(self, index):
        return self._calls[index]

    def of(self, *kinds: str, model: str | None = None, id: str | None = None) -> list[Call]:
        return [
            c
            for c in self._calls
            if c.kind in kinds
            and (model is None or c.model == model)
            and (id is None or c.id == id)
        ]

    def creates(self, model: str | None = None) -> list[Call]:
        return self.of(*self.CREATE_KINDS, model=model)

    def gets(self, id: str | None = None) -> list[Call]:
        return self.of(*self.GET_KINDS, id=id)

    def cancels(self, id: str | None = None) -> list[Call]:
        return self.of(*self.CANCEL_KINDS, id=id)

    def creates_per_model(self) -> Counter:
        """Accepted creates per model (2xx, or dropped after acceptance): what is paid for."""
        return Counter(c.model for c in self.creates() if c.status is None or c.status < 300)


@dataclass
class _Fault:
    status: int | None  # None with drop=True
    detail: str | None = None
    retry_after: str | None = None
    drop: bool = False  # do the work, then close the connection without answering


@dataclass
class _Job:
    kind: str  # "prediction" | "training"
    id: str
    spec: ModelSpec
    version: str
    input: dict
    script: Script
    created_at: str
    webhook: str | None = None
    webhook_events_filter: list | None = None
    destination: str | None = None
    polls: int = 0
    status: str = "starting"
    started_at: str | None = None
    completed_at: str | None = None
    output: Any = None
    error: str | None = None
    logs: str = ""
    metrics: dict = field(default_factory=dict)
    data_removed: bool = False
    files: list[str] = field(default_factory=list)


class _Problem(Exception):
    def __init__(self, status: int, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An answer's headers and body go out in two writes: with Nagle's algorithm the body
    # waited for the client's delayed ACK, 40 ms on every request.
    disable_nagle_algorithm = True
    server_version = "FakeReplicate/1.0"
    timeout = 10  # idle keep-alive connections end, so threads do not linger

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def do_GET(self):
        self.server.fake._serve(self, "GET")

    def do_POST(self):
        self.server.fake._serve(self, "POST")

    def do_DELETE(self):
        self.server.fake._serve(self, "DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Many worker threads connect at once in the fan-out bench: the default backlog of 5 would
    # drop their SYNs, and each dropped one costs the client a one-second retransmit.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client that timed out and hung up is part of the tests, not a fault to print.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _multipart(raw: bytes, content_type: str) -> dict:
    """The parts of a multipart/form-data body: name → (bytes, filename, content type)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    parts = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        parts[name] = (
            part.get_payload(decode=True) or b"",
            part.get_filename() or name,
            part.get_content_type(),
        )
    return parts


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class FakeReplicate:
    """An in-process Replicate API. Start it, point the SDK at `base_url`, script models."""

    def __init__(
        self,
        *,
        token: str = "r8_fake_test_token",
        https: bool = False,
        latency: float = 0.0,
        webhook_secret: str | None = None,
    ) -> None:
        self.token = token
        self.https = https
        self.latency = latency  # seconds slept before every answer (for timeout tests)
        self.webhook_secret = (
            webhook_secret
            or "whsec_"
            + base64.b64encode(
                hashlib.sha256(b"fake-replicate webhook signing key").digest()
            ).decode()
        )
        self.models: dict[str, ModelSpec] = dict(MODELS)
        self._lock = threading.RLock()
        self._scripts: dict[str, list[tuple[Script, int | None]]] = {}
        self._faults: dict[str, list[_Fault]] = {"create": [], "get": [], "cancel": []}
        self._jobs: dict[str, _Job] = {}
        self._files: dict[str, tuple[bytes, str]] = {}
        self.uploads: list[tuple[str, bytes]] = []  # (filename, content) of POST /v1/files
        self._expired: set[str] = set()
        self._created_models: set[str] = set()
        self._calls: list[Call] = []
        self._counter = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: str | None = None
        self.ca_pem_path: str | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeReplicate:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        if self.https:
            server.socket = self._tls_context().wrap_socket(server.socket, server_side=True)
        self._server = server
        # A short poll interval so stop() returns at once rather than after half a second.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="fake-replicate", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> FakeReplicate:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _tls_context(self):
        import ssl

        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self._tmpdir = tempfile.mkdtemp(prefix="fake-replicate-")
        self.ca_pem_path = os.path.join(self._tmpdir, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_pem_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeReplicate is not started")
        scheme = "https" if self.https else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def env(self) -> dict[str, str]:
        """Environment that points a fresh `replicate.Client()` at this fake.

        The SDK reads these when it builds its HTTP client, on its first request; the
        module-level `replicate.default_client` keeps the first one it built, so tests
        should make their own `replicate.Client()`.
        """
        env = {
            "REPLICATE_API_TOKEN": self.token,
            "REPLICATE_BASE_URL": self.base_url,
            "REPLICATE_POLL_INTERVAL": "0",  # Prediction.wait()/replicate.run() poll delay
        }
        if self.https:
            env["SSL_CERT_FILE"] = self.ca_pem_path
        return env

    # -- driving it from tests -------------------------------------------------------------

    def script(
        self,
        model: str,
        *,
        starting_polls: int = 0,
        processing_polls: int = 0,
        logs: list[str] | tuple[str, ...] | None = None,
        fail: str | None = None,
        output: Any = UNSET,
        output_shape: str | None = None,
        predict_time: float | None = None,
        weights: str = "tar",
        caption: str = _DEFAULT_CAPTION,
        times: int | None = None,
        official: bool = True,
    ) -> None:
        """Set how the model's next predictions or trainings behave.

        `times=None` keeps the script for every later create; `times=n` applies it to the
        next n creates, then the previous script is back. A model the fake does not know
        is added as an official image model (list output, or `output_shape`).
        """
        new = Script(
            starting_polls=starting_polls,
            processing_polls=processing_polls,
            logs=tuple(logs) if logs is not None else None,
            fail=fail,
            output=output,
            output_shape=output_shape,
            predict_time=predict_time,
            weights=weights,
            caption=caption,
        )
        with self._lock:
            if model not in self.models:
                self.models[model] = ModelSpec(
                    model, official, "image", output_shape or "list", max_outputs=4
                )
            stack = self._scripts.setdefault(model, [])
            if times is None:
                stack[:] = [(new, None)]
            else:
                stack.append((new, times))

    def prediction_failure(
        self, model: str, error: str = "Prediction failed.", *, times: int | None = None, **kw
    ) -> None:
        """The model's next predictions (or trainings) end `failed` with `error`."""
        self.script(model, fail=error, times=times, **kw)

    def fail_next_creates(
        self,
        status: int,
        times: int = 1,
        *,
        detail: str | None = None,
        retry_after: int | str | None = None,
    ) -> None:
        """The next `times` creates (predictions or trainings) answer `status`, creating nothing."""
        self._add_fault("create", status, times, detail, retry_after)

    def fail_next_gets(
        self,
        status: int,
        times: int = 1,
        *,
        detail: str | None = None,
        retry_after: int | str | None = None,
    ) -> None:
        """The next `times` GETs of a prediction or training answer `status`."""
        self._add_fault("get", status, times, detail, retry_after)

    def fail_next_cancels(self, status: int, times: int = 1, *, detail: str | None = None) -> None:
        self._add_fault("cancel", status, times, detail, None)

    def drop_next_creates(self, times: int = 1) -> None:
        """The next creates are accepted (the job exists, and would be paid for) but the
        connection closes before the answer: the caller cannot know the outcome."""
        with self._lock:
            self._faults["create"].extend(_Fault(None, drop=True) for _ in range(times))

    def _add_fault(self, kind, status, times, detail, retry_after) -> None:
        with self._lock:
            self._faults[kind].extend(
                _Fault(status, detail, None if retry_after is None else str(retry_after))
                for _ in range(times)
            )

    def expire_outputs(self, *, remove_data: bool = False) -> None:
        """Every output file served so far now answers 404 (the real ones go after an hour).

        With `remove_data`, the jobs also read as the API shows them then:
        `data_removed: true`, no input, output or logs.
        """
        with self._lock:
            self._expired.update(self._files)
            if remove_data:
                for job in self._jobs.values():
                    if job.status in TERMINAL:
                        job.data_removed = True
                        job.input, job.output, job.logs = {}, None, ""

    def complete(self, job_id: str) -> dict:
        """Run a prediction or training to its scripted end now, without polls."""
        with self._lock:
            job = self._job(job_id)
            self._finish(job)
            return self._render(job)

    def prediction(self, job_id: str) -> dict:
        """The JSON the API would answer for this prediction or training, without a poll."""
        with self._lock:
            return self._render(self._job(job_id))

    training = prediction

    @property
    def requests(self) -> Calls:
        with self._lock:
            return Calls(self._calls)

    # -- webhooks ----------------------------------------------------------------------------

    def signed_webhook(
        self,
        job_id: str,
        *,
        tamper: bool = False,
        timestamp: int | None = None,
        webhook_id: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body of a webhook delivery for the job's current state, signed the way
        Replicate signs them (Standard Webhooks). `tamper` changes the body after signing;
        an old `timestamp` makes a replay."""
        with self._lock:
            payload = self._render(self._job(job_id))
            self._counter += 1
            webhook_id = webhook_id or "msg_" + self._token_for("webhook", self._counter)
        timestamp = int(time.time()) if timestamp is None else int(timestamp)
        body = json.dumps(payload).encode()
        signature = sign_webhook(self.webhook_secret, webhook_id, timestamp, body)
        if tamper:
            payload = {**payload, "status": "succeeded", "output": ["https://evil.example/x.png"]}
            body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": f"v1,{signature}",
        }
        return headers, body

    def send_webhook(
        self,
        job_id: str,
        url: str | None = None,
        *,
        tamper: bool = False,
        timestamp: int | None = None,
        timeout: float = 10.0,
    ) -> int:
        """POST a signed webhook for the job to `url` (default: the job's own `webhook`).
        Returns the receiver's HTTP status."""
        if url is None:
            with self._lock:
                url = self._job(job_id).webhook
            if not url:
                raise ValueError(f"{job_id} was created without a webhook; pass url=")
        headers, body = self.signed_webhook(job_id, tamper=tamper, timestamp=timestamp)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    # -- HTTP ------------------------------------------------------------------------------

    _ROUTES = [
        ("GET", re.compile(r"^/files/(?P<path>.+)$"), "file"),
        (
            "POST",
            re.compile(r"^/v1/models/(?P<owner>[^/]+)/(?P<name>[^/]+)/predictions$"),
            "create_prediction",
        ),
        ("POST", re.compile(r"^/v1/predictions$"), "create_prediction"),
        ("GET", re.compile(r"^/v1/predictions$"), "list_predictions"),
        ("GET", re.compile(r"^/v1/predictions/(?P<id>[^/]+)$"), "get_prediction"),
        ("POST", re.compile(r"^/v1/predictions/(?P<id>[^/]+)/cancel$"), "cancel_prediction"),
        (
            "POST",
            re.compile(
                r"^/v1/models/(?P<owner>[^/]+)/(?P<name>[^/]+)/versions/(?P<version>[^/]+)/trainings$"
            ),
            "create_training",
        ),
        ("GET", re.compile(r"^/v1/trainings$"), "list_trainings"),
        ("GET", re.compile(r"^/v1/trainings/(?P<id>[^/]+)$"), "get_training"),
        ("POST", re.compile(r"^/v1/trainings/(?P<id>[^/]+)/cancel$"), "cancel_training"),
        ("GET", re.compile(r"^/v1/models/(?P<owner>[^/]+)/(?P<name>[^/]+)$"), "get_model"),
        (
            "GET",
            re.compile(
                r"^/v1/models/(?P<owner>[^/]+)/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$"
            ),
            "get_version",
        ),
        ("POST", re.compile(r"^/v1/models$"), "create_model"),
        ("POST", re.compile(r"^/v1/files$"), "create_file"),
        ("GET", re.compile(r"^/v1/webhooks/default/secret$"), "webhook_secret"),
    ]
    _FAULT_KIND = {
        "create_prediction": "create",
        "create_training": "create",
        "get_prediction": "get",
        "get_training": "get",
        "cancel_prediction": "cancel",
        "cancel_training": "cancel",
    }

    def _serve(self, handler: _Handler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if self.latency:
            time.sleep(self.latency)
        path = handler.path.split("?", 1)[0]
        kind, params = "unknown", {}
        for route_method, pattern, route_kind in self._ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                kind, params = route_kind, match.groupdict()
                break
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        if kind == "create_file":
            body = _multipart(raw, handler.headers.get("Content-Type", ""))
        record = {
            "method": method,
            "path": handler.path,
            "kind": kind,
            "body": body,
            "headers": headers,
            "model": None,
            "id": params.get("id"),
        }
        if "owner" in params:
            record["model"] = f"{params['owner']}/{params['name']}"
        if kind == "file":
            self._answer_file(handler, params["path"], record)
            return
        drop = False
        try:
            if not self._authorized(headers.get("authorization", "")):
                raise _Problem(401)
            fault = self._take_fault(kind)
            if fault is not None and not fault.drop:
                raise _Problem(fault.status, fault.detail, _retry_after=fault.retry_after)
            drop = fault is not None and fault.drop
            if kind == "unknown":
                raise _Problem(404)
            if isinstance(body, str):
                raise _Problem(400)
            try:
                status, payload = getattr(self, f"_{kind}")(params, body or {}, headers, record)
            except _Problem:
                raise
            except Exception as exc:
                # A bug in the fake: say so in the answer and on stderr, not as a hang-up.
                traceback.print_exc()
                raise _Problem(500, f"FakeReplicate failed: {exc!r}") from exc
        except _Problem as problem:
            status, payload = problem.status, self._problem_body(problem)
            extra_headers = {}
            if problem.extra.get("_retry_after") is not None:
                extra_headers["Retry-After"] = problem.extra["_retry_after"]
            self._record(record, status)
            self._write(
                handler,
                status,
                json.dumps(payload).encode(),
                "application/problem+json",
                extra_headers,
            )
            return
        if drop:
            self._record(record, None)
            handler.close_connection = True
            return
        self._record(record, status)
        self._write(handler, status, json.dumps(payload).encode(), "application/json")

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        # The API accepts the current "Bearer" and the older "Token" scheme alike.
        return scheme in ("Bearer", "Token") and hmac.compare_digest(
            value.strip().encode(), self.token.encode()
        )

    def _take_fault(self, kind: str) -> _Fault | None:
        fault_kind = self._FAULT_KIND.get(kind)
        if fault_kind is None:
            return None
        with self._lock:
            queue = self._faults[fault_kind]
            return queue.pop(0) if queue else None

    def _record(self, record: dict, status: int | None) -> None:
        with self._lock:
            self._calls.append(Call(status=status, **record))

    @staticmethod
    def _problem_body(problem: _Problem) -> dict:
        title, default_detail = _ERROR_TEXT.get(problem.status, ("Error", "Request failed."))
        body = {
            "title": title,
            "detail": problem.detail or default_detail,
            "status": problem.status,
        }
        body.update({k: v for k, v in problem.extra.items() if not k.startswith("_")})
        return body

    @staticmethod
    def _write(handler, status, data: bytes, content_type: str, headers=None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _answer_file(self, handler, file_path: str, record: dict) -> None:
        with self._lock:
            found = self._files.get(file_path)
            expired = file_path in self._expired
        if found is None or expired:
            self._record(record, 404)
            # replicate.delivery answers missing files with a bare 404, not problem JSON.
            self._write(handler, 404, b"Not Found", "text/plain")
            return
        self._record(record, 200)
        self._write(handler, 200, found[0], found[1])

    # -- endpoints -------------------------------------------------------------------------

    def _create_prediction(self, params, body, headers, record):
        if "owner" in params:
            spec = self.models.get(record["model"])
            if spec is None or not spec.official:
                # Community models have no versionless endpoint: 404, as the real API.
                raise _Problem(404)
            version = "hidden"  # what the API shows for official models
        else:
            ref = str(body.get("version") or "")
            version = ref.rsplit(":", 1)[-1]
            spec = next((s for s in self.models.values() if s.version_id == version), None)
            if spec is None or spec.kind == "trainer":
                raise _Problem(422, "Invalid version or not permitted")
            record["model"] = spec.name
        job_input = self._validated_input(spec, body.get("input"))
        with self._lock:
            job = self._new_job("prediction", spec, version, job_input, body)
            record["id"] = job.id
            if re.match(r"^\s*wait\b", headers.get("prefer", "")):
                # Sync mode holds the request until the model is done; here it is done at once.
                self._finish(job)
            return 201, self._render(job)

    def _create_training(self, params, body, headers, record):
        spec = self.models.get(record["model"])
        if spec is None or spec.kind != "trainer" or params["version"] != spec.version_id:
            raise _Problem(404)
        destination = body.get("destination")
        if not destination or not re.fullmatch(r"[^/\s]+/[^/\s]+", str(destination)):
            raise _Problem(422, "destination must be in the format owner/name")
        job_input = body.get("input") or {}
        if not isinstance(job_input, dict):
            raise _Problem(422, "input must be an object")
        if problems := trainer_input_problems(job_input):
            raise _Problem(422, "\n".join(problems))
        with self._lock:
            job = self._new_job("training", spec, params["version"], job_input, body)
            job.destination = destination
            record["id"] = job.id
            return 201, self._render(job)

    def _get_prediction(self, params, body, headers, record):
        return self._poll("prediction", params["id"], record)

    def _get_training(self, params, body, headers, record):
        return self._poll("training", params["id"], record)

    def _poll(self, kind, job_id, record):
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.kind != kind:
                raise _Problem(404)
            record["model"] = job.spec.name
            self._advance(job)
            return 200, self._render(job)

    def _cancel_prediction(self, params, body, headers, record):
        return self._cancel("prediction", params["id"], record)

    def _cancel_training(self, params, body, headers, record):
        return self._cancel("training", params["id"], record)

    def _cancel(self, kind, job_id, record):
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.kind != kind:
                raise _Problem(404)
            record["model"] = job.spec.name
            if job.status not in TERMINAL:
                job.status = "canceled"
                job.completed_at = _now()
            return 200, self._render(job)

    def _list_predictions(self, params, body, headers, record):
        return self._list("prediction")

    def _list_trainings(self, params, body, headers, record):
        return self._list("training")

    def _list(self, kind):
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.kind == kind]
            results = [self._render(j) for j in reversed(jobs)]
        return 200, {"previous": None, "next": None, "results": results}

    def _get_model(self, params, body, headers, record):
        spec = self.models.get(record["model"])
        if spec is None and record["model"] not in self._created_models:
            raise _Problem(404)
        return 200, self._model_json(record["model"], spec)

    def _get_version(self, params, body, headers, record):
        spec = self.models.get(record["model"])
        if spec is None or params["version"] != spec.version_id:
            raise _Problem(404)
        return 200, self._version_json(spec)

    def _create_model(self, params, body, headers, record):
        name = f"{body.get('owner')}/{body.get('name')}"
        record["model"] = name
        with self._lock:
            if name in self._created_models or name in self.models:
                raise _Problem(409)
            self._created_models.add(name)
        return 201, self._model_json(name, None, visibility=body.get("visibility", "private"))

    def _create_file(self, params, body, headers, record):
        content = body.get("content")
        if content is None:
            raise _Problem(400, "content is required")
        data, filename, content_type = content
        with self._lock:
            self._counter += 1
            file_id = self._token_for("file", self._counter)
        url = self._store(f"uploads/{file_id}/{filename}", data, content_type)
        self.uploads.append((filename, data))
        digest = hashlib.sha256(data).hexdigest()
        return 201, {
            "id": file_id,
            "name": filename,
            "content_type": content_type,
            "size": len(data),
            "etag": digest[:32],
            "checksums": {"sha256": digest},
            "metadata": {},
            "created_at": _now(),
            "expires_at": None,
            "urls": {"get": url},
        }

    def _webhook_secret(self, params, body, headers, record):
        return 200, {"key": self.webhook_secret}

    # -- jobs ------------------------------------------------------------------------------

    def _validated_input(self, spec: ModelSpec, job_input: Any) -> dict:
        if not isinstance(job_input, dict):
            raise _Problem(422, "- input: Invalid type. Expected: object, given: null")
        missing = [name for name in spec.required if not job_input.get(name)]
        if missing:
            raise _Problem(
                422,
                "\n".join(f"- input: {name} is required" for name in missing),
                invalid_fields=[
                    {"type": "required", "field": "input", "description": f"{name} is required"}
                    for name in missing
                ],
            )
        if spec.kind == "image":
            count = job_input.get("num_outputs", 1)
            # Single-output models have no num_outputs input; unknown inputs are ignored.
            if spec.output_shape == "list" and (
                not isinstance(count, int) or not 1 <= count <= spec.max_outputs
            ):
                raise _Problem(
                    422, f"- input.num_outputs: Must be less than or equal to {spec.max_outputs}"
                )
            fmt = job_input.get("output_format")
            if fmt is not None and fmt not in spec.formats:
                options = ", ".join(f'"{f}"' for f in spec.formats)
                raise _Problem(
                    422, f"- input.output_format: must be one of the following: {options}"
                )
        return job_input

    def _new_job(
        self, kind: str, spec: ModelSpec, version: str, job_input: dict, body: dict
    ) -> _Job:
        self._counter += 1
        job = _Job(
            kind=kind,
            id=self._token_for(kind, self._counter),
            spec=spec,
            version=version,
            input=job_input,
            script=self._take_script(spec.name),
            created_at=_now(),
            webhook=body.get("webhook") or body.get("webhook_completed"),
            webhook_events_filter=body.get("webhook_events_filter"),
        )
        self._jobs[job.id] = job
        return job

    def _take_script(self, model: str) -> Script:
        stack = self._scripts.get(model) or []
        if not stack:
            return Script()
        script, remaining = stack[-1]
        if remaining is not None:
            if remaining <= 1:
                stack.pop()
            else:
                stack[-1] = (script, remaining - 1)
        return script

    @staticmethod
    def _token_for(kind: str, n: int) -> str:
        # Replicate ids are 26 lowercase base32 characters.
        digest = hashlib.sha256(f"{kind}:{n}".encode()).digest()
        return base64.b32encode(digest).decode().lower()[:26]

    def _job(self, job_id: str) -> _Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise KeyError(f"no prediction or training {job_id!r}") from None

    def _advance(self, job: _Job) -> None:
        if job.status in TERMINAL:
            return
        job.polls += 1
        script = job.script
        if job.polls <= script.starting_polls:
            return
        if job.polls <= script.starting_polls + script.processing_polls:
            job.status = "processing"
            job.started_at = job.started_at or _now()
            lines = self._log_lines(job)
            step = job.polls - script.starting_polls
            shown = -(-len(lines) * step // script.processing_polls)  # ceil
            job.logs = "".join(line + "\n" for line in lines[:shown])
            return
        self._finish(job)

    def _finish(self, job: _Job) -> None:
        if job.status in TERMINAL:
            return
        script = job.script
        job.started_at = job.started_at or _now()
        job.completed_at = _now()
        job.logs = "".join(line + "\n" for line in self._log_lines(job))
        predict_time = script.predict_time
        if predict_time is None:
            predict_time = 600.0 if job.spec.kind == "trainer" else 2.5
        job.metrics = {"predict_time": predict_time, "total_time": predict_time + 0.5}
        # As at Replicate, the job ran for its predict time: started that long before it ended
        # (clients that drop `metrics`, like the SDK's Training, still see the duration).
        ended = datetime.fromisoformat(job.completed_at.replace("Z", "+00:00"))
        job.started_at = (
            (ended - timedelta(seconds=predict_time)).isoformat().replace("+00:00", "Z")
        )
        error = script.fail
        if error is None and job.spec.kind == "trainer" and not job.input.get("input_images"):
            error = "input_images must be provided"  # what the trainer raises without them
        if error is not None:
            job.status, job.error, job.output = "failed", error, None
            job.logs += f"Traceback (most recent call last):\n{error}\n"
            return
        job.status = "succeeded"
        job.output = script.output if script.output is not UNSET else self._make_output(job)

    def _log_lines(self, job: _Job) -> list[str]:
        if job.script.logs is not None:
            return list(job.script.logs)
        if job.spec.kind == "trainer":
            steps = int(job.input.get("steps") or 1000)
            return [
                f"flux_train_replicate:  {pct:>3}%|{'#' * (pct // 10):<10}| "
                f"{steps * pct // 100}/{steps} [00:{pct // 2:02d}<00:50, 10.00it/s]"
                for pct in (25, 50, 75, 100)
            ]
        seed = int(job.input.get("seed") or 1234)
        return [f"Using seed: {seed}", "Running prediction...", "Generated image in 2.1 sec"]

    def _make_output(self, job: _Job) -> Any:
        spec, script = job.spec, job.script
        if spec.kind == "embedding":
            # clip-features: one {"input", "embedding"} per line of `inputs` (text or image
            # URL), CLIP ViT-L/14's 768 numbers; here a deterministic function of the line.
            return [
                {"input": line, "embedding": _embedding_of(line)}
                for line in str(job.input["inputs"]).splitlines()
                if line.strip()
            ]
        if spec.kind == "caption":
            tag = _FLORENCE_TASKS.get(job.input.get("task_input", "Caption"), "<CAPTION>")
            # The model returns the processor's dict as a Python repr string, not JSON.
            return {"img": None, "text": str({tag: script.caption})}
        if spec.kind == "trainer":
            return self._make_weights(job)
        shape = script.output_shape or spec.output_shape
        count = int(job.input.get("num_outputs") or 1) if shape == "list" else 1
        fmt = job.input.get("output_format") or spec.formats[0]
        urls = []
        for index in range(count):
            seed = hashlib.sha256(f"{job.id}:{index}".encode()).digest()
            data, content_type = image_bytes(seed, fmt)
            urls.append(self._store(f"{job.id}/out-{index}.{fmt}", data, content_type))
        return urls if shape == "list" else urls[0]

    def _make_weights(self, job: _Job) -> dict:
        rank = int(job.input.get("lora_rank") or 16)
        seed = int(hashlib.sha256(job.id.encode()).hexdigest()[:8], 16)
        trigger = str(job.input.get("trigger_word", "TOK"))
        lora = fake_safetensors(seed=seed, rank=rank, trigger_word=trigger)
        if job.script.weights == "safetensors":
            url = self._store(f"{job.id}/lora.safetensors", lora, "application/octet-stream")
        else:
            url = self._store(
                f"{job.id}/trained_model.tar",
                trained_model_tar(lora, trigger_word=str(job.input.get("trigger_word", "TOK"))),
                "application/x-tar",
            )
        version = hashlib.sha256(f"trained:{job.id}".encode()).hexdigest()
        return {"version": f"{job.destination}:{version}", "weights": url}

    def _store(self, path: str, data: bytes, content_type: str) -> str:
        self._files[path] = (data, content_type)
        return f"{self.base_url}/files/{path}"

    def _render(self, job: _Job) -> dict:
        base = f"{self.base_url}/v1/{job.kind}s/{job.id}"
        data = {
            "id": job.id,
            "model": job.spec.name,
            "version": job.version,
            "input": job.input,
            "logs": job.logs,
            "output": job.output,
            "data_removed": job.data_removed,
            "error": job.error,
            "status": job.status,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "completed_at": job.completed_at,
            "urls": {"get": base, "cancel": f"{base}/cancel"},
            "metrics": job.metrics,
        }
        if job.kind == "prediction":
            data["urls"]["web"] = f"https://replicate.com/p/{job.id}"
        return json.loads(json.dumps(data))  # a copy the caller may change

    def _model_json(self, name: str, spec: ModelSpec | None, visibility: str = "public") -> dict:
        owner, model_name = name.split("/", 1)
        return {
            "url": f"https://replicate.com/{name}",
            "owner": owner,
            "name": model_name,
            "description": None,
            "visibility": visibility,
            "github_url": None,
            "paper_url": None,
            "license_url": None,
            "run_count": 0,
            "cover_image_url": None,
            "default_example": None,
            "latest_version": self._version_json(spec) if spec else None,
        }

    @staticmethod
    def _version_json(spec: ModelSpec) -> dict:
        return {
            "id": spec.version_id,
            "created_at": "2024-08-14T00:00:00.000000Z",
            "cog_version": "0.9.13",
            "openapi_schema": {},
        }


# -- helpers tests and the fake share ----------------------------------------------------------


def sign_webhook(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks signature: base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")),
    keyed with the base64-decoded part of the `whsec_` secret."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def image_bytes(seed: bytes, fmt: str = "png", size: int = 64) -> tuple[bytes, str]:
    """A small real image, different for every seed, in png, jpg or webp."""
    from PIL import Image

    a, b, c, d, e = (seed[i] | 1 for i in range(5))
    image = Image.new("RGB", (size, size))
    image.putdata(
        [
            ((x * a + y * b) % 256, (x * c + y * d) % 256, ((x ^ y) * e + seed[5]) % 256)
            for y in range(size)
            for x in range(size)
        ]
    )
    buffer = io.BytesIO()
    pil_format, content_type = {
        "png": ("PNG", "image/png"),
        "jpg": ("JPEG", "image/jpeg"),
        "webp": ("WEBP", "image/webp"),
    }[fmt]
    image.save(buffer, pil_format)
    return buffer.getvalue(), content_type


def trained_model_tar(lora: bytes, *, trigger_word: str = "TOK") -> bytes:
    """The trainer's `weights` output: a tar of its job folder (flux-fine-tuner train.py)."""
    members = {
        "output/flux_train_replicate/lora.safetensors": lora,
        "output/flux_train_replicate/config.yaml": (
            f"job: custom_job\nconfig:\n  name: flux_train_replicate\n"
            f"  process:\n  - trigger_word: {trigger_word}\n"
        ).encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _embedding_of(text: str, size: int = 768) -> list[float]:
    """A fixed pseudo-embedding of `text` (unnormalised, as the model's are)."""
    seed = hashlib.sha256(text.encode()).digest()
    values = []
    while len(values) < size:
        seed = hashlib.sha256(seed).digest()
        values.extend((b - 127.5) / 255 for b in seed)
    return values[:size]
