"""Reads shared by views and the API: character lists, the sheet, pipeline progress."""

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q

from .models import Anchor, Character, Image, Pose, Preset

# Seed 000: curate 20–30 images for training, every anchor pose represented.
APPROVED_TARGET = (20, 30)


def presets_in_full():
    """Presets with their poses and variation specs, for the API."""
    return Preset.objects.prefetch_related("poses", "variations__anchor_pose")


def presets_for_form():
    """Presets with how many poses and variation specs each brings, for the new-character form."""
    return Preset.objects.annotate(
        pose_count=Count("poses", distinct=True), variation_count=Count("variations", distinct=True)
    )


def characters():
    """Characters, newest first, with their preset: look one up by slug in it."""
    return Character.objects.select_related("preset").order_by("-created_at")


def character_poses(character: Character):
    return character.poses.all()


def character_variations(character: Character):
    """The character's variation specs, in order, with their anchor pose."""
    return character.variations.select_related("anchor_pose")


def character_images(character: Character):
    return Image.objects.filter(character=character)


def images_with_labels():
    """Images with their pose and variation, as the API shows them."""
    return Image.objects.select_related("pose", "variation")


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


# --- Curation ----------------------------------------------------------------------------
GALLERY_SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "pose": ("pose__order", "-created_at"),
    "variation": ("variation__order", "-created_at"),
}


def gallery_images(
    character: Character,
    *,
    kind: str | None = None,
    pose: str | None = None,
    variation: str | None = None,
    review: str | None = None,
    starred: bool | None = None,
    sort: str = "newest",
):
    """The character's images for the gallery grid: filtered, sorted, only grid columns."""
    images = (
        Image.objects.filter(character=character)
        .select_related("pose", "variation", "source_image")
        .only(
            "id",
            "character_id",
            "kind",
            "review",
            "starred",
            "file",
            "thumbnail",
            "width",
            "height",
            "created_at",
            "prompt",
            "seed",
            "strength",
            "pose__label",
            "pose__key",
            "pose__order",
            "variation__label",
            "variation__key",
            "variation__order",
            "source_image__file",
            "source_image__thumbnail",
        )
        .annotate(is_anchor=Exists(Anchor.objects.filter(image=OuterRef("pk"))))
    )
    if kind:
        images = images.filter(kind=kind)
    if pose:
        images = images.filter(pose__key=pose)
    if variation:
        images = images.filter(variation__key=variation)
    if review:
        images = images.filter(review=review)
    if starred is not None:
        images = images.filter(starred=starred)
    return images.order_by(*GALLERY_SORTS.get(sort, GALLERY_SORTS["newest"]))


def gallery_images_in_full(character: Character, **filters):
    """The gallery's images with every column and their call, as the API lists them."""
    return gallery_images(character, **filters).select_related("call").defer(None)


@dataclass(frozen=True)
class PoseCount:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class CurationCounts:
    approved: int  # approved images, the picked anchors counted in
    rejected: int
    unreviewed: int
    total: int
    poses: list[PoseCount]
    target: tuple[int, int] = APPROVED_TARGET

    @property
    def missing_poses(self) -> list[str]:
        return [p.label for p in self.poses if p.count == 0]

    @property
    def advice(self) -> str:
        low, high = self.target
        if self.approved < low:
            advice = f"Approve {low - self.approved} more to reach {low}."
        elif self.approved > high:
            advice = f"{self.approved - high} over the {high} target: keep the most varied."
        else:
            advice = "Within the 20–30 target."
        if self.missing_poses:
            advice += f" Not represented yet: {', '.join(self.missing_poses)}."
        return advice


def curation_counts(character: Character) -> CurationCounts:
    """Approved images against the 20–30 target, every pose represented; anchors count in."""
    kept = Q(review=Image.Review.APPROVED) | Q(anchor_for__isnull=False)
    kept_ids = Image.objects.filter(character=character).filter(kept).values("id").distinct()
    totals = Image.objects.filter(character=character).aggregate(
        total=Count("id"),
        approved=Count("id", filter=Q(id__in=kept_ids)),
        rejected=Count("id", filter=Q(review=Image.Review.REJECTED) & ~Q(id__in=kept_ids)),
    )
    per_pose = dict(
        Image.objects.filter(id__in=kept_ids, pose__isnull=False)
        .values_list("pose_id")
        .annotate(n=Count("id"))
    )
    poses = [PoseCount(p.key, p.label, per_pose.get(p.id, 0)) for p in character.poses.all()]
    return CurationCounts(
        approved=totals["approved"],
        rejected=totals["rejected"],
        unreviewed=totals["total"] - totals["approved"] - totals["rejected"],
        total=totals["total"],
        poses=poses,
    )
