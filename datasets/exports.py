"""Exports: a dataset frozen into a zip a trainer accepts, and never changed afterwards.

    start_export (web) ─ snapshot of the included items ─▶ building ─ build_export (worker) ─▶ ready
                                                                      └─▶ failed (error says why)

The zip is flat, the layout kohya_ss, ai-toolkit, fal's flux-lora-fast-training and
Replicate's ostris/flux-dev-lora-trainer all accept: `0001_front.jpg` beside `0001_front.txt`
(its caption). Beside them: seed 002's metadata.json, shots.json and concepts.json, a
manifest.json naming every file with its sha256, and train/ with ready configs for
self-hosted training. Images are resized to the export's resolution (longest side), never
upscaled. The zip is written by lorastudio.archives (as pin packs are): to a temporary file on
disk, one image at a time, then streamed into storage (local or S3), never whole in memory.
"""

import hashlib
import io
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from characters.selectors import likeness_scores_by_image
from generation.runs import reference_suite
from lorastudio import archives, audit, queueing, quotas
from lorastudio.errors import Refusal
from lorastudio.models import AuditEvent

from . import captions, training_configs
from .balance import balance_report
from .concepts import current_taxonomy
from .models import DEFAULT_RESOLUTION, Dataset, DatasetExport
from .selectors import dataset_items, export_warnings, pose_word, rendered_caption

log = logging.getLogger(__name__)
FORMAT = "lorastudio-export/1"
RESOLUTION_RANGE = (256, 4096)
JPEG_QUALITY = 95
CHUNK = 8  # images decoded at once (two threads): bounds memory whatever the dataset size
TOP_CONCEPTS = 15
# An export still building this long after its task was sent lost its message (or its worker):
# longer than a big build takes, and a second build of the same export keeps only one zip.
LOST_AFTER = timedelta(minutes=15)


class ExportRefused(Refusal):
    """The dataset cannot be exported as it is; the message says what to fix."""


class ExportFailed(Exception):
    """Building the zip failed for a reason the user can act on."""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:30]


def _file_stem(n: int, item) -> str:
    image = item.image
    label = _slug(image.pose.key) if image.pose_id else ""
    if not label and image.shot_type in ("close", "mid", "far"):
        label = image.shot_type
    return f"{n:04d}_{label or 'image'}"


