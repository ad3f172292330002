"""Deterministic pictures and files for the offline simulator.

A render shows what was asked for: the pose (a mannequin drawn in it), the character's
colours (colour words of the prompt), the first prompt words and the seed, so a person can
tell candidates, variations and references apart without any model.
"""

import io
import json
import random
import re
import struct
import textwrap

from PIL import Image, ImageDraw, ImageFont

COLOURS = {
    "orange": (226, 110, 40),
    "red": (200, 50, 45),
    "blue": (45, 95, 200),
    "green": (60, 150, 75),
    "olive": (110, 120, 50),
    "grey": (130, 130, 135),
    "gray": (130, 130, 135),
    "black": (35, 35, 38),
    "white": (240, 240, 240),
    "yellow": (235, 195, 40),
    "purple": (120, 70, 170),
    "pink": (230, 120, 160),
    "brown": (120, 80, 50),
    "teal": (40, 140, 140),
    "gold": (210, 170, 60),
    "silver": (180, 185, 190),
}
BACKGROUNDS = {"cream": (246, 238, 222), "beige": (238, 226, 204), "white": (250, 250, 250)}

# Joint angles (degrees from straight down) per pose: (left arm, right arm, left leg, right leg).
POSES = {
    "front": (15, -15, 6, -6),
    "back": (15, -15, 6, -6),
    "side": (5, 5, 0, 0),
    "quarter": (25, -10, 10, -4),
    "arms_up": (170, -170, 6, -6),
    "hanging": (175, -175, 3, -3),
    "bent": (80, 70, 10, -10),
    "seated": (30, -30, 80, 80),
}
# Checked in order: the first pattern found in the prompt names the pose drawn.
KEYWORDS = [
    ("hanging", r"hanging from|dead hang|pull-?ups?\b|chin-?ups?\b|\bbar\b"),
    ("seated", r"\bseated\b|\bsitting\b|\bsits\b"),
    ("bent", r"bent (over|forward)|bent-over|deadlift|\brows?\b|hip hinge"),
    ("arms_up", r"overhead|arms (up|raised)|above (the|his|her|its) head|\bpress\b"),
    ("back", r"back to the camera|from behind|rear view|back view"),
    ("quarter", r"quarter|lunge|3/4"),
    ("side", r"\bside (view|profile)\b|\bprofile\b|squat|push-?up|plank"),
]


def pose_of(prompt: str) -> str:
    text = prompt.lower()
    return next((pose for pose, pattern in KEYWORDS if re.search(pattern, text)), "front")


def _colours(prompt: str) -> tuple[tuple, tuple]:
    words = re.findall(r"[a-z]+", prompt.lower())
    figure = next((COLOURS[w] for w in words if w in COLOURS and w not in BACKGROUNDS), None)
    background = next((BACKGROUNDS[w] for w in words if w in BACKGROUNDS), (236, 236, 232))
    return figure or (226, 110, 40), background


def _limb(draw, start, angle, length, width, colour):
    import math

    rad = math.radians(angle)
    end = (start[0] + length * math.sin(rad), start[1] + length * math.cos(rad))
    draw.line([start, end], fill=colour, width=width)
    draw.ellipse(
        [end[0] - width / 2, end[1] - width / 2, end[0] + width / 2, end[1] + width / 2],
        fill=colour,
    )


