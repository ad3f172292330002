"""Seed 002's command line, inside the studio: a folder of photos to a frozen training set.

    manage.py prepare_dataset FOLDER --character SLUG [--name NAME] [--captions auto]
        [--provider local] [--yes] [--resolution 1024] [--template "{trigger}, {caption}"]

Every photo is ingested like an upload (accepted, duplicate or rejected, with the reason);
the accepted ones and the duplicates (their existing images) make a new dataset; captions
come from `photo.txt` files beside the photos and, for the rest, from one captioning run
through the provider machinery (its price is printed first; a paid provider needs --yes);
then the dataset is exported. The run is driven from this process, so no worker is needed.

Only regular files inside the folder are read: a link that leads outside it (`photo.txt` →
a secret file), a FIFO or a device is refused by name, and captions lose control characters.
"""

import contextlib
import os
import stat
import time
from pathlib import Path

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from characters.models import CAPTION_MAX_LENGTH, Character
from datasets import captioning, captions, exports, ingest, services
from datasets.balance import balance_report
from datasets.models import DEFAULT_RESOLUTION
from datasets.selectors import caption_warnings
from generation import calls
from generation.models import GenerationRun, Provider
from lorastudio.errors import Refusal

SKIPPED_SUFFIXES = {".txt", ".json", ".md", ".yaml", ".toml"}


class Unreadable(Exception):
    """A folder entry that is not a regular file inside the folder; the message says why."""


