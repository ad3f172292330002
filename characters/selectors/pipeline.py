"""Where a character stands on the seven steps of the pipeline, each with its page."""

from dataclasses import dataclass

from django.db.models import Count, Q
from django.urls import reverse

from ..models import Character, Image
from .approval import APPROVED_TARGET
from .curation import CurationCounts, curation_counts


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    state: str  # "done", "current" or "todo"
    summary: str
    url: str | None = None  # None: the step has no page yet, so it is never offered
    next_label: str = ""


_STEP_ROUTES = {
    "anchors": "characters:anchors",
    "curate": "characters:gallery",
    "dataset": "datasets:character",
    "train": "training:character",
    "pin": "training:pin_edit",
}


def _step_urls(character: Character) -> dict[str, str | None]:
    return {key: step_url(character, key) for key, _, _ in STEPS}


def _reference_set_url(character: Character) -> str:
    """The newest usable version's page (its reference set and Approve), else training."""
    lora = character.loras.filter(status__in=["ready", "approved"]).order_by("-version").first()
    if lora is not None:
        return reverse("training:lora_detail", args=[lora.id])
    return reverse("training:character", args=[character.slug])


def step_url(character: Character, key: str) -> str | None:
    """The page of one pipeline step, or None while that step has no page. Only the
    reference set's reads the database (the gallery asks for the dataset's alone)."""
    if key == "variations":
        return character.get_absolute_url() + "#variations"
    if key == "reference_set":
        return _reference_set_url(character)
    return reverse(_STEP_ROUTES[key], args=[character.slug])


STEPS = [
    ("anchors", "Character sheet", "Next: pick the anchors"),
    ("variations", "Variations", "Next: variations"),
    ("curate", "Curate", "Next: review the images"),
    ("dataset", "Dataset", "Next: build the training set"),
    ("train", "Train", "Next: train the LoRA"),
    ("reference_set", "Reference set", "Next: the reference set"),
    ("pin", "Pin", "Next: pin the character"),
]


def pipeline_progress(character: Character, counts: CurationCounts | None = None) -> list[Step]:
    """Where the character stands on the seven steps of the pipeline, each with its page.
    The images, poses and anchors come from the curation counts (`counts`, when the page
    has them already)."""
    counts = counts or curation_counts(character)
    images = {
        "candidates": counts.kinds.get(Image.Kind.CANDIDATE, 0),
        "variations": counts.kinds.get(Image.Kind.VARIATION, 0),
        "references": counts.kinds.get(Image.Kind.REFERENCE, 0),
    }
    approved_count = counts.approved
    poses, anchors = len(counts.poses), counts.anchors
    specs = character.variations.count()
    exports = character.datasets.filter(exports__status="ready").count()
    job = character.training_jobs.order_by("-created_at").first()
    # Training is done once it made a LoRA, whatever has become of it since (approved, retired).
    loras = character.loras.aggregate(
        trained=Count("id", filter=Q(status__in=["ready", "approved", "retired"])),
        ready=Count("id", filter=Q(status="ready")),
        approved=Count("id", filter=Q(status="approved")),
    )
    pins = character.pins.count()
    low, high = APPROVED_TARGET

    done = [
        poses > 0 and anchors == poses,
        images["variations"] > 0,
        approved_count >= low,
        exports > 0,
        loras["trained"] > 0,
        # A version is approved on its LoRA page, after its reference set has been judged.
        loras["approved"] > 0,
        pins > 0,
    ]
    trained = ", ".join(
        f"{n} {word}"
        for n, word in ((loras["ready"], "ready"), (loras["approved"], "approved"))
        if n
    )
    if images["references"] == 0:
        reference_summary = "No reference set yet"
    else:
        reference_summary = f"{_plural(images['references'], 'reference image')}"
        reference_summary += (
            f" · {_plural(loras['approved'], 'version')} approved"
            if loras["approved"]
            else " · approve a version on its LoRA page"
        )
    summaries = [
        f"{anchors} of {poses} anchors picked · {_plural(images['candidates'], 'candidate')}",
        f"{_plural(images['variations'], 'variation image')} from {_plural(specs, 'spec')}",
        f"{approved_count} approved (target {low}–{high})",
        f"{_plural(exports, 'training set')} exported",
        (f"Last job {job.get_status_display().lower()}" if job else "No training yet")
        + (f" · LoRA {trained}" if trained else ""),
        reference_summary,
        f"Pinned: version {pins}" if pins else "Not pinned",
    ]
    urls = _step_urls(character)
    current = next((i for i, d in enumerate(done) if not d), None)
    next_labels = [next_label for _, _, next_label in STEPS]
    if not images["candidates"] and anchors < poses:  # nothing to pick from yet
        next_labels[0] = "Next: generate the character sheet"
    return [
        Step(
            key=key,
            label=label,
            state="done" if done[i] else ("current" if i == current else "todo"),
            summary=summaries[i],
            url=urls[key],
            next_label=next_labels[i],
        )
        for i, (key, label, _) in enumerate(STEPS)
    ]


def next_step(steps: list[Step]) -> Step | None:
    """The step to offer as the primary action: the current one, if it has a page."""
    current = next((s for s in steps if s.state == "current"), None)
    return current if current and current.url else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
