"""manage.py prepare_dataset: a folder of photos to a frozen training set (seed 002's CLI)."""

import io
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
