"""Zip archives built by a worker (dataset exports, pin character packs): written one entry at
a time into a temporary file on disk, never whole in memory, then streamed into storage (local
or S3). Each entry's sha256 and size are kept for the archive's manifest; the whole file's
sha256 is what a downloader checks.

    stored, manifest = archives.build(name, write=lambda zip: ..., when=created_at)
    # write() calls zip.add(name, data) and zip.add_file(name, storage_name), and returns
    # what it wants back (its manifest); zip.files lists what went in, with sha256 and size.
"""

import hashlib
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.files import File
from django.core.files.storage import default_storage

BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Stored:
    """An archive saved in storage."""

    name: str  # its storage name
    size: int
    sha256: str


class ZipWriter:
    """A zip being written: every entry dated `when` (so the same content makes the same
    archive) and remembered in `files` as {name, sha256, size}."""

    def __init__(self, zip_file: zipfile.ZipFile, *, when: datetime):
        self.zip = zip_file
        self.when = when.astimezone(UTC).timetuple()[:6]
        self.files: list[dict] = []

    def _info(self, name: str, compress: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.when)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16  # a plain readable file once unzipped
        return info

    def add(self, name: str, data: bytes, *, compress: bool = True) -> str:
        """Add `data` as `name`; returns its sha256."""
        digest = hashlib.sha256(data).hexdigest()
        self.zip.writestr(self._info(name, compress), data)
        self.files.append({"name": name, "sha256": digest, "size": len(data)})
        return digest

    def add_file(self, name: str, storage_name: str, *, compress: bool = True) -> str:
        """Add a file from storage as `name`, streamed a block at a time; returns its sha256."""
        digest, size = hashlib.sha256(), 0
        with (
            default_storage.open(storage_name, "rb") as source,
            self.zip.open(self._info(name, compress), "w") as target,
        ):
            for block in iter(lambda: source.read(BLOCK), b""):
                digest.update(block)
                size += len(block)
                target.write(block)
        self.files.append({"name": name, "sha256": digest.hexdigest(), "size": size})
        return digest.hexdigest()


def build[T](name: str, *, write: Callable[[ZipWriter], T], when: datetime) -> tuple[Stored, T]:
    """Write a zip with `write` into a temporary file, then save it to storage as `name`
    (storage may pick another name when that one is taken). Returns where it went and what
    `write` returned."""
    with tempfile.TemporaryFile(suffix=".zip") as handle:
        with zipfile.ZipFile(handle, "w") as zip_file:
            result = write(ZipWriter(zip_file, when=when))
        size = handle.tell()
        handle.seek(0)
        digest = hashlib.sha256()
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
        handle.seek(0)
        stored = default_storage.save(name, File(handle, name=name))
    return Stored(name=stored, size=size, sha256=digest.hexdigest()), result