@transaction.atomic
def start_export(
    *,
    dataset: Dataset,
    created_by: AbstractBaseUser | None = None,
    resolution: int = DEFAULT_RESOLUTION,
    enqueue: bool = True,
    accept_warnings: bool = False,
) -> DatasetExport:
    """Freeze what the dataset holds now and queue the zip to be built by a worker.

    If nothing changed since an export that is ready or being built, that export is returned
    (`reused` is True) and nothing new is built or counted against the user's quota.

    Empty captions, captions without the trigger word exactly once and unknown shot types
    refuse the export until `accept_warnings` says the user has seen them."""
    low, high = RESOLUTION_RANGE
    if not low <= resolution <= high:
        raise ExportRefused(f"Choose a resolution from {low} to {high} pixels (1024 is usual).")
    # One export decision per dataset at a time: the same export asked for twice at once (a
    # double click, a request sent again) waits here, then finds the first and reuses it.
    Dataset.objects.select_for_update().only("id").get(id=dataset.id)
    items = list(dataset_items(dataset, included_only=True))
    if not items:
        raise ExportRefused("This dataset has no included images: include some, then export.")
    trigger = dataset.character.trigger_word
    warnings = export_warnings(dataset, items)
    if warnings and not accept_warnings:
        raise ExportRefused(
            "Before exporting: "
            + " ".join(w.message for w in warnings)
            + " Fix them, or tick “Export anyway” (API: accept_warnings) to go on.",
            extra={
                "warnings": [
                    {"code": w.code, "message": w.message, "image_ids": w.image_ids}
                    for w in warnings
                ],
                "problems": [
                    f"image #{item.image_id}: {problem}"
                    for item in items
                    if (
                        problem := captions.trigger_problem(
                            rendered_caption(dataset, item), trigger
                        )
                    )
                ],
            },
        )
    taxonomy = current_taxonomy()
    scores = likeness_scores_by_image([item.image_id for item in items])
    entries = []
    for n, item in enumerate(items, start=1):
        stem, image = _file_stem(n, item), item.image
        entries.append(
            {
                "file": f"{stem}.jpg",
                "caption_file": f"{stem}.txt",
                "image_id": image.id,
                "item_id": item.id,
                "source": image.kind,
                "storage_name": image.file.name,
                "caption": rendered_caption(dataset, item),
                "raw_caption": item.caption,
                "shot_type": image.shot_type,
                "shot_source": image.shot_source,
                "face_ratio": float(image.face_ratio) if image.face_ratio is not None else None,
                "pose": image.pose.key if image.pose_id else "",
                "pose_label": pose_word(image),
                "concepts": taxonomy.extract(item.caption),
                "original_sha256": image.sha256,
                # Every score of the image (the shown one first): measure, model, reference.
                "likeness": scores.get(image.id, []),
            }
        )
    report = balance_report(dataset, items)
    manifest = {
        "format": FORMAT,
        "dataset": {"id": dataset.id, "name": dataset.name},
        "character": {
            "slug": dataset.character.slug,
            "name": dataset.character.name,
            "trigger_word": trigger,
        },
        "caption_template": dataset.caption_template,
        "resolution": resolution,
        "taxonomy": [key for key, _ in taxonomy.categories],
        "warnings": [w.message for w in report.warnings],
        "accepted_warnings": [w.message for w in warnings],
        "images": entries,
    }
    fingerprint = hashlib.sha256(
        json.dumps(manifest, sort_keys=True, cls=DjangoJSONEncoder).encode()
    ).hexdigest()
    same = (
        dataset.exports.filter(
            fingerprint=fingerprint,
            status__in=[DatasetExport.Status.READY, DatasetExport.Status.BUILDING],
        )
        .order_by("-created_at")
        .first()
    )
    if same is not None:
        same.reused = True
        return same
    quotas.take(user=created_by, kind="export")
    export = DatasetExport.objects.create(
        dataset=dataset,
        status=DatasetExport.Status.BUILDING,
        resolution=resolution,
        image_count=len(entries),
        created_by=created_by,
        fingerprint=fingerprint,
        manifest=manifest,
    )
    export.reused = False
    audit.record(
        AuditEvent.Action.EXPORT_MADE,
        f"exported {dataset.name} of {dataset.character.name} ({len(entries)} images)",
        actor=created_by,
        target=f"export:{export.id}",
    )
    if enqueue:
        from .tasks import build_export as task

        queueing.enqueue(task, str(export.id))
    return export


def requeue_lost_exports() -> int:
    """Queue again the build of exports still building long after their task was sent."""
    from .tasks import build_export as task

    return queueing.requeue_stale(
        DatasetExport.objects.filter(status=DatasetExport.Status.BUILDING),
        task=task,
        after=LOST_AFTER,
    )


def _resized_jpeg(storage_name: str, resolution: int) -> tuple[bytes, dict]:
    """The picture as a JPEG whose longest side is at most `resolution` (never upscaled)."""
    with default_storage.open(storage_name, "rb") as handle, PILImage.open(handle) as source:
        original = source.size
        source.draft("RGB", (resolution, resolution))  # JPEG: decode at a smaller scale
        image = ImageOps.exif_transpose(source).convert("RGB")
        if max(image.size) > resolution:
            # Pillow's bicubic is antialiased when shrinking: Lanczos's sharpness for 1/3 less time.
            image.thumbnail((resolution, resolution), PILImage.Resampling.BICUBIC)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue(), {
        "width": image.width,
        "height": image.height,
        "original_width": original[0],
        "original_height": original[1],
    }


