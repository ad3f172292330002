"""What ingest keeps of a picture: its pixels, in sRGB, and nothing else; and the uploads that
used to go wrong (a damaged HEIC, an Ultra-HDR phone JPEG, a 16-bit grey PNG)."""

import io
import struct

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageCms, PngImagePlugin
from pillow_heif import register_heif_opener

from tests.datasets.test_ingest import ingest_bytes

register_heif_opener()
pytestmark = pytest.mark.django_db

SECRET = "SECRET-42"
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def swapped_primaries_icc() -> bytes:
    """An RGB profile whose red and blue primaries are exchanged: red pixels in it are blue."""
    icc = bytearray(SRGB_ICC)
    count = struct.unpack(">I", icc[128:132])[0]
    entries = {}
    for n in range(count):
        at = 132 + 12 * n
        entries[bytes(icc[at : at + 4])] = at
    red, blue = entries[b"rXYZ"], entries[b"bXYZ"]
    icc[red + 4 : red + 12], icc[blue + 4 : blue + 12] = (
        icc[blue + 4 : blue + 12],
        icc[red + 4 : red + 12],
    )
    return bytes(icc)


def picture(size=(320, 240), color=(200, 120, 60)) -> PILImage.Image:
    rng = np.random.default_rng(7)
    pixels = np.clip(np.array(color) + rng.integers(-20, 20, (size[1], size[0], 3)), 0, 255)
    return PILImage.fromarray(pixels.astype(np.uint8))


def xmp() -> bytes:
    return (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
        b'02/22-rdf-syntax-ns#"><rdf:Description>' + SECRET.encode() + b"</rdf:Description>"
        b"</rdf:RDF></x:xmpmeta>"
    )


def exif() -> PILImage.Exif:
    data = PILImage.Exif()
    data[0x010F] = SECRET  # camera make
    return data


def png_text() -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET)
    info.add_text("Author", SECRET, zip=True)
    info.add_itxt("XML:com.adobe.xmp", xmp().decode())
    return info


# (format, what it carries, save options)
MATRIX = [
    ("JPEG", "comment", {"comment": SECRET.encode()}),
    ("JPEG", "xmp", {"xmp": xmp()}),
    ("JPEG", "exif", {"exif": exif()}),
    ("JPEG", "icc", {"icc_profile": SRGB_ICC}),
    ("PNG", "text chunks", {"pnginfo": png_text()}),
    ("PNG", "exif", {"exif": exif()}),
    ("PNG", "icc", {"icc_profile": SRGB_ICC}),
    ("WEBP", "xmp", {"xmp": xmp()}),
    ("WEBP", "exif", {"exif": exif()}),
    ("WEBP", "icc", {"icc_profile": SRGB_ICC}),
    ("HEIF", "xmp", {"xmp": xmp()}),
    ("HEIF", "exif", {"exif": exif()}),
    ("HEIF", "icc", {"icc_profile": SRGB_ICC}),
]


@pytest.mark.parametrize(
    ("kind", "carries", "options"), MATRIX, ids=[f"{k}-{c}" for k, c, _ in MATRIX]
)
def test_a_stored_photo_keeps_no_metadata(character, kind, carries, options):
    out = io.BytesIO()
    picture().save(out, kind, **options)
    content = out.getvalue()
    with PILImage.open(io.BytesIO(content)) as sent:  # the upload carries it
        assert "icc_profile" in sent.info if carries == "icc" else SECRET.encode() in content

    result = ingest_bytes(character, content, f"photo.{kind.lower()}")

    assert result.outcome == "accepted", result.reason
    files = [result.image.file, result.image.thumbnail]
    for stored_file in files:
        with stored_file.open("rb") as handle:
            stored = handle.read()
        assert SECRET.encode() not in stored
        assert b"xmpmeta" not in stored and b"acsp" not in stored  # acsp: every ICC profile
        with PILImage.open(io.BytesIO(stored)) as stored_picture:
            stored_picture.load()
            left = set(stored_picture.info) & {"icc_profile", "exif", "xmp", "comment"}
            assert not left, left
            assert not getattr(stored_picture, "text", {})


def test_a_picture_in_another_colour_space_is_converted_to_srgb(character):
    out = io.BytesIO()
    picture(color=(230, 10, 10)).save(out, "PNG", icc_profile=swapped_primaries_icc())
    result = ingest_bytes(character, out.getvalue(), "wide.png")
    with result.image.file.open("rb") as handle, PILImage.open(handle) as stored:
        red, green, blue = np.asarray(stored.convert("RGB")).reshape(-1, 3).mean(axis=0)
    # Its numbers say red, its profile says those numbers mean blue: stored, it is blue.
    assert blue > 150 and red < 80, (red, green, blue)


def test_a_damaged_heic_is_rejected_not_left_queued(character):
    out = io.BytesIO()
    picture().save(out, "HEIF")
    damaged = out.getvalue()[:-20]
    result = ingest_bytes(character, damaged, "IMG_0002.HEIC")
    assert result.outcome == "rejected"
    assert "damaged or cut short" in result.reason
    assert not character.images.exists()


def test_a_damaged_heic_upload_ends_rejected(api, character, eager_tasks):
    out = io.BytesIO()
    picture().save(out, "HEIF")
    handle = io.BytesIO(out.getvalue()[:-20])
    handle.name = "IMG_0003.HEIC"
    response = api.post(f"/api/characters/{character.slug}/images", {"files": [handle]})
    [queued] = response.json()
    final = api.get(f"/api/uploads/{queued['id']}").json()
    assert final["outcome"] == "rejected" and "damaged" in final["reason"]


def test_an_ultra_hdr_phone_jpeg_opened_as_mpo_is_accepted(character):
    main, gain_map = picture(), picture(size=(160, 120), color=(90, 90, 90))
    out = io.BytesIO()
    main.save(out, "MPO", save_all=True, append_images=[gain_map])
    assert PILImage.open(io.BytesIO(out.getvalue())).format == "MPO"

    result = ingest_bytes(character, out.getvalue(), "PXL_0001.jpg")

    assert result.outcome == "accepted", result.reason
    with result.image.file.open("rb") as handle, PILImage.open(handle) as stored:
        assert stored.format == "JPEG" and stored.size == (320, 240)
        assert getattr(stored, "n_frames", 1) == 1


def test_a_16_bit_grey_png_is_stored_as_its_grey_not_white(character):
    rng = np.random.default_rng(3)
    grey = (0x8000 + rng.integers(-0x1800, 0x1800, (240, 320))).astype(np.uint16)
    out = io.BytesIO()
    PILImage.fromarray(grey).save(out, "PNG")
    assert PILImage.open(io.BytesIO(out.getvalue())).mode == "I;16"

    result = ingest_bytes(character, out.getvalue(), "scan.png")

    assert result.outcome == "accepted", result.reason
    with result.image.file.open("rb") as handle, PILImage.open(handle) as stored:
        mean = np.asarray(stored.convert("L")).mean()
    assert 110 < mean < 146, mean  # 0x8000 of 0xFFFF is 128 of 255