def open_inside(path: Path, folder: Path):
    """Open `path` for reading if it is a regular file inside `folder` (links included, as
    long as they stay inside). The check is made on the open file, so nothing swapped in
    between is read, and a FIFO never blocks."""
    real = path.resolve()
    if not real.is_relative_to(folder.resolve()):
        raise Unreadable("it is a link that leads outside the folder")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise Unreadable(f"it cannot be opened ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Unreadable("it is not a regular file")
    return os.fdopen(fd, "rb")


def photos_in(folder: Path) -> list[Path]:
    """The folder's entries that may be photos (by name); each is opened with open_inside."""
    return sorted(
        p
        for p in folder.iterdir()
        if not p.name.startswith(".")
        and p.suffix.lower() not in SKIPPED_SUFFIXES
        and (p.is_symlink() or p.is_file() or not p.is_dir())
    )


def read_caption(path: Path, folder: Path) -> str:
    """A `photo.txt` beside a photo, as one line of plain text (no control characters)."""
    with open_inside(path, folder) as handle:
        raw = handle.read(CAPTION_MAX_LENGTH * 4)
    return captions.plain_text(raw.decode("utf-8", errors="replace"))


def ingest_photo(character: Character, path: Path, folder: Path):
    """One photo through the upload ingest service: (outcome, image or None, reason)."""
    try:
        handle = open_inside(path, folder)
    except Unreadable as exc:
        return "rejected", None, f"Not read: {exc}."
    with handle:
        return ingest.ingest_path(character=character, path=path, handle=handle)


class Command(BaseCommand):
    help = "Ingest a folder of photos, build a dataset, caption it and export it (seed 002)."

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)
        parser.add_argument("--character", required=True, help="The character's slug.")
        parser.add_argument("--name", help="Dataset name (default: the folder's name and date).")
        parser.add_argument(
            "--captions",
            choices=["auto", "files", "provider", "none"],
            default="auto",
            help="files: photo.txt beside each photo; provider: a captioning run; auto: the "
            "files where present, the provider for the rest.",
        )
        parser.add_argument("--provider", choices=Provider.values, default=None)
        parser.add_argument("--yes", action="store_true", help="Accept the captioning price.")
        parser.add_argument("--resolution", type=int, default=DEFAULT_RESOLUTION)
        parser.add_argument("--template", default=None, help="Caption template.")
        parser.add_argument("--no-export", action="store_true")
        parser.add_argument(
            "--accept-warnings",
            action="store_true",
            help="Export even with empty captions, a missing trigger word or unknown shot types.",
        )
        parser.add_argument("--wait", type=float, default=900, help="Seconds to wait for captions.")

    def handle(self, *args, folder: Path, **options):
        character = Character.objects.filter(slug=options["character"]).first()
        if character is None:
            raise CommandError(f"There is no character “{options['character']}”.")
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder.")
        photos = photos_in(folder)
        if not photos:
            raise CommandError(f"{folder} holds no photos.")

        image_ids, captions_from_files = self._ingest(character, photos, folder)
        if not image_ids:
            raise CommandError("No photo was accepted: nothing to build a dataset from.")
        name = options["name"] or f"{folder.name} {timezone.localdate():%Y-%m-%d}"
        try:
            dataset = services.create_dataset(
                character=character,
                name=name,
                caption_template=options["template"],
                image_ids=image_ids,
                notes=f"Prepared from {folder} with manage.py prepare_dataset.",
            )
        except Refusal as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Dataset #{dataset.id} “{dataset.name}”: {len(image_ids)} images.")

        mode = options["captions"]
        if mode in ("auto", "files"):
            written = 0
            for item in dataset.items.all():
                text = captions_from_files.get(item.image_id)
                if text:
                    services.update_item(item=item, caption=text)
                    written += 1
            self.stdout.write(f"Captions from .txt files: {written}.")
        if mode in ("auto", "provider"):
            self._caption_run(dataset, options)

        self._report(dataset)
        if options["no_export"]:
            return
        try:
            export = exports.start_export(
                dataset=dataset,
                resolution=options["resolution"],
                enqueue=False,
                accept_warnings=options["accept_warnings"],
            )
        except Refusal as exc:
            hint = " (--accept-warnings exports anyway)" if exc.extra.get("warnings") else ""
            raise CommandError(f"Not exported: {exc.message}{hint}") from exc
        export = exports.build_export(export.id)
        if export.status != "ready":
            raise CommandError(f"The export failed: {export.error}")
        where = export.archive.name
        with contextlib.suppress(NotImplementedError):  # on S3, the key is named instead
            where = default_storage.path(where)
        self.stdout.write(
            self.style.SUCCESS(
                f"Export {export.id}: {export.image_count} images, "
                f"{export.size_bytes / 1e6:.1f} MB, sha256 {export.sha256}\n  {where}"
            )
        )

    def _ingest(self, character, photos, folder):
        image_ids, texts = [], {}
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for path in photos:
            outcome, image, reason = ingest_photo(character, path, folder)
            counts[outcome] += 1
            if outcome == "rejected":
                self.stdout.write(f"  rejected  {path.name}: {reason}")
                continue
            if outcome == "duplicate":
                self.stdout.write(f"  duplicate {path.name}: of image #{image.id}")
            if image.id not in image_ids:
                image_ids.append(image.id)
            text_file = path.with_suffix(".txt")
            if text_file.exists() or text_file.is_symlink():
                try:
                    text = read_caption(text_file, folder)
                except Unreadable as exc:
                    self.stdout.write(f"  caption   {text_file.name} not read: {exc}")
                    continue
                if len(text) > CAPTION_MAX_LENGTH:
                    self.stdout.write(
                        f"  caption   {text_file.name} cut to {CAPTION_MAX_LENGTH} characters"
                    )
                    text = text[:CAPTION_MAX_LENGTH].strip()
                texts[image.id] = text
        self.stdout.write(
            f"Ingested {len(photos)} files: {counts['accepted']} accepted, "
            f"{counts['duplicate']} duplicate, {counts['rejected']} rejected."
        )
        return image_ids, texts

    def _caption_run(self, dataset, options):
        try:
            plan = captioning.plan_captions(dataset=dataset, provider=options["provider"])
        except Refusal:
            self.stdout.write("Every photo has a caption: no captioning run needed.")
            return
        self.stdout.write(
            f"Captioning: {len(plan.calls)} calls to {plan.provider}, "
            f"about ${plan.estimated_cost:.3f}."
        )
        if plan.estimated_cost > 0 and not options["yes"]:
            raise CommandError("Not captioned: run again with --yes to accept the price.")
        from lorastudio.celery import app

        eager = app.conf.task_always_eager
        app.conf.task_always_eager = True  # submit, poll and download in this process
        try:
            run = captioning.launch_captions(
                dataset=dataset, plan=plan, created_by=None, overwrite=False
            )
            deadline = time.monotonic() + options["wait"]
            while True:
                calls.sweep()
                run.refresh_from_db()
                if run.finished_at or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        finally:
            app.conf.task_always_eager = eager
        if run.status != GenerationRun.Status.SUCCEEDED:
            self.stdout.write(
                self.style.WARNING(f"Captioning run #{run.id} ended {run.status}: {run.error}")
            )
        else:
            self.stdout.write(f"Captioning run #{run.id}: done, ${run.actual_cost:.3f}.")

    def _report(self, dataset):
        report = balance_report(dataset)
        shots = ", ".join(f"{k} {v}" for k, v in report.by_shot.items())
        self.stdout.write(f"Balance: {report.total} images ({shots}).")
        for warning in report.warnings:
            self.stdout.write(f"  - {warning.message} {warning.action}")
        for warning in caption_warnings(dataset):
            self.stdout.write(f"  - {warning.message}")
