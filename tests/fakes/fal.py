"""A fake fal.ai that speaks the HTTP protocol fal-client 1.0.3 uses, for tests with the real SDK.

fal-client always builds https URLs, and its hosts are fixed at import time (FAL_RUN_HOST and
FAL_QUEUE_RUN_HOST are read when `fal_client` is first imported; rest.fal.ai and v3.fal.media
are constants). So the fake is reached the way a corporate proxy is: `fake.env` sets
HTTPS_PROXY to a local proxy that accepts CONNECT for fal's own host names and answers inside
the tunnel with a certificate from a throwaway CA (trustme), which SSL_CERT_FILE makes
trusted. httpx (the SDK's client, and ours) reads both when a client is created, so:

    with FakeFal() as fake:
        for name, value in fake.env.items():
            monkeypatch.setenv(name, value)
        client = fal_client.SyncClient(key=fake.key)   # a fresh client after setenv
        handle = client.submit("fal-ai/flux-lora", {"prompt": "..."})

The real URLs stay real: submits go to queue.fal.run, results point at v3.fal.media, the JWKS
is at rest.fal.ai (and rest.alpha.fal.ai). A direct TLS port serves the same thing for code
that takes a base URL (`fake.base_url`, `fake.jwks_url`), and `fake.host_env` points
FAL_RUN_HOST/FAL_QUEUE_RUN_HOST at it for processes that import fal_client afterwards.

Behaviour is scripted per endpoint (`script`, `job_failure`) and per next request
(`fail_next`, `drop_next_submits`, `delay_next`); every request is recorded in `requests`.
Nothing happens on a timer: a job moves on only when it is polled (or `complete`d), and a
webhook is sent only when a test calls `send_webhook`.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import math
import os
import shutil
import socketserver
import ssl
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .media import fake_image, fake_safetensors

QUEUE_HOSTS = {"queue.fal.run", "queue.falrun.com"}
RUN_HOSTS = {"fal.run", "falrun.com"}
REST_HOSTS = {"rest.fal.ai", "rest.alpha.fal.ai"}
FILE_HOSTS = {"fal.media", "v3.fal.media", "v3b.fal.media", "storage.googleapis.com"}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
CERT_NAMES = [
    *sorted(QUEUE_HOSTS | RUN_HOSTS | REST_HOSTS | FILE_HOSTS),
    "*.fal.media",
    "127.0.0.1",
    "localhost",
]
APP_NAMESPACES = ("workflows", "comfy")  # as fal_client.client.APP_NAMESPACES
MAX_IMAGES = 4
IMAGE_PRESETS = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}


# fal-ai/flux-lora-fast-training's input as fal's typed schema gives it
# (fal-ai/fal-js@381105e libs/client/src/types/endpoints.ts:14322-14354): name -> (type,
# required). Anything else, or a value of another type, is refused the way fal's pydantic
# validation answers (422, {"detail": [{"loc", "msg", "type"}]}), so a setting we send that
# fal would ignore (learning rate, rank, resolution, batch size) fails a test instead.
TRAINER_INPUTS: dict[str, dict[str, tuple[type | tuple[type, ...], bool]]] = {
    "fal-ai/flux-lora-fast-training": {
        "images_data_url": (str, True),
        "trigger_word": (str, False),
        "create_masks": (bool, False),
        "steps": (int, False),
        "is_style": (bool, False),
        "is_input_format_already_preprocessed": (bool, False),
        "data_archive_format": (str, False),
    },
}
_TYPE_NAMES = {str: "str", bool: "bool", int: "int"}


def trainer_input_errors(endpoint: str, payload: dict) -> list[dict]:
    """fal's validation errors for a trainer input, or [] when it is valid."""
    schema = TRAINER_INPUTS.get(endpoint)
    if schema is None:
        return []
    errors = []
    for name, (_kind, required) in schema.items():
        if required and name not in payload:
            errors.append(
                {"loc": ["body", name], "msg": "field required", "type": "value_error.missing"}
            )
    for name, value in payload.items():
        if name not in schema:
            errors.append(
                {
                    "loc": ["body", name],
                    "msg": "extra fields not permitted",
                    "type": "value_error.extra",
                }
            )
            continue
        kind = schema[name][0]
        # JSON true is not an int here, as pydantic's strict-enough int check refuses it.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            type_name = _TYPE_NAMES.get(kind, str(kind))
            errors.append(
                {
                    "loc": ["body", name],
                    "msg": f"value is not a valid {'integer' if kind is int else type_name}",
                    "type": f"type_error.{'integer' if kind is int else type_name}",
                }
            )
    return errors


