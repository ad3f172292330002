from django.core.management.base import BaseCommand

from characters.presets import load_presets


class Command(BaseCommand):
    help = "Load (or update) the character presets shipped in characters/presets/*.json."

    def handle(self, *args, **options):
        for preset in load_presets():
            self.stdout.write(
                f"{preset.key}: {preset.poses.count()} poses, "
                f"{preset.variations.count()} variations"
            )
