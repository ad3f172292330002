"""Replicate through `replicate`: predictions and trainings, cancel, file uploads, webhooks.

Creates are single POSTs (the SDK never retries a POST), sent through the SDK's own client
with a bounded timeout: the SDK's create would otherwise wait forever on a hung server.
Gets go through the SDK, which retries 429/503/504 itself. Base URL, token, proxy and
certificates come from the SDK's standard environment (REPLICATE_API_TOKEN,
REPLICATE_BASE_URL, HTTPS_PROXY, SSL_CERT_FILE). See docs/providers/replicate.md.
"""

import io
import re
from datetime import datetime
from decimal import Decimal

import httpx
import replicate
from django.conf import settings
from replicate.exceptions import ReplicateError

from .base import (
    Caption,
    EmbedImage,
    ImageToImage,
    LoraTextToImage,
    MultiReferenceEdit,
    OutcomeUnknown,
    Output,
    Poll,
    ProviderError,
    ProviderTask,
    Request,
    State,
    TextToImage,
    TrainLora,
    TransientError,
)
from .catalog import model_for

SUBMIT_TIMEOUT = httpx.Timeout(60.0, connect=15.0)
# Community models run by version id, looked up once per process.
BY_VERSION = {
    "ostris/flux-dev-lora-trainer",
    "lucataco/florence-2-large",
    "andreasjansson/clip-features",
}
PROGRESS = re.compile(r"(\d+)\s*/\s*(\d+)")


def _error(exc: Exception, doing: str) -> ProviderError:
    if isinstance(exc, ReplicateError):
        message = f"Replicate answered {exc.status} while {doing}: {exc.detail or exc.title}"
        if exc.status in (408, 429) or (exc.status or 0) >= 500:
            return TransientError(message, status=exc.status)
        return ProviderError(message, status=exc.status)
    return TransientError(f"Could not reach Replicate while {doing}: {exc.__class__.__name__}")