# --- What the tests script -----------------------------------------------------------------
@dataclass
class EndpointScript:
    """How jobs of one endpoint behave; a job copies its endpoint's script when submitted."""

    queue_polls: int = 0  # status polls answered IN_QUEUE (queue_position counts down to 0)
    run_polls: int = 0  # then polls answered IN_PROGRESS, revealing `logs` step by step
    logs: list[str] = field(default_factory=list)
    fail: str | None = None  # the job ends COMPLETED with this error; the result is an HTTP error
    fail_status: int = 422
    error_type: str | None = None
    fail_detail: Any = None  # the result's {"detail": ...}; defaults to `fail`
    output: dict | Callable[[Job], dict] | None = None  # replaces the endpoint's usual output
    image_size: tuple[int, int] | None = None  # fixes output pictures' size
    duration: float = 0.0  # if set, a job runs this many seconds from its submit, polls or not


@dataclass
class Fault:
    kind: str  # submit, status, result, cancel, run, file, upload
    endpoint: str | None
    status: int = 0
    times: int = 1
    ingress: bool = False  # a 502-504 as nginx sends it (the SDK retries those)
    drop: bool = False  # close the connection without an answer
    accept: bool = True  # with drop on a submit: create the job first
    delay: float = 0.0


@dataclass
class Job:
    request_id: str
    endpoint: str  # as submitted, e.g. fal-ai/flux/dev/image-to-image
    app: str  # what the request URLs use, e.g. fal-ai/flux
    input: dict
    webhook_url: str | None
    script: EndpointScript
    seed: int
    number: int
    status_polls: int = 0
    finished: bool = False
    cancelled: bool = False
    output: dict | None = None
    submitted: float = field(default_factory=time.monotonic)

    @property
    def error(self) -> str | None:
        if self.cancelled:
            return "Request was cancelled."
        return self.script.fail


@dataclass(frozen=True)
class Call:
    kind: str  # submit, status, result, cancel, run, file, upload, token, jwks, connect, other
    method: str
    url: str
    status: int
    endpoint: str | None = None
    request_id: str | None = None
    at: float = field(default_factory=time.monotonic, compare=False)  # when it was answered


class CallLog:
    """Every request the fake answered, in order, with counters by kind."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def add(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def all(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def __iter__(self):
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.all())

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def of(self, kind: str) -> list[Call]:
        return [c for c in self.all() if c.kind == kind]

    @property
    def submits(self) -> Counter:
        """Submit requests per endpoint, refused ones included."""
        return Counter(c.endpoint for c in self.of("submit"))

    @property
    def accepted(self) -> Counter:
        """Submits answered 200, per endpoint (a dropped submit may create a job unanswered)."""
        return Counter(c.endpoint for c in self.of("submit") if c.status == 200)

    @property
    def status(self) -> Counter:
        return Counter(c.request_id for c in self.of("status"))

    @property
    def results(self) -> Counter:
        return Counter(c.request_id for c in self.of("result"))

    @property
    def cancels(self) -> Counter:
        return Counter(c.request_id for c in self.of("cancel"))

    @property
    def files(self) -> Counter:
        return Counter(urlsplit(c.url).path for c in self.of("file"))


@dataclass(frozen=True)
class WebhookDelivery:
    """A signed webhook as fal would POST it; hand it to Django's test client or send it."""

    url: str | None
    body: bytes
    headers: dict[str, str]


class _StoredFile:
    def __init__(self, content: bytes, content_type: str) -> None:
        self.content = content
        self.content_type = content_type
        self.expired_status: int | None = None


