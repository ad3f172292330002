"""Presets as data: JSON files in characters/presets/, loaded into the database idempotently."""

import json
from decimal import Decimal
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Preset, PresetPose, PresetVariation

PRESETS_DIR = Path(__file__).with_name("presets")


def _check(data: dict, source: str) -> None:
    for field in ("key", "label", "poses"):
        if not data.get(field):
            raise ValidationError(f"{source}: '{field}' is missing.")
    pose_keys = [p["key"] for p in data["poses"]]
    if len(set(pose_keys)) != len(pose_keys):
        raise ValidationError(f"{source}: pose keys repeat.")
    variation_keys = [v["key"] for v in data.get("variations", [])]
    if len(set(variation_keys)) != len(variation_keys):
        raise ValidationError(f"{source}: variation keys repeat.")
    for v in data.get("variations", []):
        if v["anchor_pose"] not in pose_keys:
            raise ValidationError(
                f"{source}: {v['key']} names unknown anchor pose {v['anchor_pose']!r}."
            )
        if not 0 <= Decimal(str(v["strength"])) <= 1:
            raise ValidationError(f"{source}: {v['key']} strength must be within 0 and 1.")


@transaction.atomic
def load_preset(data: dict, *, source: str = "preset") -> Preset:
    """Create or update one preset from its data; poses and variations not in the data go."""
    _check(data, source)
    preset, _ = Preset.objects.update_or_create(
        key=data["key"],
        defaults={
            "label": data["label"],
            "description": data.get("description", ""),
            "base_prompt": data.get("base_prompt", ""),
            "negative_prompt": data.get("negative_prompt", ""),
        },
    )
    poses = {}
    for order, pose in enumerate(data["poses"]):
        poses[pose["key"]], _ = PresetPose.objects.update_or_create(
            preset=preset,
            key=pose["key"],
            defaults={"label": pose["label"], "prompt": pose["prompt"], "order": order},
        )
    variations = data.get("variations", [])
    for order, v in enumerate(variations):
        PresetVariation.objects.update_or_create(
            preset=preset,
            key=v["key"],
            defaults={
                "label": v["label"],
                "prompt": v["prompt"],
                "anchor_pose": poses[v["anchor_pose"]],
                "strength": Decimal(str(v["strength"])),
                "count": v.get("images", 4),
                "order": order,
            },
        )
    preset.variations.exclude(key__in=[v["key"] for v in variations]).delete()
    preset.poses.exclude(key__in=list(poses)).delete()
    return preset


def load_presets(directory: Path = PRESETS_DIR) -> list[Preset]:
    """Load every *.json preset file of `directory`."""
    return [
        load_preset(json.loads(path.read_text()), source=path.name)
        for path in sorted(directory.glob("*.json"))
    ]
