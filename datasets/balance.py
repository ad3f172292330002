"""The balance report of a dataset: counts by shot type, pose, source and concept, and seed
002's guidance as warnings that say what to do ("add 3 far shots").

Seed 002: at least 3 images per shot type, 15+ images (20–30 ideal), close 30–40%,
mid 40–50%, far 20–30%; a concept in over 70% of captions is learned as part of the
character.
"""

import math
from collections import Counter
from dataclasses import dataclass, field

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
class Warning:
    code: str
    message: str
    action: str
    level: str = "warning"  # or "info"
    gap: Gap | None = None


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


def _to_reach(count: int, total: int, share: float) -> int:
    """Images of a kind to add so that they make at least `share` of the total."""
    return max(0, math.ceil((share * total - count) / (1 - share) - 1e-9))


def _to_drop(count: int, total: int, share: float) -> int:
    """Images of a kind to leave out so that they make at most `share` of the total."""
    return max(0, math.ceil((count - share * total) / (1 - share) - 1e-9))


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
        by_source[image.kind] += 1
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
    report.identity = identity_spread(items)
    report.warnings = _warnings(dataset, report)
    return report


def _warnings(dataset: Dataset, report: Report) -> list[Warning]:
    warnings = []
    total, shots = report.total, report.by_shot
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
    known = sum(shots[s] for s in SHOTS)
    for shot in SHOTS:
        count, (share_low, share_high) = shots[shot], SHOT_SHARES[shot]
        share = count / known if known else 0.0
        need_min = max(0, MIN_PER_SHOT - count)
        need_share = _to_reach(count, known, share_low) if known >= MIN_PER_SHOT else 0
        if need_share > need_min:  # one warning per shot type: the larger need covers both
            warnings.append(
                Warning(
                    f"low_{shot}",
                    f"{SHOT_NAMES[shot].capitalize()} shots are {share:.0%} of the set; "
                    f"aim for {share_low:.0%}–{share_high:.0%}.",
                    f"Add {_shots(need_share, shot)}.",
                    gap=Gap(count=need_share, shot=shot),
                )
            )
        elif need_min:
            warnings.append(
                Warning(
                    f"few_{shot}",
                    f"{count} {SHOT_NAMES[shot]} shot{'s' if count != 1 else ''}: "
                    f"at least {MIN_PER_SHOT} of each shot type.",
                    f"Add {_shots(need_min, shot)}.",
                    gap=Gap(count=need_min, shot=shot),
                )
            )
        elif known >= MIN_PER_SHOT and share > share_high:
            drop = _to_drop(count, known, share_high)
            warnings.append(
                Warning(
                    f"high_{shot}",
                    f"{SHOT_NAMES[shot].capitalize()} shots are {share:.0%} of the set; "
                    f"aim for {share_low:.0%}–{share_high:.0%}.",
                    f"Exclude {_shots(drop, shot)}, or add more of the other shot types.",
                )
            )
    if shots[ShotType.UNKNOWN]:
        n = shots[ShotType.UNKNOWN]
        warnings.append(
            Warning(
                "unknown_shot",
                f"{n} image{'s have' if n != 1 else ' has'} no shot type (no face found).",
                "Set the shot type by hand on each one.",
            )
        )
    poses = list(dataset.character.poses.all())
    for pose in poses:
        if report.by_pose.get(pose.key, 0) == 0 and report.total:
            warnings.append(
                Warning(
                    f"missing_pose_{pose.key}",
                    f"No image of the {pose.label} pose.",
                    f"Add 2 {pose.label} images.",
                    gap=Gap(count=2, pose=pose.key),
                )
            )
    if report.identity and report.identity.outliers:
        n = len(report.identity.outliers)
        warnings.append(
            Warning(
                "identity_outliers",
                f"{n} image{'s do' if n != 1 else ' does'} not look like the character "
                "(another person, no face, a face too small, or drift).",
                "Exclude them (one click in Identity), or keep them on purpose.",
            )
        )
    for entry in report.by_concept:
        if total >= 5 and entry["frequency"] > COMMON_CONCEPT:
            warnings.append(
                Warning(
                    f"common_{entry['concept']}",
                    f"“{entry['concept'].replace('_', ' ')}” is in {entry['frequency']:.0%} of "
                    "captions: the LoRA will learn it as part of the character.",
                    "Vary it in the pictures, or leave it out of the captions if it is part of "
                    "the character.",
                    level="info",
                )
            )
    return warnings