def render(
    prompt: str,
    *,
    seed: int,
    width: int = 512,
    height: int = 683,
    base: bytes | None = None,
    strength: float | None = None,
    label: str = "",
) -> bytes:
    """A PNG of a mannequin in the prompt's pose and colours, captioned with the prompt and seed."""
    rng = random.Random(seed)
    figure, background = _colours(prompt)
    pose = pose_of(prompt)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    cx, top = width / 2 + rng.uniform(-20, 20), height * 0.16
    unit = height / 10 * rng.uniform(0.95, 1.05)
    left_arm, right_arm, left_leg, right_leg = (a + rng.uniform(-6, 6) for a in POSES[pose])
    thick = int(unit * 0.32)
    shoulder, hip = (cx, top + unit * 1.2), (cx, top + unit * 3.6)
    if pose == "bent":
        shoulder = (cx - unit * 1.6, top + unit * 3.0)
    if pose == "seated":
        hip = (cx, top + unit * 3.6)
        draw.rectangle(
            [cx - unit * 1.4, hip[1] + unit * 0.3, cx + unit * 1.4, hip[1] + unit * 0.6],
            fill=(150, 140, 125),
        )
    if pose == "hanging":
        draw.line(
            [(cx - unit * 2, top - unit * 0.9), (cx + unit * 2, top - unit * 0.9)],
            fill=(90, 90, 95),
            width=int(unit * 0.15),
        )
    draw.line([shoulder, hip], fill=figure, width=int(thick * 1.6))
    head = (shoulder[0] + (-unit * 0.5 if pose == "bent" else 0), shoulder[1] - unit * 0.75)
    r = unit * 0.5
    draw.ellipse([head[0] - r, head[1] - r, head[0] + r, head[1] + r], fill=figure)
    if pose not in ("back", "side"):
        for dx in (-0.18, 0.18):
            draw.ellipse(
                [head[0] + unit * dx - 4, head[1] - 6, head[0] + unit * dx + 4, head[1] + 6],
                fill=(20, 20, 20),
            )
    for angle in (left_arm, right_arm):
        _limb(draw, shoulder, angle, unit * 2.3, thick, figure)
    for angle in (left_leg, right_leg):
        _limb(draw, hip, angle, unit * 3.2, thick, figure)
    image = _framed(image, prompt, head=head, unit=unit)
    if base is not None and strength is not None:
        source = Image.open(io.BytesIO(base)).convert("RGB").resize((width, height))
        image = Image.blend(source, image, max(0.15, min(float(strength), 1.0)))
        draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(12, width // 36))
    draw.rectangle([0, 0, width, width // 14], fill=(29, 31, 35))
    draw.text(
        (10, 6), f"SIMULATOR · {label or pose} · seed {seed}", fill=(255, 255, 255), font=font
    )
    lines = textwrap.wrap(prompt, width=48)[:5]
    y = height - (len(lines) + 1) * (width // 30)
    for line in lines:
        draw.text((12, y), line, fill=(40, 40, 40), font=font)
        y += width // 30
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()


# A close-up shows the head and shoulders, a mid shot down to the waist (in units of the
# figure's size, from the top of the head): the simulator frames what the prompt asks for.
FRAMES = {"close": (2.6, 0.8), "mid": (4.6, 0.9)}


def _framed(image: Image.Image, prompt: str, *, head, unit: float) -> Image.Image:
    from characters.shot_types import from_prompt  # the one reading of framing words

    frame = FRAMES.get(from_prompt(prompt))
    if frame is None:
        return image
    tall, margin = frame
    width, height = image.size
    crop_h = unit * tall
    crop_w = crop_h * width / height
    left = min(max(0.0, head[0] - crop_w / 2), width - crop_w)
    top = max(0.0, head[1] - unit * margin)
    return image.crop((round(left), round(top), round(left + crop_w), round(top + crop_h))).resize(
        (width, height), Image.Resampling.BICUBIC
    )


def lora_safetensors(*, rank: int, trigger_word: str, seed: int = 0) -> bytes:
    """A small but valid .safetensors file shaped like a FLUX LoRA (A/B matrices, float32)."""
    rng = random.Random(seed)
    dim = 64
    tensors = {}
    for block in range(2):
        prefix = f"transformer.single_transformer_blocks.{block}.attn.to_q"
        tensors[f"{prefix}.lora_A.weight"] = (rank, dim)
        tensors[f"{prefix}.lora_B.weight"] = (dim, rank)
    header, data, offset = {}, io.BytesIO(), 0
    for name, shape in tensors.items():
        count = shape[0] * shape[1]
        data.write(struct.pack(f"<{count}f", *(rng.uniform(-0.01, 0.01) for _ in range(count))))
        header[name] = {
            "dtype": "F32",
            "shape": list(shape),
            "data_offsets": [offset, offset + count * 4],
        }
        offset += count * 4
    header["__metadata__"] = {"format": "pt", "trigger_word": trigger_word, "simulated": "true"}
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)
    return struct.pack("<Q", len(header_bytes)) + header_bytes + data.getvalue()


def caption(prompt_hint: str) -> str:
    pose = pose_of(prompt_hint).replace("_", " ")
    figure, _ = _colours(prompt_hint)
    colour = next((n for n, c in COLOURS.items() if c == figure), "orange")
    return f"a {colour} figure, {pose} pose, full body, plain background"
