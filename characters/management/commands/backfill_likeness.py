"""Measure the likeness of every image made before likeness existed, with progress."""

from django.core.management.base import BaseCommand

from characters.likeness import sweep


class Command(BaseCommand):
    help = "Read likeness vectors of images that have none, then score their characters."

    def handle(self, *args, **options):
        def progress(done: int, total: int) -> None:
            if done == total or done % 10 == 0:
                self.stdout.write(f"{done}/{total} images measured ({100 * done // total} %)")

        total = sweep.backfill(progress=progress)
        self.stdout.write(self.style.SUCCESS(f"Done: {total} images measured."))