# --- The fake ------------------------------------------------------------------------------
class FakeFal:
    """An in-process fal.ai: queue API, sync run, file CDN, uploads, JWKS and webhooks."""

    def __init__(
        self,
        *,
        key: str = "fake-fal-key",
        user_id: str = "fake-fal-user",
        file_host: str | None = "v3.fal.media",
    ) -> None:
        self.key = key
        self.user_id = user_id
        self.file_host = file_host  # None: result URLs on the direct port instead
        self.latency = 0.0  # seconds added to every answer
        self.answer_accepted_submits_after = 0.0  # seconds between accepting a job and saying so
        self.requests = CallLog()  # each request as it was answered
        self.arrivals = CallLog()  # each request as it arrived, before any scripted delay
        self.jobs: dict[str, Job] = {}
        self.files: dict[str, _StoredFile] = {}
        self._scripts: dict[str, EndpointScript] = {}
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._numbers = 0
        self._cdn_token = f"cdn-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        self._signing_key = Ed25519PrivateKey.from_private_bytes(
            hashlib.sha256(b"lorastudio fake fal webhook key").digest()
        )
        self.key_id = "fake-fal-webhook-1"
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._tmpdir: str | None = None
        self.ca_pem_path = ""
        self._tls_context: ssl.SSLContext | None = None
        self.tls_port = 0
        self.proxy_port = 0

    # Lifecycle ----------------------------------------------------------------------------
    def start(self) -> FakeFal:
        ca = trustme.CA()
        self._tmpdir = tempfile.mkdtemp(prefix="fake-fal-")
        self.ca_pem_path = os.path.join(self._tmpdir, "fake-fal-ca.pem")
        ca.cert_pem.write_to_path(self.ca_pem_path)
        self._tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*CERT_NAMES).configure_cert(self._tls_context)

        direct = _Server(("127.0.0.1", 0), _Handler, fake=self, tls=True)
        direct.socket = self._tls_context.wrap_socket(
            direct.socket, server_side=True, do_handshake_on_connect=False
        )
        proxy = _Server(("127.0.0.1", 0), _Handler, fake=self, tls=False)
        self.tls_port = direct.server_address[1]
        self.proxy_port = proxy.server_address[1]
        for server in (direct, proxy):
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> FakeFal:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # Where it is --------------------------------------------------------------------------
    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def base_url(self) -> str:
        """The direct TLS port (needs the CA): /queue/..., /run/..., /files/..., /storage/..."""
        return f"https://127.0.0.1:{self.tls_port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/.well-known/jwks.json"

    @property
    def env(self) -> dict[str, str]:
        """Environment that routes fal-client (and any httpx/requests client) to the fake."""
        return {
            "FAL_KEY": self.key,
            "HTTPS_PROXY": self.proxy_url,
            "https_proxy": self.proxy_url,
            "SSL_CERT_FILE": self.ca_pem_path,
            "REQUESTS_CA_BUNDLE": self.ca_pem_path,
            "CURL_CA_BUNDLE": self.ca_pem_path,
        }

    @property
    def host_env(self) -> dict[str, str]:
        """FAL_RUN_HOST/FAL_QUEUE_RUN_HOST for the direct port. fal_client reads them once, at
        import: only useful for a process that imports it after they are set."""
        return {
            "FAL_RUN_HOST": f"127.0.0.1:{self.tls_port}/run",
            "FAL_QUEUE_RUN_HOST": f"127.0.0.1:{self.tls_port}/queue",
        }

    # Scripting ----------------------------------------------------------------------------
    def script(self, endpoint: str, **behaviour: Any) -> EndpointScript:
        """Set how new jobs of `endpoint` behave (fields of EndpointScript); returns the script."""
        with self._lock:
            current = self._scripts.get(endpoint, EndpointScript())
            if "logs" in behaviour:
                behaviour["logs"] = list(behaviour["logs"] or [])
            for name, value in behaviour.items():
                if not hasattr(current, name):
                    raise TypeError(f"EndpointScript has no field {name!r}")
                setattr(current, name, value)
            self._scripts[endpoint] = current
            return current

    def job_failure(
        self,
        endpoint: str,
        error: str = "Internal error",
        *,
        status: int = 422,
        error_type: str | None = None,
        detail: Any = None,
    ) -> EndpointScript:
        """New jobs of `endpoint` end COMPLETED with `error`; fetching their result answers
        `status` with {"detail": detail or error}. `script(endpoint, fail=None)` undoes it."""
        return self.script(
            endpoint, fail=error, fail_status=status, error_type=error_type, fail_detail=detail
        )

    def fail_next(
        self,
        kind: str,
        status: int,
        *,
        times: int = 1,
        endpoint: str | None = None,
        ingress: bool = False,
    ) -> None:
        """The next `times` requests of `kind` (submit, status, result, cancel, run, file,
        upload), for `endpoint` if given, answer `status` instead."""
        with self._lock:
            self._faults.append(Fault(kind, endpoint, status, times, ingress=ingress))

    def fail_next_submits(
        self, status: int, times: int = 1, *, endpoint: str | None = None, ingress: bool = False
    ) -> None:
        self.fail_next("submit", status, times=times, endpoint=endpoint, ingress=ingress)

    def drop_next_submits(
        self, times: int = 1, *, endpoint: str | None = None, accept: bool = True
    ) -> None:
        """The next `times` submits get no answer: the connection closes. With `accept` the
        job exists anyway (fal took it; the client cannot know)."""
        with self._lock:
            self._faults.append(Fault("submit", endpoint, times=times, drop=True, accept=accept))

    def delay_next(
        self, kind: str, seconds: float, *, times: int = 1, endpoint: str | None = None
    ) -> None:
        """Answer the next `times` requests of `kind` `seconds` late (for client timeouts)."""
        with self._lock:
            self._faults.append(Fault(kind, endpoint, times=times, delay=seconds))

    def expire_results(self, status: int = 404) -> None:
        """Every result file made so far answers `status` from now on (provider URLs expire)."""
        with self._lock:
            for stored in self.files.values():
                stored.expired_status = status

    def complete(self, request_id: str) -> Job:
        """Finish a job now, as if its last status poll had happened."""
        with self._lock:
            job = self.jobs[request_id]
            self._finish(job)
            return job

    def last_job(self, endpoint: str | None = None) -> Job:
        with self._lock:
            jobs = [j for j in self.jobs.values() if endpoint in (None, j.endpoint)]
        if not jobs:
            raise LookupError(f"No job for {endpoint or 'any endpoint'} yet.")
        return max(jobs, key=lambda j: j.number)

    # Webhooks -----------------------------------------------------------------------------
    @property
    def public_key(self) -> bytes:
        return self._signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def jwks(self) -> dict:
        x = base64.urlsafe_b64encode(self.public_key).rstrip(b"=").decode()
        return {
            "keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.key_id, "use": "sig"}]
        }

    def sign(self, request_id: str, timestamp: str, body: bytes) -> str:
        """fal's signature: ED25519 over request id, user id, timestamp, sha256(body) hex,
        joined by newlines; hex-encoded."""
        message = "\n".join(
            [request_id, self.user_id, timestamp, hashlib.sha256(body).hexdigest()]
        ).encode()
        return self._signing_key.sign(message).hex()

    def webhook_delivery(
        self, request_id: str, *, tamper: bool = False, timestamp: int | None = None
    ) -> WebhookDelivery:
        """The completion webhook of a job (finishing it first), signed; with `tamper` the body
        is changed after signing, so verification must fail."""
        with self._lock:
            job = self.jobs[request_id]
            self._finish(job)
            code = 400 if job.cancelled else job.script.fail_status
            if job.error:
                payload = {
                    "request_id": job.request_id,
                    "gateway_request_id": job.request_id,
                    "status": "ERROR",
                    "error": f"Invalid status code: {code}",
                    "payload": {"detail": self._error_detail(job)},
                }
            else:
                payload = {
                    "request_id": job.request_id,
                    "gateway_request_id": job.request_id,
                    "status": "OK",
                    "payload": copy.deepcopy(job.output),
                }
            url = job.webhook_url
        body = json.dumps(payload).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": "application/json",
            "X-Fal-Webhook-Request-Id": request_id,
            "X-Fal-Webhook-User-Id": self.user_id,
            "X-Fal-Webhook-Timestamp": stamp,
            "X-Fal-Webhook-Signature": self.sign(request_id, stamp, body),
        }
        if tamper:
            body = body.replace(b'"status": "', b'"status": "X', 1)
        return WebhookDelivery(url=url, body=body, headers=headers)

    def send_webhook(
        self,
        request_id: str,
        url: str | None = None,
        *,
        tamper: bool = False,
        timestamp: int | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, bytes]:
        """POST the webhook to `url` (default: the job's fal_webhook); returns (status, body)."""
        delivery = self.webhook_delivery(request_id, tamper=tamper, timestamp=timestamp)
        target = url or delivery.url
        if not target:
            raise ValueError(f"Job {request_id} was submitted without a webhook URL.")
        request = urllib.request.Request(
            target, data=delivery.body, headers=delivery.headers, method="POST"
        )
        # Straight to the receiver: the proxy variables in `env` are for fal's hosts only.
        handlers: list = [urllib.request.ProxyHandler({})]
        if target.startswith("https:"):
            context = ssl.create_default_context(cafile=self.ca_pem_path)
            handlers.append(urllib.request.HTTPSHandler(context=context))
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    # Internals used by the handler --------------------------------------------------------
    def _take_fault(self, kind: str, endpoint: str | None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and fault.endpoint in (None, endpoint):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _new_job(self, endpoint: str, payload: dict, webhook_url: str | None) -> Job:
        with self._lock:
            self._numbers += 1
            number = self._numbers
            request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-fal/{number}"))
            seed = payload.get("seed")
            job = Job(
                request_id=request_id,
                endpoint=endpoint,
                app=_app_of(endpoint),
                input=payload,
                webhook_url=webhook_url,
                script=copy.deepcopy(self._scripts.get(endpoint, EndpointScript())),
                seed=int(seed) if isinstance(seed, int) else 1_000_000 + number,
                number=number,
            )
            num_images = payload.get("num_images", 1)
            if isinstance(num_images, int) and not 1 <= num_images <= MAX_IMAGES:
                job.script.fail = f"num_images must be between 1 and {MAX_IMAGES}"
                job.script.fail_status = 422
                job.script.fail_detail = [
                    {
                        "loc": ["body", "num_images"],
                        "msg": f"ensure this value is less than or equal to {MAX_IMAGES}",
                        "type": "value_error.number.not_le",
                    }
                ]
            if errors := trainer_input_errors(endpoint, payload):
                job.script.fail = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in errors)
                job.script.fail_status = 422
                job.script.fail_detail = errors
            self.jobs[request_id] = job
            return job

    def _status(self, job: Job) -> dict:
        """Advance the job by one poll and describe where it stands."""
        with self._lock:
            script = job.script
            poll = job.status_polls
            job.status_polls += 1
            if not job.finished and script.duration:
                if time.monotonic() - job.submitted < script.duration:
                    return {"status": "IN_PROGRESS", "logs": self._logs(job, 0)}
            elif not job.finished and poll < script.queue_polls:
                return {"status": "IN_QUEUE", "queue_position": script.queue_polls - poll - 1}
            in_progress = poll - script.queue_polls + 1
            if not job.finished and not script.duration and in_progress <= script.run_polls:
                shown = math.ceil(in_progress * len(script.logs) / script.run_polls)
                return {"status": "IN_PROGRESS", "logs": self._logs(job, shown)}
            self._finish(job)
            status = {
                "status": "COMPLETED",
                "logs": self._logs(job, len(script.logs)),
                "metrics": {} if job.error else {"inference_time": 1.5},
            }
            if job.error:
                status["error"] = job.error
                status["error_type"] = script.error_type
            return status

    def _logs(self, job: Job, count: int) -> list[dict]:
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=job.number)
        return [
            {
                "message": message,
                "level": "INFO",
                "source": "user",
                "timestamp": (start + timedelta(milliseconds=i)).isoformat(),
            }
            for i, message in enumerate(job.script.logs[:count])
        ]

    def _finish(self, job: Job) -> None:
        with self._lock:
            if job.finished:
                return
            job.finished = True
            if not job.error:
                job.output = self._output(job)

    def _error_detail(self, job: Job) -> Any:
        if job.cancelled:
            return job.error
        return job.script.fail_detail if job.script.fail_detail is not None else job.error

    def _output(self, job: Job) -> dict:
        custom = job.script.output
        if callable(custom):
            return custom(job)
        if custom is not None:
            return copy.deepcopy(custom)
        kind = _output_kind(job.endpoint)
        if kind == "training":
            return self._training_output(job)
        if kind == "caption":
            return {"results": _caption_for(job)}
        return self._image_output(job)

    def _store(self, name: str, content: bytes, content_type: str) -> dict:
        path = f"/files/fake/{name}"
        self.files[path] = _StoredFile(content, content_type)
        base = f"https://{self.file_host}" if self.file_host else self.base_url
        return {
            "url": base + path,
            "content_type": content_type,
            "file_name": name.rsplit("/", 1)[-1],
            "file_size": len(content),
        }

    def _image_output(self, job: Job) -> dict:
        count = job.input.get("num_images", 1)
        width, height = job.script.image_size or _image_size(job.endpoint, job.input)
        fmt = "png" if job.input.get("output_format") == "png" else "jpeg"
        images = []
        for index in range(count):
            content = fake_image(width, height, seed=job.seed + index, fmt=fmt)
            stored = self._store(
                f"{job.request_id[:8]}-{index}.{'png' if fmt == 'png' else 'jpg'}",
                content,
                f"image/{fmt}",
            )
            images.append({**stored, "width": width, "height": height})
        return {
            "images": images,
            "timings": {"inference": 1.5},
            "seed": job.seed,
            "has_nsfw_concepts": [False] * count,
            "prompt": job.input.get("prompt", ""),
        }

    def _training_output(self, job: Job) -> dict:
        weights = fake_safetensors(seed=job.seed)
        config = json.dumps(
            {"trigger_word": job.input.get("trigger_word"), "steps": job.input.get("steps")}
        ).encode()
        prefix = job.request_id[:8]
        return {
            "diffusers_lora_file": self._store(
                f"{prefix}-pytorch_lora_weights.safetensors", weights, "application/octet-stream"
            ),
            "config_file": self._store(f"{prefix}-config.json", config, "application/json"),
            "debug_preprocessed_output": None,
        }