class ReplicateProvider:
    name = "replicate"

    def __init__(self):
        self._sdk = None
        self._versions: dict[str, str] = {}

    @property
    def download_hosts(self) -> tuple[str, ...]:
        return tuple(settings.REPLICATE_DOWNLOAD_HOSTS)

    @property
    def sdk(self) -> replicate.Client:
        if self._sdk is None:
            if not settings.REPLICATE_API_TOKEN:
                raise ProviderError("REPLICATE_API_TOKEN is not set: add the Replicate token.")
            self._sdk = replicate.Client(api_token=settings.REPLICATE_API_TOKEN)
        return self._sdk

    def build(self, task: ProviderTask) -> Request:
        model = model_for(self.name, task.task).endpoint
        seed = {"seed": task.seed} if getattr(task, "seed", None) is not None else {}
        match task:
            case TextToImage():
                data = {
                    "prompt": task.prompt,
                    "aspect_ratio": task.aspect_ratio,
                    "output_format": "png",
                    "safety_tolerance": 2,
                    **seed,
                }
            case ImageToImage():
                data = {
                    "prompt": task.prompt,
                    "image": task.image_url,
                    "prompt_strength": task.strength,
                    "num_outputs": task.num_images,
                    "output_format": "png",
                    **seed,
                }
            case MultiReferenceEdit():
                first, second = (list(task.image_urls) + [task.image_urls[0]])[:2]
                data = {
                    "prompt": task.prompt,
                    "input_image_1": first,
                    "input_image_2": second,
                    "output_format": "png",
                    **seed,
                }
            case LoraTextToImage():
                data = {
                    "prompt": task.prompt,
                    "lora_weights": task.lora_url,
                    "lora_scale": task.lora_scale,
                    "num_outputs": task.num_images,
                    "aspect_ratio": task.aspect_ratio,
                    "output_format": "png",
                    **seed,
                }
            case TrainLora():
                data = {
                    "input_images": task.images_zip_url,
                    "trigger_word": task.trigger_word,
                    "steps": task.steps,
                    "optimizer": "adamw8bit",
                    "autocaption": False,
                }
                # The trainer's own input names (flux-fine-tuner train.py:105-211).
                for name, value in (
                    ("lora_rank", task.rank),
                    ("learning_rate", task.learning_rate),
                    ("batch_size", task.batch_size),
                    ("resolution", task.resolution),
                    ("caption_dropout_rate", task.caption_dropout),
                ):
                    if value is not None:
                        data[name] = value
            case Caption():
                data = {"image": task.image_url, "task_input": "Detailed Caption"}
            case EmbedImage():
                data = {"inputs": task.image_url}  # newline-separated texts or image URLs
            case _:
                raise ProviderError(f"Replicate cannot run {task!r}.")
        return Request(endpoint=model, input=data)

    def _version(self, model: str) -> str:
        if model not in self._versions:
            try:
                self._versions[model] = self.sdk.models.get(model).latest_version.id
            except (ReplicateError, httpx.TransportError) as exc:
                raise _error(exc, f"looking up {model}") from exc
        return self._versions[model]

    def submit(self, request: Request, *, webhook_url: str | None = None) -> str:
        body: dict = {"input": request.input}
        if webhook_url:
            body |= {"webhook": webhook_url, "webhook_events_filter": ["completed"]}
        model = request.endpoint
        if model == model_for(self.name, "train_lora").endpoint:
            body["destination"] = self._destination(request.input["trigger_word"])
            path = f"/v1/models/{model}/versions/{self._version(model)}/trainings"
        elif model in BY_VERSION:
            body["version"] = self._version(model)
            path = "/v1/predictions"
        else:
            path = f"/v1/models/{model}/predictions"
        try:
            response = self.sdk._request("POST", path, json=body, timeout=SUBMIT_TIMEOUT)
        except ReplicateError as exc:
            raise _error(exc, "submitting") from exc
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as exc:
            raise TransientError(f"Could not reach Replicate: {exc}") from exc
        except httpx.TransportError as exc:
            raise OutcomeUnknown(
                f"Replicate's answer to the submit was lost ({exc.__class__.__name__})."
            ) from exc
        return response.json()["id"]

    def _destination(self, trigger_word: str) -> str:
        """The model the trained version goes to; created on Replicate when missing."""
        owner = settings.REPLICATE_OWNER
        if not owner:
            raise ProviderError(
                "Set REPLICATE_OWNER (your Replicate user or organisation) to train."
            )
        name = f"lora-{trigger_word.replace('_', '-')}"
        try:
            self.sdk.models.get(f"{owner}/{name}")
        except ReplicateError as exc:
            if exc.status != 404:
                raise _error(exc, "looking up the destination model") from exc
            self.sdk.models.create(owner=owner, name=name, visibility="private", hardware="gpu-t4")
        return f"{owner}/{name}"

    def _jobs(self, request: Request):
        trainer = model_for(self.name, "train_lora").endpoint
        return self.sdk.trainings if request.endpoint == trainer else self.sdk.predictions

    def poll(self, request: Request, external_id: str) -> Poll:
        try:
            job = self._jobs(request).get(external_id)
        except (ReplicateError, httpx.TransportError) as exc:
            raise _error(exc, "checking a job") from exc
        logs = (job.logs or "").splitlines()[-200:]
        progress = None
        for line in reversed(logs):
            if match := PROGRESS.search(line):
                done, total = int(match[1]), int(match[2])
                progress = int(100 * done / total) if total else None
                break
        raw = {
            "id": job.id,
            "status": job.status,
            "output": job.output,
            "error": job.error,
            "metrics": getattr(job, "metrics", None),
        }
        match job.status:
            case "starting":
                return Poll(State.QUEUED, logs=logs, raw=raw)
            case "processing":
                return Poll(State.RUNNING, logs=logs, progress=progress, raw=raw)
            case "failed":
                return Poll(State.FAILED, logs=logs, error=f"Replicate: {job.error}", raw=raw)
            case "canceled":
                return Poll(State.CANCELED, logs=logs, raw=raw)
        seconds = _billed_seconds(job)
        return Poll(
            State.SUCCEEDED,
            logs=logs,
            progress=100,
            raw=raw,
            outputs=_outputs(job.output),
            units=Decimal(str(seconds)) if seconds is not None else None,
        )

    def outputs_from(self, raw: dict) -> list[Output]:
        """The outputs of a job payload a poll already fetched."""
        return _outputs(raw.get("output"))

    def cancel(self, request: Request, external_id: str) -> None:
        try:
            self._jobs(request).cancel(external_id)
        except (ReplicateError, httpx.TransportError) as exc:
            raise _error(exc, "canceling") from exc

    def upload(self, content: bytes, *, filename: str) -> str:
        try:
            uploaded = self.sdk.files.create(io.BytesIO(content), filename=filename)
        except (ReplicateError, httpx.TransportError) as exc:
            raise _error(exc, "uploading a file") from exc
        return uploaded.urls["get"]

    def webhook_secret(self) -> str:
        try:
            return self.sdk.webhooks.default.secret().key
        except (ReplicateError, httpx.TransportError) as exc:
            raise _error(exc, "fetching the webhook secret") from exc


def _billed_seconds(job) -> float | None:
    """The GPU time Replicate bills: `metrics.predict_time`, or for trainings (whose SDK
    object drops `metrics`) the time from start to completion."""
    seconds = (getattr(job, "metrics", None) or {}).get("predict_time")
    if seconds is not None:
        return seconds
    started, completed = getattr(job, "started_at", None), getattr(job, "completed_at", None)
    if not (started and completed):
        return None
    try:
        begin = datetime.fromisoformat(started.replace("Z", "+00:00"))
        end = datetime.fromisoformat(completed.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, (end - begin).total_seconds())


def _outputs(output) -> list[Output]:
    if isinstance(output, list) and output and isinstance(output[0], dict):
        # clip-features: [{"input": "<url>", "embedding": [768 floats]}] per input line
        return [
            Output(kind="embedding", vector=[float(v) for v in item["embedding"]])
            for item in output
            if item.get("embedding")
        ]
    if isinstance(output, dict) and "weights" in output:
        return [Output(kind="weights", url=output["weights"], extract="lora.safetensors")]
    if isinstance(output, dict) and "text" in output:
        return [Output(kind="text", text=str(output["text"]))]
    urls = output if isinstance(output, list) else [output]
    return [Output(kind="image", url=url) for url in urls if url]
