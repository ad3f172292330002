"""The offline simulator: no network, no key. Same states as a real provider, made-up results.

A request id carries its submit time, so polls need no shared state: a call is queued for
the first quarter of LOCAL_PROVIDER_DELAY, running until the delay has passed, then done.
A prompt containing "simulate:fail" ends in failure, for trying out error handling.
"""

import time
import uuid
from dataclasses import asdict
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.files.storage import default_storage

from . import local_render
from .base import Output, Poll, ProviderTask, Request, Sample, State
from .catalog import model_for


def _media_bytes(url: str) -> bytes | None:
    """Our own signed media links point into our storage: read the file directly."""
    path = unquote(urlsplit(url).path)
    if "/media/" not in path:
        return None
    with default_storage.open(path.split("/media/", 1)[1], "rb") as handle:
        return handle.read()


def _training_logs(request: Request, progress: int) -> list[str]:
    """Trainer-like lines (as fal's and ai-toolkit's), so progress is read from the logs."""
    steps = int(request.input.get("steps") or 1000)
    done = steps * progress // 100
    lines = ["Preparing the dataset (simulator)", "Caching latents (simulator)"]
    lines += [f"Step {n}/{steps}, loss 0.{180 - n * 80 // steps:03d}" for n in range(0, done, 100)]
    return lines + [f"Step {done}/{steps}, loss 0.{180 - done * 80 // steps:03d}"]


SAMPLE_CHECKPOINTS = (25, 50, 75, 100)  # percent of the steps, like ai-toolkit's sample_every


@lru_cache(maxsize=64)
def _sample_png(prompt: str, seed: int, step: int) -> bytes:
    return local_render.render(prompt, seed=seed, width=256, height=341, label=f"step {step}")


def _training_samples(request: Request, progress: int) -> list[Sample]:
    """The reference suite rendered at each checkpoint passed so far (its fixed seeds), as
    a trainer with sample prompts emits them while it trains."""
    from generation.runs import REFERENCE_SEEDS, REFERENCE_SHOTS

    steps = int(request.input.get("steps") or 1000)
    trigger = request.input.get("trigger_word", "")
    checkpoints = [steps * percent // 100 for percent in SAMPLE_CHECKPOINTS if progress >= percent]
    return [
        Sample(
            step=step,
            shot=shot,
            content=_sample_png(f"{trigger}, {prompt}", REFERENCE_SEEDS[shot], step),
        )
        for step in checkpoints
        for shot, prompt in REFERENCE_SHOTS
    ]


class LocalProvider:
    name = "local"
    download_hosts: tuple[str, ...] = ()

    def build(self, task: ProviderTask) -> Request:
        return Request(endpoint=model_for(self.name, task.task).endpoint, input=asdict(task))

    def submit(self, request: Request, *, webhook_url: str | None = None) -> str:
        return f"sim-{uuid.uuid4().hex[:16]}-{int(time.time() * 1000)}"

    def poll(self, request: Request, external_id: str) -> Poll:
        started = int(external_id.rsplit("-", 1)[1]) / 1000
        elapsed, delay = time.time() - started, settings.LOCAL_PROVIDER_DELAY
        if elapsed < delay * 0.25:
            return Poll(State.QUEUED, logs=["In queue (simulator)"])
        if elapsed < delay:
            progress = int(100 * elapsed / delay) if delay else 100
            if request.endpoint.endswith("train-lora"):
                return Poll(
                    State.RUNNING,
                    logs=_training_logs(request, progress),
                    samples=_training_samples(request, progress),
                )
            return Poll(State.RUNNING, logs=[f"Simulating… {progress}%"], progress=progress)
        prompt = request.input.get("prompt", "")
        if "simulate:fail" in prompt:
            return Poll(State.FAILED, error="The simulator was asked to fail (simulate:fail).")
        logs, samples = ["Done (simulator)"], []
        if request.endpoint.endswith("train-lora"):
            logs = _training_logs(request, 100) + ["Saved lora.safetensors (simulator)"]
            samples = _training_samples(request, 100)
        return Poll(
            State.SUCCEEDED,
            logs=logs,
            progress=100,
            outputs=self._outputs(request, external_id),
            samples=samples,
        )

    def cancel(self, request: Request, external_id: str) -> None:
        """Nothing runs anywhere: the state machine just stops polling."""

    def _outputs(self, request: Request, external_id: str) -> list[Output]:
        data = request.input
        seed_base = data.get("seed") or int(external_id.split("-")[1], 16) % 1_000_000
        if request.endpoint.endswith("train-lora"):
            weights = local_render.lora_safetensors(
                rank=data.get("rank", 16), trigger_word=data["trigger_word"], seed=seed_base
            )
            return [Output(kind="weights", content=weights)]
        if request.endpoint.endswith("caption"):
            return [Output(kind="text", text=local_render.caption(data["image_url"]))]
        sources = [data["image_url"]] if data.get("image_url") else data.get("image_urls", [])
        base = _media_bytes(sources[0]) if sources else None
        return [
            Output(
                kind="image",
                seed=seed_base + i,
                content=local_render.render(
                    data["prompt"],
                    seed=seed_base + i,
                    base=base,
                    strength=data.get("strength", 0.7 if base else None),
                ),
            )
            for i in range(data.get("num_images", 1))
        ]
