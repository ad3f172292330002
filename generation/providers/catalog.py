"""The one place that knows endpoints, prices and limits, per provider and task.

Prices are in USD per billing unit as the providers document them (see docs/providers/).
The simulator costs nothing. Every call records its estimate from here at creation and its
actual cost from here (or from the provider's own usage figures) when it finishes.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from ..models import Provider, Task


@dataclass(frozen=True)
class Model:
    provider: str
    task: str
    endpoint: str
    unit: str  # what price is per: "image", "run", "step", "second"
    price: Decimal
    max_images: int = 1  # most outputs one call may ask for
    expected_seconds: float = 20.0  # typical duration, the first guess for polling

    def estimate(self, *, images: int = 1, steps: int = 0) -> Decimal:
        units = {"image": images, "run": 1, "step": steps, "second": self.expected_seconds}[
            self.unit
        ]
        return (self.price * Decimal(str(units))).quantize(Decimal("0.0001"))


_MODELS = [
    # fal.ai (queue API)
    Model("fal", Task.TEXT_TO_IMAGE, "fal-ai/flux-pro/v1.1-ultra", "image", Decimal("0.06"), 4, 15),
    Model(
        "fal",
        Task.IMAGE_TO_IMAGE,
        "fal-ai/flux/dev/image-to-image",
        "image",
        Decimal("0.03"),
        4,
        10,
    ),
    Model(
        "fal",
        Task.MULTI_REFERENCE_EDIT,
        "fal-ai/flux-pro/kontext/max/multi",
        "image",
        Decimal("0.08"),
        4,
        15,
    ),
    Model("fal", Task.LORA_TEXT_TO_IMAGE, "fal-ai/flux-lora", "image", Decimal("0.035"), 4, 10),
    Model(
        "fal", Task.TRAIN_LORA, "fal-ai/flux-lora-fast-training", "step", Decimal("0.002"), 1, 900
    ),
    Model(
        "fal",
        Task.CAPTION,
        "fal-ai/florence-2-large/detailed-caption",
        "run",
        Decimal("0.001"),
        1,
        5,
    ),
    # Replicate (predictions and trainings)
    Model(
        "replicate",
        Task.TEXT_TO_IMAGE,
        "black-forest-labs/flux-1.1-pro-ultra",
        "image",
        Decimal("0.06"),
        1,
        15,
    ),
    Model(
        "replicate",
        Task.IMAGE_TO_IMAGE,
        "black-forest-labs/flux-dev",
        "image",
        Decimal("0.025"),
        4,
        10,
    ),
    Model(
        "replicate",
        Task.MULTI_REFERENCE_EDIT,
        "flux-kontext-apps/multi-image-kontext-pro",
        "image",
        Decimal("0.04"),
        1,
        15,
    ),
    Model(
        "replicate",
        Task.LORA_TEXT_TO_IMAGE,
        "black-forest-labs/flux-dev-lora",
        "image",
        Decimal("0.032"),
        4,
        10,
    ),
    Model(
        "replicate",
        Task.TRAIN_LORA,
        "ostris/flux-dev-lora-trainer",
        "second",
        Decimal("0.001528"),
        1,
        1200,
    ),
    Model("replicate", Task.CAPTION, "lucataco/florence-2-large", "run", Decimal("0.002"), 1, 5),
    # CLIP ViT-L/14 image features (768-d), on Nvidia T4 hardware billed per second.
    Model(
        "replicate",
        Task.EMBED_IMAGE,
        "andreasjansson/clip-features",
        "second",
        Decimal("0.000225"),
        1,
        2,
    ),
]
# The simulator mirrors every task, free, and takes LOCAL_PROVIDER_DELAY seconds a call.
_MODELS += [
    Model("local", task, f"local/{task.replace('_', '-')}", "image", Decimal("0"), 4, 2)
    for task in Task.values
    if task != Task.EMBED_IMAGE  # offline, the rough measure stands in (characters.likeness)
]
_BY_KEY = {(m.provider, m.task): m for m in _MODELS}

# Calls in flight at once per provider, unless PROVIDER_CONCURRENCY says otherwise.
DEFAULT_CONCURRENCY = {Provider.LOCAL: 8, Provider.FAL: 10, Provider.REPLICATE: 8}


def model_for(provider: str, task: str) -> Model:
    try:
        return _BY_KEY[(provider, task)]
    except KeyError:
        raise LookupError(f"{provider} has no model for {task}.") from None


def concurrency(provider: str) -> int:
    configured = settings.PROVIDER_CONCURRENCY.get(provider)
    return int(configured) if configured else DEFAULT_CONCURRENCY[provider]