def _app_of(endpoint: str) -> str:
    """The part of an endpoint id that request URLs use (fal_client.client.AppId)."""
    parts = endpoint.strip("/").split("/")
    size = 3 if parts[0] in APP_NAMESPACES else 2
    return "/".join(parts[:size])


def _output_kind(endpoint: str) -> str:
    if "train" in endpoint:
        return "training"
    if "caption" in endpoint or "florence" in endpoint:
        return "caption"
    return "image"


def _caption_for(job: Job) -> str:
    source = str(job.input.get("image_url", "")).rsplit("/", 1)[-1] or "the picture"
    return f"The image shows a person standing in soft light (fake caption of {source})."


def _image_size(endpoint: str, payload: dict) -> tuple[int, int]:
    size = payload.get("image_size")
    if isinstance(size, dict):
        return int(size.get("width", 1024)), int(size.get("height", 768))
    if size in IMAGE_PRESETS:
        return IMAGE_PRESETS[size]
    ratio = payload.get("aspect_ratio")
    ultra = "ultra" in endpoint
    if not ratio:
        if ultra:
            ratio = "16:9"
        elif "kontext" in endpoint:
            ratio = "1:1"
        else:
            return IMAGE_PRESETS["landscape_4_3"]
    a, b = (int(n) for n in str(ratio).split(":"))
    pixels = 4_194_304 if ultra else 1_048_576
    width = round(math.sqrt(pixels * a / b) / 32) * 32
    return width, round(width * b / a / 32) * 32


