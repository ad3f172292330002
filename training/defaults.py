"""Trainer settings before a launch: smart defaults from the export, built-in and saved presets,
and the estimate of cost (prices from the catalog only) and time.

Where the numbers come from:
- steps and batch size by image count: seed 002's smart defaults (epochs by count, batch 1
  under 30 images, 2 up to 100, 4 above), as `datasets.training_configs.smart_defaults`
  computes them for the export's own GPU configs — one rule for both;
- seed 003 (full-body fashion on Replicate): 1000 steps, learning rate 4e-4, rank 16,
  resolutions 768 and 1024, for 8–12 full-body photos;
- seed 004 (a character on fal): learning rate 1e-4, rank 16, 10–20 images;
- seed 002 for a style (a concept rather than a person): rank 32, learning rate 1e-4;
- resolutions never above the export's own (its images were resized to it).
"""

from dataclasses import asdict, dataclass, replace
from decimal import Decimal

from django.conf import settings

from datasets.training_configs import smart_defaults
from generation.models import Task
from generation.providers.catalog import model_for

MIN_STEPS = 100
TYPICAL_STEPS = 1000  # the catalog's expected_seconds are for a typical 1000-step training


@dataclass(frozen=True)
class Params:
    steps: int
    learning_rate: Decimal
    rank: int
    resolution: str
    batch_size: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    description: str
    learning_rate: Decimal
    rank: int
    resolution: str
    fixed_steps: int | None = None  # None: steps by image count


BUILT_IN_PRESETS = {
    p.key: p
    for p in [
        Preset(
            "character",
            "Character",
            "Face and body identity across poses: lr 1e-4, rank 16, 512–1024 px.",
            Decimal("0.0001"),
            16,
            "512,768,1024",
        ),
        Preset(
            "fashion",
            "Full-body fashion",
            "Head-to-toe model for fashion shots: 1000 steps, lr 4e-4, rank 16, 768 and 1024 px.",
            Decimal("0.0004"),
            16,
            "768,1024",
            fixed_steps=1000,
        ),
        Preset(
            "style",
            "Style",
            "A look rather than a person: rank 32 for more capacity, lr 1e-4, 1024 px.",
            Decimal("0.0001"),
            32,
            "1024",
        ),
    ]
}


def presets() -> list[Preset]:
    return list(BUILT_IN_PRESETS.values())


def steps_for(image_count: int) -> int:
    """Seed 002's steps for this many images (within what the trainers accept)."""
    return min(10000, max(MIN_STEPS, smart_defaults(max(image_count, 1)).steps))


def batch_size_for(image_count: int) -> int:
    """Seed 002: batch 1 under 30 images, 2 up to 100, 4 above."""
    return smart_defaults(max(image_count, 1)).batch_size


def resolution_for(preset_resolution: str, export_resolution: int | None) -> str:
    """The preset's resolutions, without those above the export's (never upscale)."""
    sizes = [int(s) for s in preset_resolution.split(",")]
    if not export_resolution:
        return preset_resolution
    kept = [s for s in sizes if s <= export_resolution]
    return ",".join(str(s) for s in kept) if kept else str(export_resolution)


def shot_distribution(manifest: dict) -> dict[str, int]:
    """Shot types of an export's images, from its manifest (whichever form it takes)."""
    if isinstance(manifest.get("shot_distribution"), dict):
        return {k: int(v) for k, v in manifest["shot_distribution"].items()}
    counts: dict[str, int] = {}
    images = manifest.get("images") or manifest.get("items") or []
    if isinstance(images, list):
        for item in images:
            if isinstance(item, dict) and item.get("shot_type"):
                counts[item["shot_type"]] = counts.get(item["shot_type"], 0) + 1
    return counts


def suggested_preset(manifest: dict) -> str:
    """Mostly far (full-body) shots suggest the fashion preset, anything else a character."""
    shots = shot_distribution(manifest)
    total = sum(shots.values())
    if total and shots.get("far", 0) * 2 >= total:
        return "fashion"
    return "character"


def defaults_for(*, image_count: int, preset: str, export_resolution: int | None = None) -> Params:
    """The settings a preset gives for an export of `image_count` images."""
    chosen = BUILT_IN_PRESETS[preset]
    return Params(
        steps=chosen.fixed_steps or steps_for(image_count),
        learning_rate=chosen.learning_rate,
        rank=chosen.rank,
        resolution=resolution_for(chosen.resolution, export_resolution),
        batch_size=batch_size_for(image_count),
    )


def saved_preset_params(preset) -> Params:
    return Params(
        steps=preset.steps,
        learning_rate=preset.learning_rate,
        rank=preset.rank,
        resolution=preset.resolution,
        batch_size=preset.batch_size,
    )


def override(params: Params, **changes) -> Params:
    return replace(params, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True)
class Estimate:
    cost: Decimal
    seconds: int
    price_note: str


def estimate(*, provider: str, steps: int) -> Estimate:
    """Cost and time of a training, from the catalog's price and typical duration."""
    model = model_for(provider, Task.TRAIN_LORA)
    if provider == "local":
        seconds = max(1, round(settings.LOCAL_PROVIDER_DELAY))
        return Estimate(Decimal("0"), seconds, "The simulator is free.")
    seconds = round(model.expected_seconds * steps / TYPICAL_STEPS)
    if model.unit == "step":
        cost = model.estimate(steps=steps)
        note = f"${model.price} per step × {steps} steps."
    elif model.unit == "second":
        cost = (model.price * seconds).quantize(Decimal("0.0001"))
        note = f"${model.price} per GPU second × about {seconds} s; billed by the actual time."
    else:
        cost = model.estimate()
        note = f"${model.price} per {model.unit}."
    return Estimate(cost, seconds, note)
