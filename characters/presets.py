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
    """Create or update one preset from its data; poses and variations not in the data go.

    A handful of queries whatever the number of poses and variations: the rows there are read
    once, then the new ones are inserted and the changed ones updated in bulk (a preset of 8
    poses and 32 variations took 90 queries one row at a time)."""
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
    poses = _write(
        PresetPose,
        preset,
        {
            pose["key"]: {"label": pose["label"], "prompt": pose["prompt"], "order": order}
            for order, pose in enumerate(data["poses"])
        },
    )
    variations = data.get("variations", [])
    _write(
        PresetVariation,
        preset,
        {
            v["key"]: {
                "label": v["label"],
                "prompt": v["prompt"],
                "anchor_pose_id": poses[v["anchor_pose"]].id,
                "strength": Decimal(str(v["strength"])),
                "count": v.get("images", 4),
                "order": order,
            }
            for order, v in enumerate(variations)
        },
    )
    preset.variations.exclude(key__in=[v["key"] for v in variations]).delete()
    preset.poses.exclude(key__in=list(poses)).delete()
    return preset


def _write(model, preset: Preset, wanted: dict[str, dict]) -> dict:
    """The preset's rows of `model` as `wanted` ({key: fields}) says, by key: new ones
    inserted, changed ones updated, in one query each. Rows not wanted are left to the caller."""
    rows = {row.key: row for row in model.objects.filter(preset=preset)}
    new, changed, fields = [], [], set()
    for key, values in wanted.items():
        row = rows.get(key)
        if row is None:
            rows[key] = row = model(preset=preset, key=key, **values)
            new.append(row)
            continue
        differ = {name for name, value in values.items() if getattr(row, name) != value}
        if differ:
            for name in differ:
                setattr(row, name, values[name])
            changed.append(row)
            fields |= differ
    model.objects.bulk_create(new)
    if changed:
        model.objects.bulk_update(changed, sorted(fields))
    return {key: rows[key] for key in wanted}


def load_presets(directory: Path = PRESETS_DIR) -> list[Preset]:
    """Load every *.json preset file of `directory`."""
    return [
        load_preset(json.loads(path.read_text()), source=path.name)
        for path in sorted(directory.glob("*.json"))
    ]