# --- HTTP --------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # Many worker threads connect at once in the fan-out bench: the default backlog of 5 would
    # drop their SYNs, and each dropped one costs the client a one-second retransmit.
    request_queue_size = 128

    def __init__(self, address, handler, *, fake: FakeFal, tls: bool) -> None:
        self.fake = fake
        self.tls = tls
        super().__init__(address, handler)

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (a timeout test) closed the connection: nothing to report.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An answer's headers and body go out in two writes: with Nagle's algorithm the body
    # waited for the client's delayed ACK, 40 ms on every request.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.tls = self.server.tls

    def log_message(self, format, *args) -> None:  # noqa: A002 - keep test output quiet
        pass

    # A proxy tunnel: answer inside it ourselves, with the fake CA's certificate.
    def do_CONNECT(self) -> None:
        fake = self.server.fake
        host = self.path.rsplit(":", 1)[0].strip("[]")
        allowed = host in QUEUE_HOSTS | RUN_HOSTS | REST_HOSTS | FILE_HOSTS | LOCAL_HOSTS
        allowed = allowed or host.endswith(".fal.media")
        status = 200 if allowed else 403
        fake.requests.add(Call("connect", "CONNECT", self.path, status))
        if not allowed:
            self._send_json(403, {"detail": f"The fake fal proxy does not reach {host}."})
            self.close_connection = True
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        try:
            tunnel = fake._tls_context.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True
            return
        self.connection = self.request = tunnel
        self.rfile = tunnel.makefile("rb", self.rbufsize)
        self.wfile = socketserver._SocketWriter(tunnel)
        self.tls = True
        self.close_connection = False

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if isinstance(self.connection, ssl.SSLSocket):
                with contextlib.suppress(OSError):
                    self.connection.close()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # Routing ------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        fake = self.server.fake
        body = self._read_body()
        if fake.latency:
            time.sleep(fake.latency)
        url = urlsplit(self.path)
        path = url.path
        host_header = self.headers.get("Host", f"127.0.0.1:{self.server.server_address[1]}")
        if url.netloc:  # an absolute URI (plain proxy request)
            host_header = url.netloc
        host = host_header.rsplit(":", 1)[0] if not host_header.startswith("[") else host_header
        scheme = "https" if self.tls else "http"
        self._url = f"{scheme}://{host_header}{path}" + (f"?{url.query}" if url.query else "")
        query = parse_qs(url.query)

        service, prefix = "other", ""
        if host in QUEUE_HOSTS:
            service = "queue"
        elif host in RUN_HOSTS:
            service = "run"
        elif host in REST_HOSTS:
            service = "rest"
        elif host in FILE_HOSTS or host.endswith(".fal.media"):
            service = "files"
        elif host in LOCAL_HOSTS:
            for name in ("queue", "run"):
                if path.startswith(f"/{name}/"):
                    service, prefix, path = name, f"/{name}", path[len(name) + 1 :]
                    break
            else:
                service = "files" if path.startswith("/files/") else "rest"
        base = f"{scheme}://{host_header}{prefix}"

        try:
            if service == "queue":
                self._queue(path, query, body, base)
            elif service == "run":
                self._run(path, body)
            elif service == "files":
                self._files(path, body)
            elif service == "rest":
                self._rest(path)
            else:
                self._answer("other", 404, {"detail": "Not found"})
        except _Dropped:
            self.close_connection = True

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorized(self, kind: str, endpoint: str | None = None) -> bool:
        header = self.headers.get("Authorization")
        if header == f"Key {self.server.fake.key}":
            return True
        detail = "Missing authorization header" if not header else "Invalid API key"
        self._answer(kind, 401, {"detail": detail}, endpoint=endpoint)
        return False

    def _fault(self, kind: str, endpoint: str | None, request_id: str | None = None) -> bool:
        """Apply a scripted fault; True when it answered (or dropped) the request."""
        fake = self.server.fake
        fake.arrivals.add(Call(kind, self.command, self._url, 0, endpoint, request_id))
        fault = fake._take_fault(kind, endpoint)
        if fault is None:
            return False
        if fault.delay:
            time.sleep(fault.delay)
            return False
        if fault.drop:
            if fault.accept and kind == "submit":
                fake._new_job(endpoint, _json(self._last_body), self._webhook)
            fake.requests.add(Call(kind, self.command, self._url, 0, endpoint, request_id))
            raise _Dropped
        if fault.ingress:
            page = f"<html><center><h1>{fault.status}</h1></center><hr><center>nginx</center>"
            self._answer(
                kind,
                fault.status,
                page.encode(),
                endpoint=endpoint,
                request_id=request_id,
                content_type="text/html",
                fal_id=False,
            )
            return True
        message = "Rate limit exceeded" if fault.status == 429 else "Injected failure"
        self._answer(
            kind, fault.status, {"detail": message}, endpoint=endpoint, request_id=request_id
        )
        return True

    # Queue API: submit, status, result, cancel -------------------------------------------
    def _queue(self, path: str, query: dict, body: bytes, base: str) -> None:
        fake = self.server.fake
        parts = path.strip("/").split("/")
        if self.command == "POST":
            endpoint = "/".join(parts)
            self._last_body, self._webhook = body, (query.get("fal_webhook") or [None])[0]
            if not self._authorized("submit", endpoint) or self._fault("submit", endpoint):
                return
            job = fake._new_job(endpoint, _json(body), self._webhook)
            if fake.answer_accepted_submits_after:  # accepted and billed, the answer late
                time.sleep(fake.answer_accepted_submits_after)
            job_url = f"{base}/{job.app}/requests/{job.request_id}"
            self._answer(
                "submit",
                200,
                {
                    "status": "IN_QUEUE",
                    "request_id": job.request_id,
                    "gateway_request_id": job.request_id,
                    "response_url": job_url,
                    "status_url": f"{job_url}/status",
                    "cancel_url": f"{job_url}/cancel",
                    "logs": None,
                    "metrics": {},
                    "queue_position": job.script.queue_polls,
                },
                endpoint=endpoint,
                request_id=job.request_id,
            )
            return

        kind, request_id, app = "other", None, ""
        if len(parts) >= 4 and parts[-3] == "requests" and parts[-1] in ("status", "cancel"):
            kind = "status" if parts[-1] == "status" else "cancel"
            request_id, app = parts[-2], "/".join(parts[:-3])
        elif len(parts) >= 3 and parts[-2] == "requests":
            kind, request_id, app = "result", parts[-1], "/".join(parts[:-2])
        expected = {"status": "GET", "result": "GET", "cancel": "PUT"}.get(kind)
        if expected != self.command:
            self._answer("other", 405 if expected else 404, {"detail": "Not found"})
            return
        with fake._lock:
            job = fake.jobs.get(request_id)
        endpoint = job.endpoint if job else None
        if not self._authorized(kind, endpoint) or self._fault(kind, endpoint, request_id):
            return
        if job is None or job.app != app:
            if kind == "cancel":
                self._answer(kind, 404, {"status": "NOT_FOUND"}, request_id=request_id)
            else:
                self._answer(kind, 404, {"detail": "Request not found"}, request_id=request_id)
            return
        job_url = f"{base}/{job.app}/requests/{job.request_id}"

        if kind == "status":
            status = fake._status(job)
            with_logs = (query.get("logs") or ["0"])[0].lower() in ("1", "true")
            if status["status"] == "IN_QUEUE" or not with_logs:
                status["logs"] = None
            status.update(
                response_url=job_url,
                status_url=f"{job_url}/status",
                cancel_url=f"{job_url}/cancel",
                request_id=job.request_id,
            )
            self._answer(kind, 200, status, endpoint=endpoint, request_id=request_id)
        elif kind == "result":
            with fake._lock:
                finished, error, output = job.finished, job.error, job.output
            if not finished:
                self._answer(
                    kind,
                    400,
                    {"detail": "Request is still in progress"},
                    endpoint=endpoint,
                    request_id=request_id,
                )
            elif error:
                status = 400 if job.cancelled else job.script.fail_status
                error_type = job.script.error_type
                headers = {"x-fal-error-type": error_type} if error_type else {}
                self._answer(
                    kind,
                    status,
                    {"detail": fake._error_detail(job)},
                    endpoint=endpoint,
                    request_id=request_id,
                    headers=headers,
                )
            else:
                self._answer(kind, 200, output, endpoint=endpoint, request_id=request_id)
        else:
            with fake._lock:
                if job.finished:
                    answer = (400, {"status": "ALREADY_COMPLETED"})
                else:
                    job.cancelled = True
                    job.finished = True
                    answer = (202, {"status": "CANCELLATION_REQUESTED"})
            self._answer(kind, *answer, endpoint=endpoint, request_id=request_id)

    # Synchronous run (fal.run): the job runs to its end at once --------------------------
    def _run(self, path: str, body: bytes) -> None:
        fake = self.server.fake
        endpoint = path.strip("/")
        if self.command != "POST":
            self._answer("run", 405, {"detail": "Method not allowed"}, endpoint=endpoint)
            return
        if not self._authorized("run", endpoint) or self._fault("run", endpoint):
            return
        job = fake._new_job(endpoint, _json(body), None)
        fake._finish(job)
        if job.error:
            self._answer(
                "run",
                job.script.fail_status,
                {"detail": fake._error_detail(job)},
                endpoint=endpoint,
                request_id=job.request_id,
            )
        else:
            self._answer("run", 200, job.output, endpoint=endpoint, request_id=job.request_id)

    # The CDN: result files and v3 uploads -------------------------------------------------
    def _files(self, path: str, body: bytes) -> None:
        fake = self.server.fake
        if self.command == "POST" and path == "/files/upload":
            if self.headers.get("Authorization") != f"Bearer {fake._cdn_token}":
                self._answer("upload", 401, {"detail": "Invalid CDN token"})
                return
            if self._fault("upload", None):
                return
            name = self.headers.get("X-Fal-File-Name") or "upload.bin"
            content_type = self.headers.get("Content-Type", "application/octet-stream")
            with fake._lock:
                fake._numbers += 1
                stored = fake._store(f"upload-{fake._numbers}-{name}", body, content_type)
            self._answer("upload", 200, {"access_url": stored["url"]})
            return
        if self.command != "GET":
            self._answer("file", 405, {"detail": "Method not allowed"})
            return
        if self._fault("file", None):
            return
        with fake._lock:
            stored = fake.files.get(path)
        if stored is None:
            self._answer("file", 404, {"detail": "File not found"})
        elif stored.expired_status:
            self._answer("file", stored.expired_status, {"detail": "This file has expired"})
        else:
            self._answer(
                "file", 200, stored.content, content_type=stored.content_type, fal_id=False
            )

    # rest.fal.ai: the CDN token the SDK asks for before uploading, and the webhook keys ----
    def _rest(self, path: str) -> None:
        fake = self.server.fake
        if path == "/.well-known/jwks.json" and self.command == "GET":
            self._answer("jwks", 200, fake.jwks(), fal_id=False)
        elif path == "/storage/auth/token" and self.command == "POST":
            if not self._authorized("token"):
                return
            expires = datetime.now(UTC) + timedelta(hours=1)
            self._answer(
                "token",
                200,
                {
                    "token": fake._cdn_token,
                    "token_type": "Bearer",
                    "base_url": f"https://{fake.file_host or 'v3.fal.media'}",
                    "expires_at": expires.isoformat(),
                },
            )
        else:
            self._answer("other", 404, {"detail": "Not found"})

    # Answering ----------------------------------------------------------------------------
    def _answer(
        self,
        kind: str,
        status: int,
        payload: Any,
        *,
        endpoint: str | None = None,
        request_id: str | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        fal_id: bool = True,
    ) -> None:
        self.server.fake.requests.add(
            Call(kind, self.command, self._url, status, endpoint, request_id)
        )
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if fal_id:
            # fal's own answers carry it; the SDK then never mistakes a 5xx for nginx's.
            self.send_header("x-fal-request-id", request_id or str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Dropped(Exception):
    """Raised to leave a request unanswered and close its connection."""


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