def _read(entry: dict, resolution: int):
    try:
        return _resized_jpeg(entry["storage_name"], resolution), None
    except FileNotFoundError:
        return None, "its file is missing from storage"
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        log.warning("Export: %s could not be read as an image: %s", entry["storage_name"], exc)
        return None, "it could not be read as an image (damaged or cut short)"


def _json(value) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def _write(export: DatasetExport, archive: archives.ZipWriter) -> dict:
    """Write the export's files (every entry dated as the export, not as the build); return
    the final manifest."""
    manifest = dict(export.manifest)
    entries, resolution = manifest["images"], export.resolution
    created = export.created_at.astimezone(UTC)
    written, skipped = [], []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, len(entries), CHUNK):
            chunk = entries[start : start + CHUNK]
            for entry, (result, problem) in zip(
                chunk, pool.map(lambda e: _read(e, resolution), chunk), strict=True
            ):
                if result is None:  # one bad picture does not sink the others
                    log.warning(
                        "Export %s skips image %s: %s", export.id, entry["image_id"], problem
                    )
                    skipped.append({"image_id": entry["image_id"], "reason": problem})
                    continue
                data, size = result
                sha = archive.add(entry["file"], data, compress=False)
                archive.add(entry["caption_file"], (entry["caption"] + "\n").encode())
                written.append({**_public(entry), **size, "sha256": sha})
    if not written:
        raise ExportFailed(
            "None of the images could be read: "
            + "; ".join(f"#{s['image_id']} {s['reason']}" for s in skipped[:5])
        )
    character, trigger = manifest["character"], manifest["character"]["trigger_word"]
    taxonomy = current_taxonomy()
    shots = {"close": 0, "mid": 0, "far": 0, "unknown": 0}
    concept_counts: dict[str, int] = {}
    for entry in written:
        shots[entry["shot_type"] if entry["shot_type"] in shots else "unknown"] += 1
        for concept in entry["concepts"]:
            concept_counts[concept] = concept_counts.get(concept, 0) + 1
    total = len(written)
    top = sorted(concept_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CONCEPTS]
    archive.add(
        "metadata.json",
        _json(
            {
                "person": character["name"],
                "trigger_word": trigger,
                "total_images": total,
                "shot_distribution": shots,
                "top_concepts": [
                    {"concept": c, "count": n, "frequency": round(n / total, 2)} for c, n in top
                ],
                "created_at": created.isoformat(timespec="seconds"),
                "dataset": manifest["dataset"],
                "export_id": str(export.id),
                "resolution": resolution,
                "caption_template": manifest["caption_template"],
                "likeness": {e["file"]: e.get("likeness", []) for e in written},
            }
        ),
    )
    archive.add(
        "shots.json",
        _json(
            {
                e["file"]: {
                    "shot_type": e["shot_type"],
                    "face_ratio": e["face_ratio"],
                    "source": e["shot_source"] or None,
                }
                for e in written
            }
        ),
    )
    archive.add(
        "concepts.json",
        _json(
            {
                e["file"]: {
                    "raw_caption": e["raw_caption"],
                    "concepts": e["concepts"],
                    **taxonomy.grouped(e["concepts"]),
                }
                for e in written
            }
        ),
    )
    name = f"{character['slug']}-{manifest['dataset']['id']}"
    # The recipe the app trains this export with (the preset its shots suggest), and the
    # app's reference suite as samples: a run on one's own GPU lines up with the app's.
    recipe = training_configs.recipe_for(
        images=total,
        preset=training_configs.suggested_preset(shots),
        export_resolution=resolution,
    )
    samples = [
        training_configs.Sample(shot, prompt, seed)
        for shot, prompt, seed in reference_suite(
            base_prompt=export.dataset.character.base_prompt, trigger_word=trigger
        )
    ]
    archive.add(
        "train/ai-toolkit.yaml",
        training_configs.ai_toolkit_yaml(
            name=name, trigger=trigger, recipe=recipe, samples=samples
        ).encode(),
    )
    archive.add(
        "train/kohya_config.toml",
        training_configs.kohya_config_toml(name=name, recipe=recipe).encode(),
    )
    files_by_shot: dict[str, list[str]] = {}
    for entry in written:
        files_by_shot.setdefault(entry["shot_type"] or "unknown", []).append(entry["file"])
    archive.add(
        "train/kohya_dataset.toml",
        training_configs.kohya_dataset_toml(recipe=recipe, files_by_shot=files_by_shot).encode(),
    )
    captions_by_file = {e["file"]: e["caption"] for e in written}
    for shot in training_configs.shot_repeats(files_by_shot):
        archive.add(
            training_configs.kohya_shot_file(shot),
            training_configs.kohya_shot_metadata(files_by_shot[shot], captions_by_file).encode(),
        )
    archive.add("train/kohya_prompts.json", training_configs.kohya_prompts_json(samples).encode())
    defaults = training_configs.smart_defaults(total)
    final = {
        "format": FORMAT,
        "export_id": str(export.id),
        "created_at": created.isoformat(timespec="seconds"),
        "dataset": manifest["dataset"],
        "character": character,
        "caption_template": manifest["caption_template"],
        "resolution": resolution,
        "image_count": total,
        "images": written,
        "skipped": skipped,
        "warnings": manifest.get("warnings", []),
        "training_defaults": {
            "epochs": defaults.epochs,
            "batch_size": recipe.batch_size,
            "repeats": defaults.repeats,
            "steps": recipe.steps,
            "learning_rate": float(recipe.learning_rate),
            "rank": recipe.rank,
            "alpha": recipe.alpha,
        },
        "training_recipe": recipe.as_manifest(),
        "files": list(archive.files),
    }
    archive.add("manifest.json", _json(final))
    return final


