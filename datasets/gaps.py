"""“Fill the gap”: from a balance warning, a variations run that makes the missing shots.

A gap in a shot type becomes a variation spec whose prompt asks for that framing, edited
from the closest anchor (the one already nearest that framing); a missing pose becomes a
spec on that pose's own anchor. The run is planned by generation.runs like every other one,
so it is priced first and confirmed before anything is spent.
"""

from decimal import Decimal

from characters.models import Anchor, Character, ShotType, Variation
from characters.services import save_variation
from generation import runs

from .balance import SHOT_NAMES
from .models import Dataset

SHOT_PROMPTS = {
    "close": "close-up portrait, head and shoulders filling the frame, face clearly visible",
    "mid": "medium shot from the waist up, upper body filling the frame",
    "far": "full body shot from a distance, the whole figure visible head to toe with space "
    "around it",
}
# Re-framing is a significant change (seed 000: 0.6–0.7); a new take of a pose is moderate.
SHOT_STRENGTH = Decimal("0.65")
POSE_STRENGTH = Decimal("0.45")
SHOT_ORDER = ["close", "mid", "far"]
MAX_GAP_IMAGES = 20


class GapRefused(runs.RunRefused):
    """The gap cannot be filled by generation (no anchor to edit from...)."""


def _closest_anchor(character: Character, shot: str) -> Anchor:
    anchors = list(Anchor.objects.filter(character=character).select_related("image", "pose"))
    if not anchors:
        raise GapRefused(
            "Pick the character's anchors first: new shots are edited from the closest one."
        )

    def distance(anchor: Anchor) -> tuple[int, int]:
        kind = anchor.image.shot_type
        if kind not in SHOT_ORDER:
            return (9, anchor.pose.order)
        return (abs(SHOT_ORDER.index(kind) - SHOT_ORDER.index(shot)), anchor.pose.order)

    return min(anchors, key=distance)


def gap_variation(*, dataset: Dataset, shot: str = "", pose: str = "", count: int) -> Variation:
    """The variation spec that fills a gap (made once, reused and resized later)."""
    character = dataset.character
    if not 1 <= count <= MAX_GAP_IMAGES:
        raise GapRefused(f"Ask for 1 to {MAX_GAP_IMAGES} images to fill a gap.")
    if shot:
        if shot not in SHOT_PROMPTS:
            raise GapRefused(f"Unknown shot type “{shot}”: use close, mid or far.")
        anchor = _closest_anchor(character, shot)
        label = f"Fill the gap: {SHOT_NAMES[shot]} shots"
        prompt = f"{anchor.pose.prompt}, {SHOT_PROMPTS[shot]}"
        strength = SHOT_STRENGTH
    elif pose:
        anchor = (
            Anchor.objects.filter(character=character, pose__key=pose)
            .select_related("pose")
            .first()
        )
        if anchor is None:
            if not character.poses.filter(key=pose).exists():
                raise GapRefused(f"{character} has no pose “{pose}”.")
            raise GapRefused(f"Pick an anchor for the {pose} pose first, then fill the gap.")
        label = f"Fill the gap: {anchor.pose.label}"
        prompt = f"{anchor.pose.prompt}, a new take with a slightly different angle"
        strength = POSE_STRENGTH
    else:
        raise GapRefused("Say which gap to fill: a shot type or a pose.")
    existing = character.variations.filter(label=label).first()
    return save_variation(
        character=character,
        label=label,
        prompt=prompt,
        anchor_pose=anchor.pose.key,
        strength=strength,
        count=count,
        variation=existing,
    )


def plan_gap(
    *, dataset: Dataset, shot: str = "", pose: str = "", count: int, provider: str | None = None
) -> runs.Plan:
    """The priced variations run that fills a gap (the spec is saved; nothing is spent)."""
    variation = gap_variation(dataset=dataset, shot=shot, pose=pose, count=count)
    return runs.plan_run(
        character=dataset.character,
        kind="variations",
        provider=provider,
        variations=[variation.key],
        count=count,
    )


def shot_label(shot: str) -> str:
    return ShotType(shot).label if shot in ShotType.values else shot
