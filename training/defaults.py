"""Trainer settings before a launch: the recipe's defaults for the export, built-in and saved
presets, and the estimate of cost (prices from the catalog only) and time.

The presets and the rule that turns one into numbers live in `datasets.training_configs`,
so the hosted trainings and the export's own GPU configs train the same recipe. What each
provider takes, and within which limits, is the catalog's (`generation.providers.catalog`).
"""

from dataclasses import asdict, dataclass, replace
from decimal import Decimal

from django.conf import settings

from datasets.training_configs import PRESETS, Preset, recipe_for
from datasets.training_configs import suggested_preset as _suggested_preset
from generation.models import Task
from generation.providers.catalog import model_for

TYPICAL_STEPS = 1000  # the catalog's expected_seconds are for a typical 1000-step training
BUILT_IN_PRESETS: dict[str, Preset] = PRESETS


@dataclass(frozen=True)
class Params:
    steps: int
    learning_rate: Decimal
    rank: int
    resolution: str
    batch_size: int

    def as_dict(self) -> dict:
        return asdict(self)


def presets() -> list[Preset]:
    return list(BUILT_IN_PRESETS.values())


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
    """The export's own recipe when it names one, else what its shots suggest."""
    recipe = manifest.get("training_recipe") or {}
    if recipe.get("preset") in BUILT_IN_PRESETS:
        return recipe["preset"]
    return _suggested_preset(shot_distribution(manifest))


def defaults_for(*, image_count: int, preset: str, export_resolution: int | None = None) -> Params:
    """The settings a preset gives for an export of `image_count` images."""
    recipe = recipe_for(images=image_count, preset=preset, export_resolution=export_resolution)
    return Params(
        steps=recipe.steps,
        learning_rate=recipe.learning_rate,
        rank=recipe.rank,
        resolution=recipe.resolution,
        batch_size=recipe.batch_size,
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