def _public(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k != "storage_name"}


def build_export(export_id) -> DatasetExport | None:
    """Build a building export's zip into storage and mark it ready (or failed, saying why).

    Safe to run twice: only one build can move the export out of `building`."""
    export = (
        DatasetExport.objects.select_related("dataset__character")
        .filter(id=export_id, status=DatasetExport.Status.BUILDING)
        .first()
    )
    if export is None:
        return None
    name = export.archive.field.generate_filename(
        export, f"{export.manifest['character']['slug']}-{str(export.id)[:8]}.zip"
    )
    try:
        stored, manifest = archives.build(
            name, write=lambda archive: _write(export, archive), when=export.created_at
        )
    except ExportFailed as exc:
        return _fail(export, str(exc))
    except Exception as exc:  # storage down, disk full: the user sees why, the log has the trace
        log.exception("Export %s failed", export.id)
        return _fail(export, f"The zip could not be built or stored ({exc}). Try exporting again.")
    updated = DatasetExport.objects.filter(
        id=export.id, status=DatasetExport.Status.BUILDING
    ).update(
        status=DatasetExport.Status.READY,
        archive=stored.name,
        manifest=manifest,
        image_count=manifest["image_count"],
        size_bytes=stored.size,
        sha256=stored.sha256,
        error="",
        updated_at=timezone.now(),
    )
    if updated != 1:  # another worker finished it first: keep theirs, drop ours
        log.info("Export %s was finished by another worker", export.id)
        default_storage.delete(stored.name)
    export.refresh_from_db()
    return export


def _fail(export: DatasetExport, error: str) -> DatasetExport:
    DatasetExport.objects.filter(id=export.id, status=DatasetExport.Status.BUILDING).update(
        status=DatasetExport.Status.FAILED, error=error, updated_at=timezone.now()
    )
    export.refresh_from_db()
    return export
