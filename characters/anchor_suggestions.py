"""Suggest the closest anchor pose for a new variation prompt (seed 000, "Anchor Selection Logic").

Seed 000: "smaller edit distance = higher consistency", so a variation should start from the
anchor that already shows most of it. Rules are tried in order, most specific first:
1. named exercises whose silhouette an anchor already shows (compounds before their parts:
   "upright row" before "row", "split squat" before "squat"); a named exercise
   beats a bare position word, so "seated shoulder press" is arms_up, as the seed maps
   shoulder press, while "seated cable row" is seated;
2. body-position words (hanging from, bent over, overhead, seated);
3. camera-angle words (back view, side view, three-quarter, facing the camera);
4. arm-only moves (curls, raises) and "standing", which any standing front view can take.
"""

import re
from dataclasses import dataclass

HANG = "already in the bar-hanging position, so the edit stays small"
BENT = "already bent over, so only the arms change"
HINGE = "a similar hip hinge, so the edit stays small"
SEATED = "already seated, so the edit stays small"
OVERHEAD = "arms already overhead, so the edit stays small"
SIDE = "the side view shows depth and form"
QUARTER = "its dynamic angle shows the stride"
FRONT = "the standing front view, so only the arms change"
REAR = "a direct match for the rear view"
MATCH = "a direct match for that view"

# (phrases separated by "|", pose, why): most specific first, the first rule whose pose the
# character has wins. Each phrase also matches its plural and its hyphen/space/joined forms.
_RULES_SOURCE: list[tuple[str, str, str]] = [
    # 1. Named exercises.
    ("hanging leg raise|hanging knee raise|toes to bar", "hanging", HANG),
    ("pull-up|chin-up|muscle-up|dead hang|bar hang", "hanging", HANG),
    ("lat pulldown|pulldown|cable row|seated row|rowing machine", "seated", SEATED),
    ("upright row", "front", FRONT),
    ("bent-over row|barbell row|dumbbell row|pendlay row|t-bar row|row", "bent", BENT),
    ("romanian deadlift|stiff-leg deadlift|deadlift|rdl|good morning|hip hinge", "bent", HINGE),
    ("reverse fly|reverse flies|rear delt fly|rear delt flies", "bent", BENT),
    ("shoulder press|overhead press|military press|arnold press|push press", "arms_up", OVERHEAD),
    ("snatch|jumping jack", "arms_up", OVERHEAD),
    ("split squat|lunge|lunging|step-up", "quarter", QUARTER),
    ("squat|squatting|push-up|plank", "side", SIDE),
    ("back double biceps|rear double biceps|rear lat spread|back lat spread", "back", REAR),
    ("front double biceps|front lat spread", "front", MATCH),
    # 2. Body position.
    ("hanging from|hanging on|hangs from|hang from", "hanging", HANG),
    ("bent over|bending over|bent forward|bending forward|hinged|hinging", "bent", BENT),
    ("overhead|arms up|hands up|arms above|above the head", "arms_up", OVERHEAD),
    ("seated|sitting|sits|on a bench|on a chair", "seated", SEATED),
    # 3. Camera angle.
    ("back view|rear view|from behind|from the back|back to the camera|facing away", "back", REAR),
    ("rear delt", "back", REAR),
    ("side view|profile|from the side|side-on", "side", MATCH),
    ("three-quarter|3/4|quarter view|quarter turn", "quarter", MATCH),
    (
        "front view|from the front|facing the camera|facing forward|facing the viewer",
        "front",
        MATCH,
    ),
    # 4. Arm-only moves, which any standing front view takes, and plain standing.
    ("bicep curl|biceps curl|hammer curl|curl|front raise|lateral raise", "front", FRONT),
    ("calf raise|standing", "front", "the standing front view, so the edit stays small"),
]


def _pattern(phrases: str) -> re.Pattern[str]:
    # "pull-up", "pull up" and "pullup" are one phrase; longest first so the reason quotes it all.
    words = sorted(phrases.split("|"), key=len, reverse=True)
    alternatives = [re.escape(p).replace(r"\ ", r"[\s-]*").replace(r"\-", r"[\s-]*") for p in words]
    return re.compile(rf"\b(?:{'|'.join(alternatives)})(?:e?s)?\b", re.IGNORECASE)


RULES: list[tuple[re.Pattern[str], str, str]] = [
    (_pattern(phrases), pose, why) for phrases, pose, why in _RULES_SOURCE
]


@dataclass(frozen=True)
class Suggestion:
    pose: str
    reason: str
    matched: str | None


def suggest_anchor(
    prompt: str, pose_keys: list[str], pose_labels: dict[str, str] | None = None
) -> Suggestion:
    """The closest of the character's anchor poses for a variation prompt, and why."""
    if not pose_keys:
        raise ValueError("The character has no poses to suggest an anchor from.")
    labels = pose_labels or {}

    def label(key: str) -> str:
        return labels.get(key) or key.replace("_", " ").capitalize()

    skipped = None
    for pattern, pose, why in RULES:
        if match := pattern.search(prompt):
            words = match.group(0)
            if pose in pose_keys:
                return Suggestion(pose, f"“{words}” → {label(pose)}: {why}.", words)
            skipped = skipped or f"“{words}” points to {label(pose)}, which this character lacks"

    snippet = prompt.strip() if len(prompt.strip()) <= 40 else prompt.strip()[:39] + "…"
    lead = f"{skipped}, and no other rule matched" if skipped else f"No rule matched “{snippet}”"
    if "front" in pose_keys:
        why = "the neutral standing view, the smallest edit for a pose no anchor shows"
        return Suggestion("front", f"{lead}, so {label('front')}: {why}.", None)
    first = pose_keys[0]
    return Suggestion(first, f"{lead}, and with no front pose, {label(first)} comes first.", None)
