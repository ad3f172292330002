"""The one place that knows endpoints, prices and limits, per provider and task.

Prices are in USD per billing unit as the providers document them (see docs/providers/).
The simulator costs nothing. Every call records its estimate from here at creation and its
actual cost from here (or from the provider's own usage figures) when it finishes.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from ..models import Provider, Task

# --- What each trainer takes, and within which limits -------------------------------------
# Sources, read at these commits (hand-written here; no trainer code is copied):
FLUX_FINE_TUNER = "replicate/flux-fine-tuner@3dd14e37fe789ca05d0fa43cc53e112e0de00e76"
FAL_JS = "fal-ai/fal-js@381105e138b85502b528fb8f6c16d909e30e462a"


@dataclass(frozen=True)
class Limit:
    """The values a trainer input accepts: `low`/`high` (None: no bound) and where it says so."""

    low: Decimal | int | None
    high: Decimal | int | None
    source: str

    def holds(self, value) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def clamp(self, value):
        if self.low is not None and value < self.low:
            return self.low
        if self.high is not None and value > self.high:
            return self.high
        return value

    def describe(self) -> str:
        low, high = _plain(self.low), _plain(self.high)
        if self.low is not None and self.high is not None:
            return f"from {low} to {high}"
        if self.low is not None:
            return f"at least {low}"
        return f"at most {high}"


def _plain(value) -> str:
    """0.0000001, not Decimal's 1E-7."""
    return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)


@dataclass(frozen=True)
class Trainer:
    """A training model's inputs as its own source documents them.

    `takes` names our settings (steps, learning_rate, rank, resolution, batch_size,
    caption_dropout) it accepts; anything else is not sent. `limits` are the provider's
    documented ranges; `ours` narrows them where the provider documents none (and says so).
    `min_images` is refused below, `recommended_images` only warned about."""

    takes: frozenset[str]
    limits: dict[str, Limit] = field(default_factory=dict)
    min_images: int = 1
    min_images_source: str = ""
    recommended_images: int = 0
    recommended_images_source: str = ""
    alpha_rule: str = ""
    # Computed defaults beyond a limit are clamped (and the plan says so); a value the user
    # typed beyond it is refused, naming the limit and its source.
    policy: str = "clamp defaults, refuse typed values"

    def limit(self, setting: str) -> Limit | None:
        return self.limits.get(setting)


# Our own outer limits, for inputs no trainer bounds (and the database's check constraints).
OUR_LIMITS = {
    "steps": Limit(100, 10000, "ours: fewer than 100 steps trains nothing useful"),
    "learning_rate": Limit(Decimal("0.0000001"), Decimal("0.01"), "ours: above 0.01 diverges"),
    "rank": Limit(4, 128, "ours"),
    "batch_size": Limit(1, 8, "ours: more does not fit a single GPU at 1024 px"),
    "resolution": Limit(256, 2048, "ours: pixel sizes FLUX trains at"),
    "caption_dropout": Limit(Decimal("0"), Decimal("1"), "ours"),
}

REPLICATE_TRAINER = Trainer(
    takes=frozenset(
        {"steps", "learning_rate", "rank", "resolution", "batch_size", "caption_dropout"}
    ),
    limits={
        # `steps: int = Input(..., ge=3, le=6000, default=1000)`
        "steps": Limit(3, 6000, f"{FLUX_FINE_TUNER} train.py:125-130"),
        # `lora_rank: int = Input(..., default=16, ge=1, le=128)`
        "rank": Limit(1, 128, f"{FLUX_FINE_TUNER} train.py:141-146"),
        # `caption_dropout_rate: float = Input(..., default=0.05, ge=0, le=1)`
        "caption_dropout": Limit(Decimal("0"), Decimal("1"), f"{FLUX_FINE_TUNER} train.py:147-152"),
        # No bounds there (ours apply): `learning_rate: float = Input(default=4e-4)`,
        # `batch_size: int = Input(default=1)`, `resolution: str = Input("512,768,1024")`.
        "learning_rate": Limit(None, None, f"{FLUX_FINE_TUNER} train.py:131-134"),
        "batch_size": Limit(None, None, f"{FLUX_FINE_TUNER} train.py:135-137"),
        "resolution": Limit(None, None, f"{FLUX_FINE_TUNER} train.py:138-140"),
    },
    recommended_images=10,
    recommended_images_source=(
        f"{FLUX_FINE_TUNER} train.py:107 (“We recommend a minimum of 10 images”)"
    ),
    alpha_rule=f"alpha = rank ({FLUX_FINE_TUNER} train.py:268-272: linear_alpha is lora_rank)",
)

FAL_TRAINER = Trainer(
    # FluxLoraFastTrainingInput: images_data_url, trigger_word, create_masks, steps, is_style,
    # is_input_format_already_preprocessed, data_archive_format; no learning rate, rank,
    # resolution or batch size (libs/client/src/types/endpoints.ts:14322-14354).
    takes=frozenset({"steps"}),
    limits={
        # `steps?: number`, no documented range: ours apply.
        "steps": Limit(None, None, f"{FAL_JS} libs/client/src/types/endpoints.ts:14345-14348"),
    },
    min_images=4,
    min_images_source=(
        f"{FAL_JS} libs/client/src/types/endpoints.ts:14331 (“Try to use at least 4 images”)"
    ),
    alpha_rule="set by fal; not an input (endpoints.ts:14322-14354)",
)

# The simulator takes every setting (it shows what a run with them would look like).
LOCAL_TRAINER = Trainer(takes=REPLICATE_TRAINER.takes, limits={}, alpha_rule="alpha = rank")


@dataclass(frozen=True)
class Model:
    provider: str
    task: str
    endpoint: str
    unit: str  # what price is per: "image", "run", "step", "second"
    price: Decimal
    max_images: int = 1  # most outputs one call may ask for
    expected_seconds: float = 20.0  # typical duration, the first guess for polling
    trainer: Trainer | None = None  # training models: the inputs they take and their limits

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
        "fal",
        Task.TRAIN_LORA,
        "fal-ai/flux-lora-fast-training",
        "step",
        Decimal("0.002"),
        1,
        900,
        trainer=FAL_TRAINER,
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
        trainer=REPLICATE_TRAINER,
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
    Model(
        "local",
        task,
        f"local/{task.replace('_', '-')}",
        "image",
        Decimal("0"),
        4,
        2,
        trainer=LOCAL_TRAINER if task == Task.TRAIN_LORA else None,
    )
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


def trainer_for(provider: str) -> Trainer:
    """What the provider's training model takes, and its limits."""
    trainer = model_for(provider, Task.TRAIN_LORA).trainer
    assert trainer is not None
    return trainer


def training_limit(provider: str, setting: str) -> Limit:
    """The range a setting must fall in on `provider`: the provider's documented one, narrowed
    by ours (the database holds nothing outside ours)."""
    theirs, ours = trainer_for(provider).limit(setting), OUR_LIMITS[setting]
    if theirs is None or (theirs.low is None and theirs.high is None):
        return ours
    low = max(v for v in (theirs.low, ours.low) if v is not None)
    high = min(v for v in (theirs.high, ours.high) if v is not None)
    return Limit(low, high, theirs.source if (low, high) != (ours.low, ours.high) else ours.source)


def concurrency(provider: str) -> int:
    configured = settings.PROVIDER_CONCURRENCY.get(provider)
    return int(configured) if configured else DEFAULT_CONCURRENCY[provider]
