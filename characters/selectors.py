"""Reads shared by views and the API: character lists, the sheet, pipeline progress."""

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q

from .models import Anchor, Character, Image, Pose

# Seed 000: curate 20–30 images for training, every anchor pose represented.
APPROVED_TARGET = (20, 30)


def characters_for_list():
    """Characters with the counts the list page shows, in one query."""
    return (
        Character.objects.select_related("preset", "created_by")
        .annotate(
            pose_count=Count("poses", distinct=True),
            anchor_count=Count("anchors", distinct=True),
            image_count=Count("images", distinct=True),
            approved_count=Count(
                "images", filter=Q(images__review=Image.Review.APPROVED), distinct=True
            ),
        )
        .order_by("-created_at")
    )


def character_sheet(character: Character) -> list[tuple[Pose, Image | None]]:
    """Each pose of the character with its picked anchor image, or None."""
    anchors = {
        a.pose_id: a.image
        for a in Anchor.objects.filter(character=character).select_related("image")
    }
    return [(pose, anchors.get(pose.pk)) for pose in character.poses.all()]


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    state: str  # "done", "current" or "todo"
    summary: str


def pipeline_progress(character: Character) -> list[Step]:
    """Where the character stands on the seven steps of the pipeline."""
    images = character.images.aggregate(
        candidates=Count("id", filter=Q(kind=Image.Kind.CANDIDATE)),
        variations=Count("id", filter=Q(kind=Image.Kind.VARIATION)),
        approved=Count("id", filter=Q(review=Image.Review.APPROVED)),
        references=Count("id", filter=Q(kind=Image.Kind.REFERENCE)),
        approved_references=Count(
            "id", filter=Q(kind=Image.Kind.REFERENCE, review=Image.Review.APPROVED)
        ),
    )
    poses = character.poses.count()
    anchors = character.anchors.count()
    specs = character.variations.count()
    exports = character.datasets.filter(exports__status="ready").count()
    job = character.training_jobs.order_by("-created_at").first()
    ready_loras = character.loras.filter(status="ready").count()
    pinned = hasattr(character, "pin")
    low, high = APPROVED_TARGET

    done = [
        poses > 0 and anchors == poses,
        images["variations"] > 0,
        images["approved"] >= low,
        exports > 0,
        ready_loras > 0,
        images["approved_references"] > 0,
        pinned,
    ]
    summaries = [
        f"{anchors} of {poses} anchors picked · {images['candidates']} candidates",
        f"{images['variations']} variation images from {specs} specs",
        f"{images['approved']} approved (target {low}–{high})",
        f"{exports} training set{'s' if exports != 1 else ''} exported",
        (f"Last job {job.get_status_display().lower()}" if job else "No training yet")
        + (f" · {ready_loras} LoRA ready" if ready_loras else ""),
        f"{images['approved_references']} of {images['references']} references approved",
        "Pinned for downstream pipelines" if pinned else "Not pinned",
    ]
    keys = [
        ("anchors", "Character sheet"),
        ("variations", "Variations"),
        ("curate", "Curate"),
        ("dataset", "Dataset"),
        ("train", "Train"),
        ("reference_set", "Reference set"),
        ("pin", "Pin"),
    ]
    current = next((i for i, d in enumerate(done) if not d), None)
    return [
        Step(
            key=key,
            label=label,
            state="done" if done[i] else ("current" if i == current else "todo"),
            summary=summaries[i],
        )
        for i, (key, label) in enumerate(keys)
    ]


def character_detail(slug: str) -> Character:
    return (
        Character.objects.select_related("preset")
        .prefetch_related(
            Prefetch("poses", queryset=Pose.objects.order_by("order", "key")),
            "variations__anchor_pose",
        )
        .get(slug=slug)
    )
