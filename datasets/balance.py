"""The balance report of a dataset: counts by shot type, pose, source and concept, and seed
002's guidance as warnings that say what to do ("add 3 far shots").

Seed 002: at least 3 images per shot type, 15+ images (20–30 ideal), close 30–40%,
mid 40–50%, far 20–30%; a concept in over 70% of captions is learned as part of the
character.
"""

from collections import Counter
from dataclasses import dataclass, field

from characters.likeness.references import current_pin
from characters.models import ShotType

from .concepts import current_taxonomy
from .identity import IdentitySpread, identity_spread
from .models import Dataset
from .selectors import dataset_items

MIN_PER_SHOT = 3
MIN_IMAGES = 15
IDEAL_IMAGES = (20, 30)
SHOT_SHARES = {"close": (0.30, 0.40), "mid": (0.40, 0.50), "far": (0.20, 0.30)}
SHOTS = ("close", "mid", "far")
COMMON_CONCEPT = 0.70
SHOT_NAMES = {"close": "close-up", "mid": "mid", "far": "far"}


@dataclass(frozen=True)
class Gap:
    """What "fill the gap" would generate: images of a shot type or of a pose."""

    count: int
    shot: str = ""
    pose: str = ""


@dataclass(frozen=True)
class Exclusion:
    """What a plan's “exclude” step leaves out: `count` included images of a shot type."""

    count: int
    shot: str


@dataclass(frozen=True)
class Warning:
    code: str
    message: str
    action: str
    level: str = "warning"  # or "info"
    gap: Gap | None = None
    exclude: Exclusion | None = None


@dataclass(frozen=True)
class Target:
    """Where the plan lands: images per shot type (unknown ones as they are)."""

    close: int
    mid: int
    far: int
    unknown: int

    @property
    def total(self) -> int:
        return self.close + self.mid + self.far + self.unknown


@dataclass
class Report:
    total: int
    by_shot: dict[str, int]
    by_pose: dict[str, int]
    by_source: dict[str, int]
    by_concept: list[dict]
    warnings: list[Warning] = field(default_factory=list)
    identity: IdentitySpread | None = None

    @property
    def shot_shares(self) -> dict[str, float]:
        known = sum(self.by_shot[s] for s in SHOTS)
        return {s: (self.by_shot[s] / known if known else 0.0) for s in SHOTS}

    @property
    def shot_rows(self) -> list[dict]:
        """One row per shot type for the page: count, share and the share to aim for."""
        shares = self.shot_shares
        rows = []
        for shot in (*SHOTS, "unknown"):
            low, high = SHOT_SHARES.get(shot, (None, None))
            share = round(100 * shares.get(shot, 0))
            rows.append(
                {
                    "shot": shot,
                    "count": self.by_shot[shot],
                    "share": share,
                    "target": f"{low:.0%}–{high:.0%}" if low is not None else "",
                    "ok": low is None or (low * 100 <= share <= high * 100),
                }
            )
        return rows


def _shots(n: int, shot: str) -> str:
    return f"{n} {SHOT_NAMES[shot]} shot{'s' if n != 1 else ''}"


def balance_report(dataset: Dataset, items=None) -> Report:
    """Counts of the included items and what to do about the gaps."""
    items = [i for i in (items if items is not None else dataset_items(dataset)) if i.included]
    taxonomy = current_taxonomy()
    by_shot = dict.fromkeys(ShotType.values, 0)
    by_pose: Counter = Counter()
    by_source: Counter = Counter()
    concepts: Counter = Counter()
    for item in items:
        image = item.image
        by_shot[image.shot_type or ShotType.UNKNOWN] += 1
        by_pose[image.pose.key if image.pose_id else "none"] += 1
        # An anchor is the sheet's pick, not “a candidate”: counted as its own source.
        by_source["anchor" if getattr(item, "is_anchor", False) else image.kind] += 1
        concepts.update(set(item.concepts))
    total = len(items)
    report = Report(
        total=total,
        by_shot=by_shot,
        by_pose=dict(by_pose),
        by_source=dict(by_source),
        by_concept=[
            {
                "concept": name,
                "category": taxonomy.category_of(name),
                "count": n,
                "frequency": round(n / total, 2) if total else 0,
            }
            for name, n in concepts.most_common()
        ],
    )
    pin = current_pin(dataset.character)  # its images are the reference, like the anchors
    report.identity = identity_spread(items, reference_ids=pin[1] if pin else ())
    report.warnings = _warnings(dataset, report)
    return report


