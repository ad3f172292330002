"""The provider interface: plain task types in, a request id out, polls that report state.

A provider adapter turns a task into the provider's own endpoint and input (`build`), sends
it (`submit`), reports where it stands (`poll`), and cancels it. It never touches the
database: the ProviderCall state machine in generation.calls owns that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar, Protocol

from ..models import Task


# --- Tasks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TextToImage:
    prompt: str
    negative_prompt: str = ""
    num_images: int = 1
    seed: int | None = None
    aspect_ratio: str = "3:4"
    task: ClassVar[str] = Task.TEXT_TO_IMAGE


@dataclass(frozen=True)
class ImageToImage:
    prompt: str
    image_url: str
    strength: float
    num_images: int = 1
    seed: int | None = None
    task: ClassVar[str] = Task.IMAGE_TO_IMAGE


@dataclass(frozen=True)
class MultiReferenceEdit:
    prompt: str
    image_urls: list[str]
    num_images: int = 1
    seed: int | None = None
    task: ClassVar[str] = Task.MULTI_REFERENCE_EDIT


@dataclass(frozen=True)
class LoraTextToImage:
    prompt: str
    lora_url: str
    lora_scale: float = 1.0
    num_images: int = 1
    seed: int | None = None
    aspect_ratio: str = "3:4"
    task: ClassVar[str] = Task.LORA_TEXT_TO_IMAGE


@dataclass(frozen=True)
class TrainLora:
    """A LoRA training. Settings left None are not sent: the provider's trainer does not take
    them (the catalog's `Trainer.takes` says which it does)."""

    images_zip_url: str
    trigger_word: str
    steps: int = 1000
    rank: int | None = None
    learning_rate: float | None = None
    resolution: str | None = None
    batch_size: int | None = None
    caption_dropout: float | None = None
    create_masks: bool = True  # weight the loss by a face/subject mask (a person)
    is_style: bool = False  # a look rather than a subject
    task: ClassVar[str] = Task.TRAIN_LORA


@dataclass(frozen=True)
class Caption:
    image_url: str
    task: ClassVar[str] = Task.CAPTION


@dataclass(frozen=True)
class EmbedImage:
    """An image embedding (CLIP) of one picture: whole-figure likeness."""

    image_url: str
    task: ClassVar[str] = Task.EMBED_IMAGE


ProviderTask = (
    TextToImage
    | ImageToImage
    | MultiReferenceEdit
    | LoraTextToImage
    | TrainLora
    | Caption
    | EmbedImage
)
# Task name (as stored on a ProviderCall) → its dataclass.
TASK_TYPES = {cls.task: cls for cls in ProviderTask.__args__}


# --- What a provider reports -------------------------------------------------------------
class State:
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass
class Output:
    """One result file: at a provider URL to download, or (simulator) bytes already made."""

    kind: str  # "image", "weights", "config", "text" or "embedding"
    url: str = ""
    content: bytes | None = None
    seed: int | None = None
    text: str = ""
    vector: list[float] | None = None  # an embedding, returned inline
    extract: str = ""  # a file to take out of a downloaded tar (Replicate's trained weights)


@dataclass
class Sample:
    """An image a trainer renders while it trains (ai-toolkit's `sample_every`), to watch the
    LoRA learn: at `step`, for one prompt of the suite (`shot`)."""

    step: int
    shot: str
    url: str = ""
    content: bytes | None = None


@dataclass
class Poll:
    state: str
    logs: list[str] = field(default_factory=list)
    progress: int | None = None
    outputs: list[Output] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    error: str = ""
    raw: dict | None = None
    units: Decimal | None = None  # billed units when the provider reports them


@dataclass(frozen=True)
class Request:
    """What is sent: the endpoint (model) and its input, as stored on the ProviderCall."""

    endpoint: str
    input: dict


# --- Errors ------------------------------------------------------------------------------
class ProviderError(Exception):
    """A provider refused or failed a request; `retryable` says whether to try again later."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class TransientError(ProviderError):
    """429, 5xx, or a connection that failed before anything was sent: safe to retry."""

    retryable = True


class OutcomeUnknown(ProviderError):
    """The request may have reached the provider (e.g. a timeout after sending)."""


class Provider(Protocol):
    name: str
    download_hosts: tuple[str, ...]

    def build(self, task: ProviderTask) -> Request: ...

    def submit(self, request: Request, *, webhook_url: str | None) -> str: ...

    def poll(self, request: Request, external_id: str) -> Poll: ...

    def cancel(self, request: Request, external_id: str) -> None: ...

    def upload(self, content: bytes, *, filename: str) -> str: ...
