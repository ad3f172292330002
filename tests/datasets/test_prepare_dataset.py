"""manage.py prepare_dataset: a folder of photos to a frozen training set (seed 002's CLI)."""

import io
import os
import threading
import zipfile

import pytest
from django.core.management import CommandError, call_command

from datasets.models import Dataset, DatasetExport
from tests.datasets.test_ingest import photo_bytes

pytestmark = pytest.mark.usefixtures("eager_tasks")


def test_a_folder_of_photos_becomes_a_captioned_exported_dataset(character, tmp_path):
    for n in range(3):
        (tmp_path / f"photo-{n}.jpg").write_bytes(photo_bytes(seed=n + 1))
    (tmp_path / "photo-0.txt").write_text("standing by the sea, windy")
    (tmp_path / "broken.jpg").write_bytes(b"not a picture" * 20)
    out = io.StringIO()

    with pytest.raises(CommandError, match="--accept-warnings exports anyway"):
        call_command("prepare_dataset", str(tmp_path), character=character.slug, stdout=out)
    Dataset.objects.all().delete()
    call_command(
        "prepare_dataset", str(tmp_path), character=character.slug, stdout=out, accept_warnings=True
    )

    text = out.getvalue()
    assert "3 accepted, 0 duplicate, 1 rejected" in text
    assert "rejected  broken.jpg: This file is not a picture" in text
    dataset = Dataset.objects.get()
    assert dataset.items.count() == 3
    export = DatasetExport.objects.get()
    assert export.status == "ready" and export.image_count == 3
    with export.archive.open("rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    captions = [archive.read(n).decode() for n in archive.namelist() if n.endswith(".txt")]
    assert any("standing by the sea, windy" in c for c in captions)
    assert all(c.count(character.trigger_word) == 1 for c in captions)


def test_a_folder_without_a_single_good_photo_is_refused(character, tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(CommandError, match="No photo was accepted"):
        call_command(
            "prepare_dataset", str(tmp_path), character=character.slug, stdout=io.StringIO()
        )
    assert not Dataset.objects.exists()


def test_a_caption_link_leaving_the_folder_is_not_read(character, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    secret = tmp_path / "secret.env"
    secret.write_text("SECRET_KEY=hunter2")
    (folder / "photo-0.jpg").write_bytes(photo_bytes(seed=1))
    (folder / "photo-0.txt").symlink_to(secret)
    (folder / "photo-1.jpg").symlink_to(tmp_path / "elsewhere.jpg")
    (tmp_path / "elsewhere.jpg").write_bytes(photo_bytes(seed=2))
    (folder / "photo-2.jpg").write_bytes(photo_bytes(seed=3))
    (folder / "inside.txt").write_text("sitting on a bench")
    (folder / "photo-2.txt").symlink_to(folder / "inside.txt")  # a link inside is fine
    out = io.StringIO()

    # photo-0's caption is refused, so it has none: a warning the export is made past.
    call_command(
        "prepare_dataset",
        str(folder),
        character=character.slug,
        captions="files",
        stdout=out,
        accept_warnings=True,
    )

    text = out.getvalue()
    assert "photo-0.txt not read: it is a link that leads outside the folder" in text
    assert "rejected  photo-1.jpg: Not read: it is a link that leads outside the folder" in text
    dataset = Dataset.objects.get()
    assert dataset.items.count() == 2
    assert not dataset.items.filter(caption__contains="hunter2").exists()
    assert dataset.items.filter(caption="sitting on a bench").exists()
    export = DatasetExport.objects.get()
    with export.archive.open("rb") as handle:
        assert b"hunter2" not in handle.read()


def test_a_fifo_beside_a_photo_is_refused_without_waiting_on_it(character, tmp_path):
    (tmp_path / "photo-0.jpg").write_bytes(photo_bytes(seed=1))
    fifo = tmp_path / "photo-0.txt"
    os.mkfifo(fifo)
    os.mkfifo(tmp_path / "photo-1.jpg")
    stop = threading.Event()

    def feed_a_blocked_reader():
        # Only a reader that opened the FIFO (and waits on it) would ever get this.
        if not stop.wait(20):
            fd = os.open(fifo, os.O_RDWR)
            os.write(fd, b"SECRET from a pipe")
            os.close(fd)

    feeder = threading.Thread(target=feed_a_blocked_reader, daemon=True)
    feeder.start()
    out = io.StringIO()
    try:
        call_command(
            "prepare_dataset",
            str(tmp_path),
            character=character.slug,
            captions="files",
            no_export=True,
            stdout=out,
        )
    finally:
        stop.set()
    text = out.getvalue()
    assert "photo-0.txt not read: it is not a regular file" in text
    assert "rejected  photo-1.jpg: Not read: it is not a regular file" in text
    assert not Dataset.objects.get().items.filter(caption__contains="SECRET").exists()


def test_control_characters_leave_captions(character, tmp_path):
    (tmp_path / "photo-0.jpg").write_bytes(photo_bytes(seed=1))
    (tmp_path / "photo-0.txt").write_bytes(
        "smiling\x1b[31m red\x00 \u202eshirt\r\n\tby a window\x07".encode()
    )
    call_command(
        "prepare_dataset",
        str(tmp_path),
        character=character.slug,
        captions="files",
        no_export=True,
        stdout=io.StringIO(),
    )
    caption = Dataset.objects.get().items.get().caption
    assert caption == "smiling [31m red shirt by a window"
