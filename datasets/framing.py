"""Reframing for “fill the gap”: prompts without framing words, and crops of an anchor.

An image-to-image edit keeps its source's layout (at 0.5–0.7 the noise leaves the large
shapes in place), so asking a full-body anchor for a “close-up” gives another full-body
picture. A crop of the anchor around the face (or the head and shoulders) already has the
framing the gap needs and keeps the character's look; the edit then redraws its detail.
"""

import io
import re

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

from characters import faces

# Words that set the framing: a base prompt's “full body… head to toe” fights a close-up.
_FRAMING = re.compile(
    r"\b(?:"
    r"full[- ]?body(?: shot| photo| view)?|full[- ]length|head[- ]to[- ]toe(?: visible)?|"
    r"(?:the )?whole (?:figure|body)(?: visible)?|wide shot|far shot|from a distance|"
    r"close[- ]?up(?: portrait)?|headshot|head and shoulders|waist[- ]up(?: shot)?|"
    r"half[- ]body|upper body|medium shot|mid[- ]shot|cropped (?:body|feet|head)"
    r")\b",
    re.IGNORECASE,
)
# A close or mid shot cannot show the feet: parts of the prompt about them pull the camera back.
_BELOW_FRAME = re.compile(r"\b(?:feet|foot|shoes?|sneakers?|boots?|soles?|toes?)\b", re.I)
_LEFTOVER = {"", "visible", "shot", "photo", "view", "of", "a", "the"}

SHOT_PHRASES = {
    "close": "close-up portrait, head and shoulders filling the frame, face clearly visible",
    "mid": "medium shot from the waist up, upper body filling the frame",
    "far": "full body shot from a distance, the whole figure visible head to toe with space "
    "around it",
}

# Crops as multiples of the face's height: the head and shoulders, or down to the waist.
# Checked against the shot type thresholds (characters.shot_types): a square face box of
# height h in a 3:4 crop 3 h tall covers 15 % of it (close > 10 %), 6.5 h tall 3 % (mid).
_FACE_CROPS = {"close": (3.0, 0.6), "mid": (6.5, 0.8)}  # (crop height, margin above the face)
# Without a face (a mannequin, a drawn character): heads from the top of the figure, whose
# height is about 7.5 heads.
_HEAD_CROPS = {"close": (3.0, 0.4), "mid": (4.8, 0.5)}
HEADS_PER_FIGURE = 7.5


def without_framing(text: str, *, shot: str = "") -> str:
    """`text` (comma-separated prompt parts) without its framing phrases; for a close or mid
    shot, without the parts about feet and shoes too. Parts left empty are dropped."""
    parts = []
    for part in text.split(","):
        if shot in ("close", "mid") and _BELOW_FRAME.search(part):
            continue
        cleaned = " ".join(_FRAMING.sub(" ", part).split())
        if cleaned.lower() in _LEFTOVER:
            continue
        parts.append(cleaned)
    return ", ".join(parts)


def gap_prompt(*, shot: str, base_prompt: str, pose_prompt: str) -> str:
    """The prompt of a shot-type gap: the framing first, then the character and the pose
    without their own framing words."""
    return ", ".join(
        p
        for p in (
            SHOT_PHRASES[shot],
            without_framing(base_prompt, shot=shot),
            without_framing(pose_prompt, shot=shot),
        )
        if p
    )


def _figure_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """The figure's bounding box in pixels: what differs from the colour of the side edges.

    Rows that differ across nearly the whole width (a banner, a floor) are not the figure."""
    height, width = rgb.shape[:2]
    edges = np.concatenate([rgb[:, :3].reshape(-1, 3), rgb[:, -3:].reshape(-1, 3)])
    background = np.median(edges, axis=0)
    mask = np.abs(rgb.astype(np.int16) - background).sum(axis=2) > 60
    rows = mask.mean(axis=1)
    rows_in = np.flatnonzero((rows > 0.01) & (rows < 0.85))
    if rows_in.size < height * 0.1:
        return None
    top, bottom = int(rows_in[0]), int(rows_in[-1])
    head_band = mask[top : top + max(1, (bottom - top) // 8)]
    cols = np.flatnonzero(head_band.any(axis=0))
    if cols.size == 0:
        return None
    return int(cols[0]), top, int(cols[-1]), bottom


def crop_box(
    size: tuple[int, int], shot: str, *, face=None, figure=None
) -> tuple[int, int, int, int] | None:
    """The (left, top, right, bottom) crop of a picture of `size` that frames `shot`, from
    the largest face (fractions) or else the figure's box (pixels); None when neither is
    known. The crop keeps the picture's aspect ratio and stays inside it."""
    width, height = size
    if face is not None:
        left, top, right, bottom = face
        unit = (bottom - top) * height
        centre_x = (left + right) / 2 * width
        face_top = top * height
        tall, margin = _FACE_CROPS[shot]
    elif figure is not None:
        left, face_top, right, bottom = figure
        unit = (bottom - face_top) / HEADS_PER_FIGURE
        centre_x = (left + right) / 2
        tall, margin = _HEAD_CROPS[shot]
    else:
        return None
    crop_h = min(height, max(16.0, unit * tall))
    crop_w = min(width, crop_h * width / height)
    crop_h = crop_w * height / width
    x0 = min(max(0.0, centre_x - crop_w / 2), width - crop_w)
    y0 = min(max(0.0, face_top - unit * margin), height - crop_h)
    return round(x0), round(y0), round(x0 + crop_w), round(y0 + crop_h)


def reframed(content: bytes, shot: str) -> tuple[bytes, str]:
    """The source picture for a `shot` gap edited from this anchor, and how it was made.

    Close and mid: a crop around the face (or the figure's head), enlarged to the anchor's
    size. Far: the anchor as it is (anchors are full-body figures)."""
    with PILImage.open(io.BytesIO(content)) as opened:
        picture = ImageOps.exif_transpose(opened).convert("RGB")
    if shot == "far":
        return _png(picture), "the whole picture"
    small = picture.copy()
    small.thumbnail((768, 768))
    rgb = np.asarray(small)
    face = faces.largest_face_box(rgb)
    figure = None
    if face is None:
        found = _figure_box(rgb)
        if found is not None:
            ratio = picture.width / small.width
            figure = tuple(round(v * ratio) for v in found)
    box = crop_box(picture.size, shot, face=face, figure=figure)
    if box is None:
        return _png(picture), "the whole picture (no face or figure found to crop to)"
    where = (
        "(around its face)" if face is not None else "(from the top of the figure: no face found)"
    )
    crop = picture.crop(box).resize(picture.size, PILImage.Resampling.LANCZOS)
    what = "head-and-shoulders" if shot == "close" else "waist-up"
    return _png(crop), f"a {what} crop {where}"


def _png(picture: PILImage.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()
