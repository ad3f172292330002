"""fal.ai through `fal-client`: the queue API (submit, status with logs, result, cancel).

The submit is one POST we send ourselves, with the SDK's URL and auth: fal-client retries a
submit whose answer was lost, and fal would then run (and bill) the job twice. Status,
result and cancel are safe to repeat and go through the SDK. Hosts, proxy and certificates
come from the SDK's standard environment (FAL_KEY, FAL_RUN_HOST, FAL_QUEUE_RUN_HOST,
HTTPS_PROXY, SSL_CERT_FILE): nothing is hard-coded around it. See docs/providers/fal.md.
"""

from urllib.parse import urlencode

import fal_client
import httpx
from django.conf import settings
from fal_client.client import QUEUE_POLL_TIMEOUT, QUEUE_URL_FORMAT, FalClientHTTPError

from .base import (
    Caption,
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


def _error(exc: Exception) -> ProviderError:
    """Map an SDK or transport error to ours: 408/429/5xx and connection trouble are transient."""
    if isinstance(exc, FalClientHTTPError):
        detail = exc.message if isinstance(exc.message, str) else str(exc.message)
        message = f"fal answered {exc.status_code}: {detail}"
        if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
            return TransientError(message, status=exc.status_code)
        return ProviderError(message, status=exc.status_code)
    return TransientError(f"Could not reach fal: {exc.__class__.__name__}: {exc}")


class FalProvider:
    name = "fal"

    def __init__(self):
        self._sdk = None
        self._submitter = None

    @property
    def download_hosts(self) -> tuple[str, ...]:
        return tuple(settings.FAL_DOWNLOAD_HOSTS)

    @property
    def sdk(self) -> fal_client.SyncClient:
        if self._sdk is None:
            if not settings.FAL_KEY:
                raise ProviderError("FAL_KEY is not set: add the fal.ai key to the environment.")
            self._sdk = fal_client.SyncClient(key=settings.FAL_KEY)
        return self._sdk

    @property
    def submitter(self) -> httpx.Client:
        """The submits' own client, kept (as the SDK's is) with the adapter, one per process:
        its connections stay alive from one submit to the next, where a client per submit
        paid a new connection (through a proxy, a CONNECT and a TLS handshake) every time.
        Unlike the SDK's transport, it never retries."""
        if self._submitter is None:
            self._submitter = httpx.Client(timeout=SUBMIT_TIMEOUT)
        return self._submitter

    # --- requests ------------------------------------------------------------------------
    def build(self, task: ProviderTask) -> Request:
        endpoint = model_for(self.name, task.task).endpoint
        common = {"num_images": getattr(task, "num_images", 1), "output_format": "png"}
        if getattr(task, "seed", None) is not None:
            common["seed"] = task.seed
        match task:
            case TextToImage():
                data = {
                    "prompt": task.prompt,
                    "aspect_ratio": task.aspect_ratio,
                    "safety_tolerance": "2",
                    "enable_safety_checker": True,
                    **common,
                }
            case ImageToImage():
                data = {
                    "prompt": task.prompt,
                    "image_url": task.image_url,
                    "strength": task.strength,
                    "num_inference_steps": 40,
                    "guidance_scale": 3.5,
                    **common,
                }
            case MultiReferenceEdit():
                data = {
                    "prompt": task.prompt,
                    "image_urls": list(task.image_urls),
                    "guidance_scale": 3.5,
                    **common,
                }
            case LoraTextToImage():
                data = {
                    "prompt": task.prompt,
                    "loras": [{"path": task.lora_url, "scale": task.lora_scale}],
                    "image_size": "portrait_4_3",
                    **common,
                }
            case TrainLora():
                # fal's trainer takes no learning rate, rank, resolution or batch size: they
                # are never sent (see catalog.FAL_TRAINER). Our signed URLs end in
                # ".zip?expires=…", so the archive format is said rather than inferred.
                data = {
                    "images_data_url": task.images_zip_url,
                    "trigger_word": task.trigger_word,
                    "steps": task.steps,
                    "create_masks": task.create_masks and not task.is_style,
                    "is_style": task.is_style,
                    "data_archive_format": "zip",
                }
            case Caption():
                data = {"image_url": task.image_url}
            case _:
                raise ProviderError(f"fal cannot run {task!r}.")
        return Request(endpoint=endpoint, input=data)

    def submit(self, request: Request, *, webhook_url: str | None = None) -> str:
        """One POST to the queue: never repeated here, so a lost answer is `OutcomeUnknown`."""
        url = QUEUE_URL_FORMAT + request.endpoint
        if webhook_url:
            url += "?" + urlencode({"fal_webhook": webhook_url})
        self.sdk  # noqa: B018 -- fails early, clearly, without a key
        headers = {"Authorization": f"Key {settings.FAL_KEY}", "Content-Type": "application/json"}
        try:
            response = self.submitter.post(url, json=request.input, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as exc:
            raise TransientError(f"Could not reach fal: {exc}") from exc
        except httpx.TransportError as exc:
            raise OutcomeUnknown(
                f"fal's answer to the submit was lost ({exc.__class__.__name__})."
            ) from exc
        if response.status_code == 200:
            return response.json()["request_id"]
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        message = f"fal refused the request ({response.status_code}): {detail}"
        if response.status_code in (408, 429) or response.status_code >= 500:
            raise TransientError(message, status=response.status_code)
        raise ProviderError(message, status=response.status_code)

    def poll(self, request: Request, external_id: str) -> Poll:
        try:
            status = self.sdk.status(request.endpoint, external_id, with_logs=True)
        except (FalClientHTTPError, httpx.TransportError) as exc:
            raise _error(exc) from exc
        logs = [entry.get("message", "") for entry in (getattr(status, "logs", None) or [])]
        match status:
            case fal_client.Queued():
                return Poll(State.QUEUED, logs=logs or [f"In queue, position {status.position}"])
            case fal_client.InProgress():
                return Poll(State.RUNNING, logs=logs)
            case fal_client.Completed() if status.error:
                kind = f" ({status.error_type})" if status.error_type else ""
                return Poll(State.FAILED, logs=logs, error=f"fal: {status.error}{kind}")
        result = self._result(request, external_id)
        if isinstance(result, str):
            return Poll(State.FAILED, logs=logs, error=f"fal: {result}")
        return Poll(State.SUCCEEDED, logs=logs, progress=100, outputs=_outputs(result), raw=result)

    def _result(self, request: Request, external_id: str) -> dict | str:
        """One GET of a completed request's result (the SDK's `result()` would first poll
        the status again); a refusal's message as a string."""
        handle = self.sdk.get_handle(request.endpoint, external_id)
        try:
            response = handle.client.get(handle.response_url, timeout=QUEUE_POLL_TIMEOUT)
        except httpx.TransportError as exc:
            raise _error(exc) from exc
        if response.status_code == 200:
            return response.json()
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if response.status_code in (408, 429) or response.status_code >= 500:
            raise TransientError(
                f"fal answered {response.status_code}: {detail}", status=response.status_code
            )
        return str(detail)

    def outputs_from(self, raw: dict) -> list[Output]:
        """The outputs of a result payload a poll already fetched."""
        return _outputs(raw)

    def cancel(self, request: Request, external_id: str) -> None:
        try:
            self.sdk.cancel(request.endpoint, external_id)
        except FalClientHTTPError as exc:
            if exc.status_code == 400:  # already completed: nothing left to stop
                return
            raise _error(exc) from exc
        except httpx.TransportError as exc:
            raise _error(exc) from exc

    def upload(self, content: bytes, *, filename: str) -> str:
        """Put one of our files on fal's storage, for when fal cannot fetch from us."""
        content_type = "application/zip" if filename.endswith(".zip") else "image/png"
        try:
            return self.sdk.upload(content, content_type, file_name=filename)
        except (FalClientHTTPError, httpx.TransportError) as exc:
            raise _error(exc) from exc


def _outputs(result: dict) -> list[Output]:
    if "diffusers_lora_file" in result:
        outputs = [Output(kind="weights", url=result["diffusers_lora_file"]["url"])]
        if result.get("config_file"):
            outputs.append(Output(kind="config", url=result["config_file"]["url"]))
        return outputs
    if "results" in result and isinstance(result["results"], str):
        return [Output(kind="text", text=result["results"])]
    seed = result.get("seed")
    return [
        Output(kind="image", url=image["url"], seed=seed + i if seed is not None else None)
        for i, image in enumerate(result.get("images", []))
    ]
