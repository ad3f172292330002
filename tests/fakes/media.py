"""Small, real, deterministic result files for the provider fakes: pictures and LoRA weights.

Pictures are a grid of flat colour blocks chosen by the seed, so two seeds give pictures a
perceptual hash tells apart; they compress to a few kilobytes even at full size.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct

from PIL import Image

GRID = 4


def _palette(seed: int) -> list[tuple[int, int, int]]:
    digest = b""
    counter = 0
    while len(digest) < GRID * GRID * 3:
        digest += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return [tuple(digest[i : i + 3]) for i in range(0, GRID * GRID * 3, 3)]


def fake_image(width: int, height: int, *, seed: int, fmt: str = "png") -> bytes:
    """A `width` x `height` PNG or JPEG whose block pattern depends only on `seed`."""
    picture = Image.new("RGB", (width, height))
    colours = _palette(seed)
    for row in range(GRID):
        for col in range(GRID):
            box = (
                col * width // GRID,
                row * height // GRID,
                (col + 1) * width // GRID,
                (row + 1) * height // GRID,
            )
            picture.paste(colours[row * GRID + col], box)
    out = io.BytesIO()
    if fmt.lower() in ("jpeg", "jpg"):
        picture.save(out, "JPEG", quality=80)
    else:
        picture.save(out, "PNG", compress_level=1)
    return out.getvalue()


def fake_safetensors(*, seed: int, rank: int = 4, trigger_word: str | None = None) -> bytes:
    """A valid .safetensors file: 8-byte little-endian header size, JSON header, F32 data."""
    tensors = {
        "transformer.single_transformer_blocks.0.proj_out.lora_A.weight": (rank, 8),
        "transformer.single_transformer_blocks.0.proj_out.lora_B.weight": (8, rank),
    }
    header: dict = {"__metadata__": {"format": "pt", "fake_seed": str(seed)}}
    if trigger_word:
        header["__metadata__"]["trigger_word"] = trigger_word
    data = b""
    for name, shape in tensors.items():
        count = shape[0] * shape[1]
        values = [((seed + i) % 97) / 97.0 for i in range(count)]
        chunk = struct.pack(f"<{count}f", *values)
        header[name] = {
            "dtype": "F32",
            "shape": list(shape),
            "data_offsets": [len(data), len(data) + len(chunk)],
        }
        data += chunk
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header to 8 bytes
    return struct.pack("<Q", len(encoded)) + encoded + data


def read_safetensors_header(blob: bytes) -> dict:
    """The JSON header of a .safetensors file (for tests that check what they stored)."""
    (size,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + size])
