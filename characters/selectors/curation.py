"""Curation counts: approved images against the target, per pose and per variation spec."""

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count

from ..models import Anchor, Character, Image
from .approval import APPROVED_TARGET, approved


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
    anchors: int = 0  # poses with a picked anchor
    kinds: dict[str, int] = field(default_factory=dict)  # images of each kind, any review
    # Pose id (None: no pose) → its images, and its approved ones: the gallery's groups by pose.
    images_by_pose: dict = field(default_factory=dict)
    approved_by_pose: dict = field(default_factory=dict)
    target: tuple[int, int] = APPROVED_TARGET

    @property
    def missing_poses(self) -> list[str]:
        return [p.label for p in self.poses if p.count == 0]

    @property
    def min_per_pose(self) -> int:
        """A balanced set: at least an even share of the low target per pose (and 2)."""
        return max(2, self.target[0] // max(len(self.poses), 1))

    @property
    def thin_poses(self) -> list[PoseCount]:
        """Represented, but with fewer approved images than a balanced set needs."""
        return [p for p in self.poses if 0 < p.count < self.min_per_pose]

    @property
    def heavy_poses(self) -> list[PoseCount]:
        """Poses holding more than a third of the approved images (with 3+ poses)."""
        if len(self.poses) < 3 or self.approved < 6:
            return []
        return [p for p in self.poses if p.count * 3 > self.approved]

    @property
    def balanced(self) -> bool:
        return not (self.missing_poses or self.thin_poses or self.heavy_poses)

    @property
    def advice(self) -> str:
        low, high = self.target
        if self.approved < low:
            advice = f"Approve {low - self.approved} more to reach {low}."
        elif self.approved > high:
            advice = f"{self.approved - high} over the {high} target: keep the most varied."
        elif self.balanced:
            advice = f"Within the {low}–{high} target, every pose represented."
        else:
            advice = f"Within the {low}–{high} target, but unbalanced."
        if self.missing_poses:
            advice += f" Not represented yet: {', '.join(self.missing_poses)}."
        if self.thin_poses:
            thin = ", ".join(f"{p.label} ({p.count})" for p in self.thin_poses)
            advice += f" Too few approved: {thin}; aim for {self.min_per_pose}+ each."
        if self.heavy_poses:
            heavy = ", ".join(f"{p.label} ({p.count})" for p in self.heavy_poses)
            advice += f" The set leans on {heavy}: approve other poses rather than more of these."
        return advice


def curation_counts(character: Character) -> CurationCounts:
    """Approved images against the 20–30 target, every pose represented; anchors count in.

    One walk down an index of the character's images, grouped by pose, review and kind as it
    is sorted: a few dozen groups whatever the number of images. The picked anchors (one per pose
    at most) are then counted as approved, and the unreviewed candidates of a pose whose anchor
    is picked are left out of "to review": they lost to it. Nothing is looked up per image.
    (Approved is approval.approved_condition's rule, applied to the groups; a test holds the
    two to the same numbers.)"""
    groups = (
        Image.objects.filter(character=character)
        .order_by()
        .values_list("pose_id", "review", "kind")
        .annotate(n=Count("*"))  # from image_curation_counts_idx alone
    )
    anchors = list(
        Anchor.objects.filter(character=character).values_list(
            "pose_id", "image__pose_id", "image__review", "image__kind"
        )
    )
    picked = {pose_id for pose_id, *_ in anchors}

    def lost(pose_id, kind) -> bool:
        return kind == Image.Kind.CANDIDATE and pose_id in picked

    totals = {"total": 0, "approved": 0, "rejected": 0, "unreviewed": 0}
    approved_by_pose: Counter = Counter()
    kinds: Counter = Counter()
    images_by_pose: Counter = Counter()
    for pose_id, review, kind, n in groups:
        totals["total"] += n
        kinds[kind] += n
        images_by_pose[pose_id] += n
        if review == Image.Review.APPROVED:
            totals["approved"] += n
            approved_by_pose[pose_id] += n
        elif review == Image.Review.REJECTED:
            totals["rejected"] += n
        elif not lost(pose_id, kind):
            totals["unreviewed"] += n
    for _, pose_id, review, kind in anchors:  # an anchor is approved whatever its review
        if review == Image.Review.APPROVED:
            continue
        totals["approved"] += 1
        approved_by_pose[pose_id] += 1
        if review == Image.Review.REJECTED:
            totals["rejected"] -= 1
        elif not lost(pose_id, kind):
            totals["unreviewed"] -= 1
    poses = [PoseCount(p.key, p.label, approved_by_pose[p.id]) for p in character.poses.all()]
    return CurationCounts(
        poses=poses,
        anchors=len(picked),
        kinds=dict(kinds),
        images_by_pose=dict(images_by_pose),
        approved_by_pose=dict(approved_by_pose),
        **totals,
    )


# Specs a narrow screen shows before "Show all": enough for a preset's first poses, few enough
# that a phone reaches the sections below the table (32 full cards are 8,700 px tall).
SPECS_SHOWN_FIRST = 8


@dataclass(frozen=True)
class SpecRow:
    """A variation spec with what it already has, for the spec table."""

    spec: object
    generated: int
    approved: int
    in_flight: int
    failed: int
    # Beyond the first SPECS_SHOWN_FIRST, folded away on narrow screens until asked for
    # (never a spec that is failing or on its way: those need a look).
    folded: bool = False

    @property
    def missing(self) -> bool:
        """Nothing usable yet: no image that is not rejected, and nothing on its way."""
        return self.generated == 0 and not self.in_flight

    @property
    def checked(self) -> bool:
        """Ticked by default: missing, and not just failed (that is retried from its run)."""
        return self.missing and not self.failed


def variation_rows(character: Character) -> list[SpecRow]:
    """Every variation spec with its generated, approved, in-flight and failed counts."""
    from generation.models import ProviderCall

    images = Image.objects.filter(character=character, variation__isnull=False)
    generated = dict(images.values_list("variation_id").annotate(n=Count("id")))
    kept = dict(approved(images).values_list("variation_id").annotate(n=Count("id")))
    calls = ProviderCall.objects.filter(
        run__character=character, run__kind="variations"
    ).values_list("status", "context__image__variation_id")
    in_flight: dict[int, int] = {}
    failed: dict[int, int] = {}
    for status, variation_id in calls:
        if status in (ProviderCall.Status.FAILED, ProviderCall.Status.UNKNOWN):
            failed[variation_id] = failed.get(variation_id, 0) + 1
        elif status not in ProviderCall.TERMINAL:
            in_flight[variation_id] = in_flight.get(variation_id, 0) + 1
    rows = []
    for n, v in enumerate(character.variations.select_related("anchor_pose")):
        failing = failed.get(v.id, 0) if not generated.get(v.id) else 0
        rows.append(
            SpecRow(
                spec=v,
                generated=generated.get(v.id, 0),
                approved=kept.get(v.id, 0),
                in_flight=in_flight.get(v.id, 0),
                failed=failing,
                folded=n >= SPECS_SHOWN_FIRST and not failing and not in_flight.get(v.id),
            )
        )
    return rows