def _fits(counts: tuple[int, int, int]) -> bool:
    known = sum(counts)
    for shot, n in zip(SHOTS, counts, strict=True):
        low, high = SHOT_SHARES[shot]
        if n < MIN_PER_SHOT or not low * known - 1e-9 <= n <= high * known + 1e-9:
            return False
    return True


def plan_target(by_shot: dict[str, int]) -> Target | None:
    """The fewest changes (images added plus images left out) that bring the set inside
    20–30 images with every shot type inside its share and at least 3 of each; ties go to
    fewer paid images, then to the larger set. None when no such set exists (too many
    images of unknown shot type)."""
    now = tuple(by_shot.get(s, 0) for s in SHOTS)
    unknown = by_shot.get(ShotType.UNKNOWN, 0)
    low, high = IDEAL_IMAGES
    best, best_key = None, None
    for close in range(0, high + 1):
        for mid in range(0, high + 1 - close):
            for far in range(0, high + 1 - close - mid):
                total = close + mid + far + unknown
                if not low <= total <= high or not _fits((close, mid, far)):
                    continue
                added = sum(max(0, n - c) for n, c in zip((close, mid, far), now, strict=True))
                left = sum(max(0, c - n) for n, c in zip((close, mid, far), now, strict=True))
                key = (added + left, added, -total)
                if best_key is None or key < best_key:
                    best, best_key = Target(close, mid, far, unknown), key
    return best


def _warnings(dataset: Dataset, report: Report) -> list[Warning]:
    """The plan (shot types and size, one step each), then what else to look at."""
    poses = list(dataset.character.poses.all())
    missing = [p for p in poses if report.by_pose.get(p.key, 0) == 0] if report.total else []
    target = plan_target(report.by_shot)
    # New takes of a missing pose are edits of its anchor, so they share its shot type: they
    # take the place of that many of the plan's added shots of that type, never add to them.
    pose_shots = _pose_shots(dataset, missing)
    room = {s: max(0, getattr(target, s) - report.by_shot[s]) if target else 0 for s in SHOTS}
    pose_steps = []
    for pose in missing:
        shot = pose_shots.get(pose.id, "far")
        fits = room[shot] >= 2
        if fits:
            room[shot] -= 2
        pose_steps.append(
            Warning(
                f"missing_pose_{pose.key}",
                f"No image of the {pose.label} pose."
                + ("" if fits else " The plan has no room left: swap 2 other images for it."),
                f"Add 2 {pose.label} images.",
                level="warning" if fits else "info",
                gap=Gap(count=2, pose=pose.key),
            )
        )
    warnings = _plan_steps(report, target, room) + pose_steps
    if report.by_shot[ShotType.UNKNOWN]:
        n = report.by_shot[ShotType.UNKNOWN]
        warnings.append(
            Warning(
                "unknown_shot",
                f"{n} image{'s have' if n != 1 else ' has'} no shot type (no face found).",
                "Set the shot type by hand on each one.",
            )
        )
    if report.identity and report.identity.outliers and report.identity.rough:
        n = len(report.identity.outliers)
        warnings.append(
            Warning(
                "identity_stand_apart",
                f"{n} image{'s stand' if n != 1 else ' stands'} apart from the rest of the set "
                "in colour and shape (the rough measure: it cannot tell people apart).",
                "Look at each in Identity; exclude one only if it is not the character.",
                level="info",
            )
        )
    elif report.identity and report.identity.outliers:
        n = len(report.identity.outliers)
        warnings.append(
            Warning(
                "identity_outliers",
                f"{n} image{'s do' if n != 1 else ' does'} not look like the character "
                "(another person, no face, a face too small, or drift).",
                "Exclude them (one click in Identity), or keep them on purpose.",
            )
        )
    warnings += _concept_notes(report)
    return warnings


