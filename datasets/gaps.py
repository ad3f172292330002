"""“Fill the gap”: from a balance warning, a priced run that makes the missing shots.

A missing shot type (close, mid) is made by image-to-image edits of a crop of the closest
anchor: an edit keeps its source's layout, so the crop (around the face, or the head of a
figure) gives the framing and the anchor gives the look. Text-to-image would frame right but
lose the character (there is no LoRA yet); a multi-reference edit keeps the character but
copies its references' full-body layout. The prompt is the shot's framing, then the base and
pose prompts without their own framing words (“full body… head to toe”).

A missing pose is a new take of that pose's anchor. Gap runs make no variation spec: the run
keeps what it was asked for (`params["gap"]`), and its images carry the gap's shot type when
no face says otherwise. Planned like every run, so it is priced and confirmed first.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from characters.models import Anchor, Character, Image, ShotType
from generation import runs
from generation.inputs import file_ref
from generation.models import GenerationRun, Task

from . import framing
from .balance import SHOT_NAMES
from .models import Dataset

# A crop already has the framing: a moderate edit (seed 000: 0.5–0.55) redraws its detail.
SHOT_STRENGTH = Decimal("0.55")
POSE_STRENGTH = Decimal("0.45")  # a new take of a pose: moderate
SHOT_ORDER = ["close", "mid", "far"]
MAX_GAP_IMAGES = 20
NEW_TAKE = "a new take with a slightly different angle"


class GapRefused(runs.RunRefused):
    """The gap cannot be filled by generation (no anchor to edit from...)."""


@dataclass
class GapPlan:
    """A priced gap run and what the confirm page says about it."""

    plan: runs.Plan
    dataset: Dataset
    shot: str
    pose: str
    count: int
    anchor: Anchor
    prompt: str
    strength: Decimal
    source: str  # how the picture sent to the provider was made
    source_name: str  # its storage name
    source_bytes: bytes | None  # written at launch (None: the anchor's own file)

    @property
    def what(self) -> str:
        """“close-up shots” or “Seated images”, for headings and messages."""
        if self.shot:
            return f"{SHOT_NAMES[self.shot]} shots"
        return f"{self.anchor.pose.label} images"

    @property
    def params(self) -> dict:
        return {
            "dataset_id": self.dataset.id,
            "gap": {
                "shot": self.shot,
                "pose": self.pose,
                "count": self.count,
                "anchor_image_id": self.anchor.image_id,
                "strength": str(self.strength),
            },
        }


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


def plan_gap(
    *, dataset: Dataset, shot: str = "", pose: str = "", count: int, provider: str | None = None
) -> GapPlan:
    """The priced run that fills a gap; nothing is saved or spent."""
    character = dataset.character
    if not 1 <= count <= MAX_GAP_IMAGES:
        raise GapRefused(f"Ask for 1 to {MAX_GAP_IMAGES} images to fill a gap.")
    if shot:
        if shot not in framing.SHOT_PHRASES:
            raise GapRefused(f"Unknown shot type “{shot}”: use close, mid or far.")
        anchor = _closest_anchor(character, shot)
        prompt = framing.gap_prompt(
            shot=shot, base_prompt=character.base_prompt, pose_prompt=anchor.pose.prompt
        )
        with anchor.image.file.open("rb") as handle:
            content, how = framing.reframed(handle.read(), shot)
        source_name = f"gap-sources/anchor-{anchor.image_id}-{shot}.png"
        source_bytes = content
        strength = SHOT_STRENGTH
        label = f"Fill the gap: {SHOT_NAMES[shot]} shots from the {anchor.pose.label} anchor"
    elif pose:
        anchor = (
            Anchor.objects.filter(character=character, pose__key=pose)
            .select_related("pose", "image")
            .first()
        )
        if anchor is None:
            if not character.poses.filter(key=pose).exists():
                raise GapRefused(f"{character} has no pose “{pose}”.")
            raise GapRefused(f"Pick an anchor for the {pose} pose first, then fill the gap.")
        prompt = ", ".join(
            p.strip() for p in (character.base_prompt, anchor.pose.prompt, NEW_TAKE) if p.strip()
        )
        how, source_name, source_bytes = "the whole picture", anchor.image.file.name, None
        strength = POSE_STRENGTH
        label = f"Fill the gap: {anchor.pose.label} images"
    else:
        raise GapRefused("Say which gap to fill: a shot type or a pose.")
    source = f"{how} of the {anchor.pose.label} anchor (image #{anchor.image_id})"
    plan = runs.Plan(kind=GenerationRun.Kind.VARIATIONS, provider=runs.usable_provider(provider))
    image = {
        "character_id": character.id,
        "kind": Image.Kind.VARIATION,
        "pose_id": anchor.pose_id,
        "source_image_id": anchor.image_id,
        "shot": shot,
    }
    runs.add_calls(
        plan,
        Task.IMAGE_TO_IMAGE,
        label,
        count,
        {"prompt": prompt, "image_url": file_ref(source_name), "strength": float(strength)},
        image,
    )
    return GapPlan(
        plan=plan,
        dataset=dataset,
        shot=shot,
        pose=pose,
        count=count,
        anchor=anchor,
        prompt=prompt,
        strength=strength,
        source=source,
        source_name=source_name,
        source_bytes=source_bytes,
    )


def launch_gap(*, gap: GapPlan, created_by: AbstractBaseUser | None) -> GenerationRun:
    """Store the gap's source picture (once per anchor and shot) and launch the run."""
    if gap.source_bytes is not None and not default_storage.exists(gap.source_name):
        stored = default_storage.save(gap.source_name, ContentFile(gap.source_bytes))
        if stored != gap.source_name:  # saved meanwhile by another launch: point at ours
            for call in gap.plan.calls:
                call.inputs["image_url"] = file_ref(stored)
    return runs.launch_run(
        plan=gap.plan, character=gap.dataset.character, created_by=created_by, params=gap.params
    )


def shot_label(shot: str) -> str:
    return ShotType(shot).label if shot in ShotType.values else shot
