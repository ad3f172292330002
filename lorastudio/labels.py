"""The one way our own names (slugs, choice values) are written for people.

Stored values stay as they are (`three_quarter`, `close`, `candidate`); every page shows
them through `label` (the `|label` template filter), never raw.
"""

WORDS = {
    # shot types (characters.ShotType) and the reference set's shots (generation.runs)
    "close": "close-up",
    "mid": "mid shot",
    "far": "far shot",
    "unknown": "unknown",
    "frontal": "frontal",
    "three_quarter": "three-quarter",
    "close_up": "close-up",
    "full_body": "full body",
    # where a dataset image came from (datasets.balance)
    "anchor": "anchors",
    "candidate": "anchor candidates",
    "variation": "variations",
    "upload": "uploads",
    "reference": "reference images",
    "none": "no pose",
    # providers (generation.Provider)
    "local": "the local simulator",
    "fal": "fal.ai",
    "replicate": "Replicate",
    # run kinds and modes
    "anchors": "anchor candidates",
    "variations": "variations",
    "reference_set": "reference set",
    "captions": "captions",
    "image_to_image": "image to image",
    "multi_reference": "multi-reference",
}


def warning_word(note: str) -> str:
    """The short word for one of ingest's notes on a photo, for a badge: “small”, “blurry”,
    “like #12”; the note itself is the badge's title."""
    text = (note or "").strip()
    lowered = text.lower()
    if lowered.startswith("looks like image #"):
        return "like #" + text[len("looks like image #") :].split()[0].rstrip(".,)")
    if lowered.startswith("looks "):
        lowered = lowered[len("looks ") :]
    return lowered.split(":")[0].split(";")[0].split(".")[0][:24]


def label(value) -> str:
    """A stored name as words: a known one from WORDS, any other with spaces for
    underscores (`arms_up` → “arms up”)."""
    text = "" if value is None else str(value)
    return WORDS.get(text, text.replace("_", " "))