def _pose_shots(dataset: Dataset, poses) -> dict[int, str]:
    from characters.models import Anchor

    if not poses:
        return {}
    anchors = Anchor.objects.filter(character_id=dataset.character_id, pose__in=poses).values_list(
        "pose_id", "image__shot_type"
    )
    return {pose_id: shot for pose_id, shot in anchors if shot in SHOTS}


def _plan_steps(report: Report, target: Target | None, room: dict[str, int]) -> list[Warning]:
    """One step per shot type to change: add (what is left of the room after the missing
    poses) or exclude; headed by where the plan lands."""
    if target is None:
        return _old_style_steps(report)
    total, shots = report.total, report.by_shot
    steps = []
    for shot in SHOTS:
        now, goal = shots[shot], getattr(target, shot)
        low, high = SHOT_SHARES[shot]
        if goal > now and room[shot] > 0:
            code = f"few_{shot}" if now < MIN_PER_SHOT else f"low_{shot}"
            steps.append(
                Warning(
                    code,
                    _shot_state(shot, shots, low, high),
                    f"Add {_shots(room[shot], shot)}.",
                    gap=Gap(count=min(room[shot], 20), shot=shot),
                )
            )
        elif goal < now:
            steps.append(
                Warning(
                    f"high_{shot}",
                    _shot_state(shot, shots, low, high),
                    f"Exclude {_shots(now - goal, shot)}.",
                    exclude=Exclusion(count=now - goal, shot=shot),
                )
            )
    if target.total != total or any(getattr(target, s) != shots[s] for s in SHOTS):
        where = ", ".join(f"{getattr(target, s)} {SHOT_NAMES[s]}" for s in SHOTS)
        unknown = f", {target.unknown} unknown" if target.unknown else ""
        steps.insert(
            0,
            Warning(
                "plan",
                f"{total} image{'s' if total != 1 else ''} now. The plan below ends at "
                f"{target.total} ({where}{unknown}): inside 20–30 with each shot type in its "
                "share.",
                "Take each step with its button.",
                level="info",
            ),
        )
    return steps


def _shot_state(shot: str, shots: dict[str, int], low: float, high: float) -> str:
    known = sum(shots[s] for s in SHOTS)
    count = shots[shot]
    if count < MIN_PER_SHOT:
        return (
            f"{count} {SHOT_NAMES[shot]} shot{'s' if count != 1 else ''}: "
            f"at least {MIN_PER_SHOT} of each shot type."
        )
    share = count / known if known else 0.0
    return (
        f"{SHOT_NAMES[shot].capitalize()} shots are {share:.0%} of the set; "
        f"aim for {low:.0%}–{high:.0%}."
    )


def _concept_notes(report: Report) -> list[Warning]:
    notes = []
    for entry in report.by_concept:
        if report.total >= 5 and entry["frequency"] > COMMON_CONCEPT:
            notes.append(
                Warning(
                    f"common_{entry['concept']}",
                    f"“{entry['concept'].replace('_', ' ')}” is in {entry['frequency']:.0%} of "
                    "captions: the LoRA will learn it as part of the character.",
                    "Vary it in the pictures, or leave it out of the captions if it is part of "
                    "the character.",
                    level="info",
                )
            )
    return notes


def _old_style_steps(report: Report) -> list[Warning]:
    """When no plan fits (most images have no shot type yet): the size alone."""
    warnings = []
    total = report.total
    low, high = IDEAL_IMAGES
    if total < MIN_IMAGES:
        warnings.append(
            Warning(
                "too_few",
                f"Only {total} image{'s' if total != 1 else ''}: 15 is the minimum, 20–30 ideal.",
                f"Add {low - total} images (at least {MIN_IMAGES - total}).",
            )
        )
    elif total < low:
        warnings.append(
            Warning(
                "below_ideal",
                f"{total} images: 20–30 is ideal.",
                f"Add {low - total} more images.",
                level="info",
            )
        )
    elif total > high:
        warnings.append(
            Warning(
                "above_ideal",
                f"{total} images, over the 20–30 ideal: fine if they are varied.",
                "Leave out near-repeats rather than adding more of the same.",
                level="info",
            )
        )
    return warnings
